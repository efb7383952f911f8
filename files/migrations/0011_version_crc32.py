"""Each version's CRC-32 of its plaintext, so that ZIP archives stop recomputing it
(issue #18, docs/sharing-archives.md).

Existing versions keep ``NULL``: the first archive that streams one computes the CRC
while it sends the entry and records it (a lazy backfill, no bulk decryption here).
"""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("files", "0010_version_thumbnail")]

    operations = [
        migrations.AddField(
            model_name="fileversion",
            name="plaintext_crc32",
            field=models.PositiveBigIntegerField(blank=True, editable=False, null=True),
        ),
    ]
