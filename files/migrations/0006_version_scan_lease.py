"""A scan's claim becomes a lease renewed while the scan progresses (issue #13)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("files", "0005_version_held_by_transfers")]

    operations = [
        migrations.AddField(
            model_name="fileversion",
            name="scan_lease_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
