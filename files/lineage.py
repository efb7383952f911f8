"""Lineage: what every access event says about the content it served (docs/storage.md).

ARCHITECTURE invariant 8: an access event names the *original* file, its version and
its path at the time, whatever the way in (page, API, version, share, link, transfer,
ZIP). A transfer references the original's version itself (no copy); a copy or a
restored version shares its source's blob and records ``source_version``, so the event
also names where the content came from (``original``), as long as that still exists.
A version *derived* from another (a de-identified DICOM copy: new plaintext, scanned
afresh) records ``derived_from``; its events name that version as ``derived_from``.

The details are computed when the event is written, so the path is the one at the
time of the access (a file moved later keeps its old path in old events).
"""

from __future__ import annotations

from typing import Any

from django.db import connection

from files.models import File, FileVersion, Folder

# A copy of a copy of...: the chain is followed this far back (a loop is impossible,
# versions are immutable, but a bound keeps one event's cost bounded).
LINEAGE_MAX_DEPTH = 8


def file_path(file: File) -> str:
    """``/Folder/Sub/name`` from the top of the file's space, in one query."""
    table = connection.ops.quote_name(Folder._meta.db_table)
    sql = (
        "WITH RECURSIVE chain(id, parent_id, name, depth) AS ("  # noqa: S608  (model table)
        f" SELECT id, parent_id, name, 0 FROM {table} WHERE id = %s"
        f" UNION ALL SELECT f.id, f.parent_id, f.name, c.depth + 1 FROM {table} f"
        " JOIN chain c ON f.id = c.parent_id"
        ") SELECT name FROM chain ORDER BY depth DESC"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [file.folder_id])
        names = [str(row[0]) for row in cursor.fetchall() if row[0]]
    return "/" + "/".join([*names, file.name])


def _version_facts(version: FileVersion, file: File) -> dict[str, Any]:
    return {
        "file": file.pk,
        "name": file.name,
        "path": file_path(file),
        "space": file.space_id,
        "version": str(version.pk),
        "number": version.number,
    }


def version_lineage_details(version: FileVersion) -> dict[str, Any]:
    """The audit details naming ``version``: its file (id, name, path now), the version
    (id, number), and ``original``, the same facts for the version its content was first
    stored as, when it was copied or restored from another one that still exists."""
    file = version.file
    details = _version_facts(version, file)
    source_id = version.source_version_id
    origin: FileVersion | None = None
    for _depth in range(LINEAGE_MAX_DEPTH):
        if source_id is None:
            break
        found = FileVersion.objects.select_related("file").filter(pk=source_id).first()
        if found is None:
            break
        origin, source_id = found, found.source_version_id
    if origin is not None:
        details["original"] = _version_facts(origin, origin.file)
    derived_id = (origin or version).derived_from_id
    if derived_id is not None:
        derived = FileVersion.objects.select_related("file").filter(pk=derived_id).first()
        if derived is not None:
            details["derived_from"] = _version_facts(derived, derived.file)
    return details


def members_lineage_details(versions: list[FileVersion]) -> list[dict[str, Any]]:
    """One entry per member of an archive, in the order served."""
    return [version_lineage_details(version) for version in versions]
