"""A retention anchor carries the purge's signed statement (audit/checkpoints.py).

Anchors written before it have none and are no longer trusted by the verifier: the
product's retention floor (a year, audit/0012) means no deployment has purged yet.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("audit", "0013_renamed_index")]

    operations = [
        migrations.AddField(
            model_name="retentionanchor",
            name="purge_statement",
            field=models.TextField(default="", db_default=""),
        ),
    ]
