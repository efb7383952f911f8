"""Uploads seal segments in the final blob format at PATCH time (files/tus.py).

Uploads in progress under the previous layout (per-PATCH chunk objects under an upload
key) cannot continue in the new one: they are expired, so clients get 410 and start
again, and the hourly beat deletes their rows and chunk objects.
"""

import uuid

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps
from django.utils import timezone


def expire_uploads_in_progress(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    UploadSession = apps.get_model("files", "UploadSession")
    UploadSession.objects.filter(completed_at__isnull=True).update(expires_at=timezone.now())


class Migration(migrations.Migration):
    dependencies = [
        ("files", "0002_upload_session"),
    ]

    operations = [
        migrations.RenameField(model_name="uploadsession", old_name="chunks", new_name="parts"),
        migrations.AddField(
            model_name="uploadsession",
            name="new_version_id",
            field=models.UUIDField(default=uuid.uuid4, editable=False),
        ),
        migrations.AddField(
            model_name="uploadsession",
            name="blob_key",
            field=models.CharField(default="", max_length=200),
        ),
        migrations.AddField(
            model_name="uploadsession",
            name="segment_size",
            field=models.PositiveIntegerField(default=1048576),
        ),
        migrations.AddField(
            model_name="uploadsession",
            name="blob_header",
            field=models.BinaryField(default=b"", editable=False),
        ),
        migrations.AddField(
            model_name="uploadsession",
            name="generation",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="uploadsession",
            name="segments_sealed",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="uploadsession",
            name="carry",
            field=models.BinaryField(default=b"", editable=False),
        ),
        migrations.RunPython(expire_uploads_in_progress, migrations.RunPython.noop),
    ]
