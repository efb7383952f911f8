"""Changes to spaces, folders, files and versions (one module per concept below).

Every service takes ``actor=`` (``None`` only for system work: tasks, commands) and
records its audit event inside the same transaction as the change. Objects come in
from ``files.selectors`` (which checked the person may see them); services check again
that the actor may *change* each object involved, so a new entry point cannot skip it.

Blob work (encrypting, re-encrypting) happens before the transaction that creates the
version row; if that transaction fails, the blob is discarded. Purges destroy the
wrapped data key in a committed transaction first, then delete the blob
(files/lifecycle.py): from that commit on, no copy of the blob can be read.
"""

from files.services.common import (
    actor_locked_transaction,
    actor_still_active_check,
    require_edit,
    upload_limit_bytes,
)
from files.services.content import (
    file_change,
    file_copy,
    file_delete,
    file_move,
    file_purge,
    file_rename,
    file_restore,
    file_upload,
    file_version_add,
    files_upload,
)
from files.services.finalize import (
    version_finalize,
    versions_stuck_select,
)
from files.services.folders import (
    folder_change,
    folder_create,
    folder_delete,
    folder_move,
    folder_purge,
    folder_rename,
    folder_restore,
)
from files.services.spaces import (
    personal_files_handover_plan,
    space_made_with_account,
    space_made_with_team,
    space_personal_get_or_create,
    space_root,
    space_team_get_or_create,
)
from files.services.versions import (
    blob_reencrypt,
    readable_source,
    version_data_key,
    version_integrity_failure_record,
    version_mark_scanned,
    version_restore,
    version_share_create,
)

__all__ = [
    "actor_locked_transaction",
    "actor_still_active_check",
    "blob_reencrypt",
    "file_change",
    "file_copy",
    "file_delete",
    "file_move",
    "file_purge",
    "file_rename",
    "file_restore",
    "file_upload",
    "file_version_add",
    "files_upload",
    "folder_change",
    "folder_create",
    "folder_delete",
    "folder_move",
    "folder_purge",
    "folder_rename",
    "folder_restore",
    "personal_files_handover_plan",
    "readable_source",
    "require_edit",
    "space_made_with_account",
    "space_made_with_team",
    "space_personal_get_or_create",
    "space_root",
    "space_team_get_or_create",
    "upload_limit_bytes",
    "version_data_key",
    "version_finalize",
    "version_integrity_failure_record",
    "version_mark_scanned",
    "version_restore",
    "version_share_create",
    "versions_stuck_select",
]
