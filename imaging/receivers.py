"""Index DICOM content once a version becomes readable (docs/imaging.md).

files does not know imaging exists (imaging imports files, never the reverse): the
moment a version becomes readable is a save of its ``scan_status`` (the scan verdict,
``files.services.finalize``; a manual verdict) or the creation of an already-readable
version (a copy or restore of a clean one). The task is enqueued after the commit, so
it never reads a verdict that rolls back, and carries the version's id only.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from files.models import FileVersion, ScanStatus

READABLE = (ScanStatus.AVAILABLE, ScanStatus.NOT_SCANNED)


def worth_indexing(version: FileVersion) -> bool:
    """Cheap filter before a task: what libmagic calls DICOM or ZIP, or a name that says
    so (CD files are often called ``IM000001`` without extension: libmagic sees them)."""
    content_type = (version.content_type or "").split(";", 1)[0].strip().lower()
    if content_type in {"application/dicom", "application/zip", "application/x-zip-compressed"}:
        return True
    name = version.file.name.lower() if version.file_id else ""
    return name.endswith((".dcm", ".dicom", ".zip")) or name == "dicomdir"


@receiver(post_save, sender=FileVersion, dispatch_uid="imaging_version_readable")
def version_readable_index(
    sender: type[FileVersion],
    instance: FileVersion,
    created: bool,
    update_fields: frozenset[str] | None,
    **kwargs: Any,
) -> None:
    if instance.scan_status not in READABLE or instance.shredded_at is not None:
        return
    if not created and (update_fields is None or "scan_status" not in update_fields):
        return
    if not worth_indexing(instance):
        return
    from imaging import tasks

    version_id = str(instance.pk)
    # robust: a broker outage must not fail the verdict; `index_dicom` catches up.
    transaction.on_commit(lambda: tasks.version_index.delay(version_id), robust=True)
