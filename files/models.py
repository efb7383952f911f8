"""Spaces, folders, files and their encrypted versions (docs/storage.md).

A *space* is where files live: one personal space per person and one per team, made
with the account or the team (files/services/spaces.py). Each space has one root
folder; folders form a tree under it. A *file* is a name in a folder; its content is a
list of *versions*, each an immutable encrypted blob in storage plus a data key wrapped
by the keyring (files/envelope.py).

Names are for people only: storage keys are random (``blobs/<uuid>``) and never derived
from a name, so no name can reach a path on disk or in a bucket.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from files.names import name_search_key


class SpaceKind(models.TextChoices):
    PERSONAL = "personal", _("personal")
    TEAM = "team", _("team")


class Space(models.Model):
    """Where files live. Quota and version retention default to the settings."""

    kind = models.CharField(max_length=10, choices=SpaceKind.choices)
    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="personal_space",
    )
    team = models.OneToOneField(
        "accounts.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="space"
    )
    # None: the site default (FILES_PERSONAL_QUOTA_BYTES / FILES_TEAM_QUOTA_BYTES).
    quota_bytes = models.PositiveBigIntegerField(_("quota (bytes)"), null=True, blank=True)
    # None: FILES_VERSION_KEEP_COUNT / FILES_VERSION_KEEP_DAYS.
    version_keep_count = models.PositiveIntegerField(null=True, blank=True)
    version_keep_days = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind=SpaceKind.PERSONAL, owner__isnull=False, team__isnull=True)
                    | Q(kind=SpaceKind.TEAM, team__isnull=False, owner__isnull=True)
                ),
                name="space_personal_xor_team",
            ),
            models.CheckConstraint(
                condition=Q(version_keep_count__isnull=True) | Q(version_keep_count__gte=1),
                name="space_keeps_at_least_one_version",
            ),
        ]

    def __str__(self) -> str:
        return f"space {self.pk} ({self.kind})"

    @property
    def quota_effective(self) -> int:
        if self.quota_bytes is not None:
            return self.quota_bytes
        if self.kind == SpaceKind.TEAM:
            return int(settings.FILES_TEAM_QUOTA_BYTES)
        return int(settings.FILES_PERSONAL_QUOTA_BYTES)

    @property
    def version_keep_count_effective(self) -> int:
        if self.version_keep_count is not None:
            return self.version_keep_count
        return max(1, int(settings.FILES_VERSION_KEEP_COUNT))

    @property
    def version_keep_days_effective(self) -> int:
        if self.version_keep_days is not None:
            return self.version_keep_days
        return max(0, int(settings.FILES_VERSION_KEEP_DAYS))


class SearchableName(models.Model):
    """A ``name`` with its search form ``name_search`` (``files.names.name_search_key``),
    kept in step by ``save`` whatever sets the name (create, rename, move, restore), so
    search needs no database extension to ignore accents and case. On PostgreSQL a
    trigram index (pg_trgm, migration 0007) serves ``LIKE '%…%'`` on it; SQLite scans.
    Nothing in the code writes names with ``QuerySet.update`` or ``bulk_create``, which
    would bypass this."""

    # Text, not varchar: NFKD may lengthen a name many times (one ligature, 18 letters).
    name_search = models.TextField(blank=True, default="", editable=False)

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.name_search = name_search_key(getattr(self, "name", ""))
        update_fields: Iterable[str] | None = kwargs.get("update_fields")
        if update_fields is not None and "name" in update_fields:
            kwargs["update_fields"] = {*update_fields, "name_search"}
        super().save(*args, **kwargs)


class Folder(SearchableName):
    """A folder. The space's root folder has no parent and no name."""

    space = models.ForeignKey(Space, on_delete=models.PROTECT, related_name="folders")
    # PROTECT, here and below: rows go only through the purge services, bottom-up, after
    # every blob beneath is shredded; a stray cascade must never drop a wrapped key's row.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    name = models.CharField(_("name"), max_length=255, blank=True)
    # casefold(NFC(name)): uniqueness in a folder ignores case the same way on every
    # database (SQLite's lower() only folds ASCII).
    name_key = models.CharField(max_length=255, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set on everything trashed together with a folder: restoring or purging that folder
    # acts on exactly these rows, and the trash lists only what was deleted directly.
    trashed_with = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set by a purge: hidden everywhere; the row goes once everything below it is gone.
    purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["space"], condition=Q(parent__isnull=True), name="folder_one_root_per_space"
            ),
            models.UniqueConstraint(
                fields=["parent", "name_key"],
                condition=Q(deleted_at__isnull=True),
                name="folder_name_unique_in_parent",
            ),
            models.CheckConstraint(
                condition=Q(parent__isnull=True, name="") | Q(parent__isnull=False) & ~Q(name=""),
                name="folder_only_root_is_unnamed",
            ),
        ]
        indexes = [models.Index(fields=["space", "deleted_at"])]

    def __str__(self) -> str:
        return self.name or f"root of space {self.space_id}"

    @property
    def is_root(self) -> bool:
        return self.parent_id is None


class ScanStatus(models.TextChoices):
    """Where a version stands in the scanning pipeline (issue #5 runs it).

    Only ``available`` may be downloaded: a scanner that is down keeps versions
    ``pending``, never clean (fail closed).
    """

    PENDING = "pending", _("waiting for virus scan")
    SCANNING = "scanning", _("being scanned")
    AVAILABLE = "available", _("available")
    QUARANTINED = "quarantined", _("quarantined")
    # Not a threat found: the scanner could not fully inspect it (too large, an archive
    # beyond the limits) and SECUREDRIVE_SCAN_OVERSIZE_POLICY is "block".
    BLOCKED = "blocked", _("blocked by policy")
    SCAN_FAILED = "scan_failed", _("scan failed")
    NOT_SCANNED = "not_scanned", _("not fully scanned")


class File(SearchableName):
    """A named file in a folder. Its content is ``current_version``."""

    space = models.ForeignKey(Space, on_delete=models.PROTECT, related_name="files")
    folder = models.ForeignKey(Folder, on_delete=models.PROTECT, related_name="files")
    name = models.CharField(_("name"), max_length=255)
    name_key = models.CharField(max_length=255, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    current_version = models.ForeignKey(
        "FileVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    trashed_with = models.ForeignKey(
        Folder, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Set when a purge has destroyed the data keys: the row only waits for its blobs to
    # be deleted, and is invisible to everyone meanwhile.
    purged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["folder", "name_key"],
                condition=Q(deleted_at__isnull=True),
                name="file_name_unique_in_folder",
            )
        ]
        indexes = [
            models.Index(fields=["space", "deleted_at"]),
            models.Index(fields=["deleted_at"]),
            # A folder's list sorted by date, newest or oldest first, a page at a time,
            # without sorting the folder (files.selectors.folder_listing); by name, the
            # unique constraint's index serves.
            models.Index(
                fields=["folder", "updated_at", "name_key", "id"],
                condition=Q(deleted_at__isnull=True),
                name="file_listing_by_modified",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class FileVersion(models.Model):
    """One immutable content of a file: an encrypted blob and its wrapped data key.

    The id is bound into both as associated data (``files.keys.associated_data``), so a
    blob or a wrapped key copied onto another version row fails authentication.

    A copy (``file_copy``, a restored old version) holds no blob and no key of its own:
    ``content_holder`` names the version that does, whose id stays the associated data
    (ARCHITECTURE invariant 9: blobs are shared by reference, not re-encrypted). Every
    read resolves it through ``files.blobs.version_content``. The holder's key lives
    while any version sharing it is not shredded (``files.services.common.versions_shred``).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    file = models.ForeignKey(File, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    size = models.PositiveBigIntegerField(_("size"))
    ciphertext_size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    # CRC-32 (zlib) of the plaintext, for ZIP archives: recorded by the finalize task,
    # which decrypts every byte anyway, or by the first archive that streams the version
    # (sharing/services/archives.py). None until then.
    plaintext_crc32 = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    content_type = models.CharField(_("type"), max_length=255)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    scan_status = models.CharField(
        max_length=12, choices=ScanStatus.choices, default=ScanStatus.PENDING, db_index=True
    )
    scanned_at = models.DateTimeField(null=True, blank=True)
    # While ``scanning``: the claim holds until then, renewed as the scan progresses
    # (files/services/finalize.py). Past it, the run is presumed dead and the sweeper
    # hands the version to another run.
    scan_lease_until = models.DateTimeField(null=True, blank=True)
    # A failed authenticated decryption (download or scrub): never served again.
    integrity_failed = models.BooleanField(default=False)
    integrity_checked_at = models.DateTimeField(null=True, blank=True)
    # Empty for a version sharing another one's content (``content_holder``).
    blob_key = models.CharField(max_length=200, blank=True)
    # None once shredded: the blob (and every backup of it) is then unreadable. None
    # too, and kek_id empty, for a version sharing another one's content.
    wrapped_data_key = models.BinaryField(null=True, editable=False)
    kek_id = models.CharField(max_length=100, db_index=True)
    segment_size = models.PositiveIntegerField()
    # The version whose blob and wrapped data key hold this one's content (a copy, a
    # restore): never a sharer itself (copies of copies name the first holder). PROTECT:
    # the holder's row outlives every version sharing it, even once its own file is
    # purged (shredded_at set, key kept while a sharer lives: docs/storage.md).
    content_holder = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="sharers"
    )
    # The version this one was copied from (copy, restore of an old version).
    source_version = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The version whose content this one was *derived* from (a de-identified DICOM copy,
    # imaging/deidentify.py): different plaintext, so unlike ``source_version`` it is
    # scanned afresh and keeps no verdict; every access event names the original too
    # (files/lineage.py), and the auditor's history of the original lists its accesses.
    derived_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="derivatives"
    )
    shredded_at = models.DateTimeField(null=True, blank=True)
    # Sent by a transfer that references it (no copy): the retention policy keeps this
    # version until then. Only retention waits; the owner's own deletion does not (a
    # purge withdraws the version from the transfer and shreds it: docs/sharing-transfers.md).
    held_until = models.DateTimeField(null=True, blank=True)
    # What the scan found, for the people who see the version (files/scan_notes.py):
    # the reason it was blocked or not fully scanned, the member of an archive holding a
    # threat, the number of windows of a windowed scan. The audit event has it all too.
    scan_note = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["file", "number"], name="file_version_number_unique"),
            models.UniqueConstraint(
                fields=["blob_key"], condition=~Q(blob_key=""), name="file_version_blob_key_unique"
            ),
            # Either its own blob, or another version's content and no key of its own.
            models.CheckConstraint(
                condition=Q(content_holder__isnull=True) & ~Q(blob_key="")
                | Q(content_holder__isnull=False, blob_key="", wrapped_data_key__isnull=True),
                name="file_version_own_blob_xor_holder",
            ),
        ]
        indexes = [
            models.Index(fields=["shredded_at"]),
            models.Index(fields=["integrity_checked_at"]),
        ]
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"version {self.number} of file {self.file_id}"

    @property
    def scan_explanation(self) -> list[str]:
        """The scan verdict in plain words (files/scan_notes.py)."""
        from files.scan_notes import scan_note_lines

        return scan_note_lines(self)

    @property
    def is_downloadable(self) -> bool:
        """Scanned clean (or "not scanned", let through by the site's policy for
        content the scanner cannot inspect), intact, and its key still exists."""
        return (
            self.scan_status in (ScanStatus.AVAILABLE, ScanStatus.NOT_SCANNED)
            and not self.integrity_failed
            and self.shredded_at is None
        )


class UploadSession(models.Model):
    """One resumable (tus 1.0) upload in progress: docs/uploads.md, files/tus.py.

    Everything a web process needs to continue the upload lives here and in storage,
    never in memory: consecutive PATCH requests may reach different replicas. Bytes are
    sealed as they arrive in the final blob format, under the data key of the version
    the upload will become (``new_version_id``), kept only wrapped and bound to that id.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="upload_sessions"
    )
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=255)
    length = models.PositiveBigIntegerField()
    offset = models.PositiveBigIntegerField(default=0)
    # The version this upload becomes: its id, storage key, data key and blob layout are
    # fixed at creation so that PATCHes write its blob directly.
    new_version_id = models.UUIDField(default=uuid.uuid4, editable=False)
    blob_key = models.CharField(max_length=200, default="")
    segment_size = models.PositiveIntegerField(default=1024 * 1024)
    # The blob header (salt, nonce prefix) segments are sealed under now; a new one (and
    # generation) whenever a request may have sealed indices it did not commit.
    blob_header = models.BinaryField(editable=False, default=b"")
    generation = models.PositiveIntegerField(default=0)
    # Segment indices reserved for sealing under this header: equal to the committed
    # count (offset // segment_size) unless a request is sealing, or died sealing.
    segments_sealed = models.PositiveBigIntegerField(default=0)
    # [{"key": staging key, "offset": its first byte's offset in the blob, "stored":
    #   bytes}], contiguous. The folder backend keeps one staging file (offset 0).
    parts = models.JSONField(default=list)
    # The partial last segment's plaintext, encrypted (nonce ‖ AES-256-GCM): never
    # plaintext at rest; the next PATCH completes it.
    carry = models.BinaryField(editable=False, default=b"")
    kek_id = models.CharField(max_length=100)
    wrapped_key = models.BinaryField(editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    version = models.ForeignKey(
        FileVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Never a new version of a file already in the folder (an upload from outside
    # through a file request): a name taken meanwhile gets a free variant at completion.
    new_file_only = models.BooleanField(default=False)
    # The space's room is held for this upload only until then (an upload from outside
    # through a file request holds it while alive, as its place in the request: its
    # owner's quota is not held for a day by uploads that never finish). Null: until
    # it completes, is terminated or expires. Completion checks the quota anyway.
    room_held_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"upload {self.pk} ({self.offset}/{self.length})"


class ScanPolicyChoice(models.TextChoices):
    """What happens to a file that cannot be scanned in one clamd stream (docs/scanning.md)."""

    BLOCK = "block", _("Block it: nobody can download it")
    WINDOWED = "windowed", _("Scan it in overlapping windows")
    ALLOW = "allow", _("Let it through, labelled “not fully scanned”")


class ScanPolicySetting(models.Model):
    """The site's scanning policy (``site``, one row at most) or a team's, which
    overrides the site's for files in the team's space. With no row, the site follows
    ``SECUREDRIVE_SCAN_OVERSIZE_POLICY``."""

    site = models.BooleanField(default=False)
    team = models.OneToOneField(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="scan_policy",
    )
    policy = models.CharField(max_length=10, choices=ScanPolicyChoice.choices)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["site"], condition=Q(site=True), name="scan_policy_one_site_row"
            ),
            models.CheckConstraint(
                condition=Q(site=True, team__isnull=True) | Q(site=False, team__isnull=False),
                name="scan_policy_site_xor_team",
            ),
        ]

    def __str__(self) -> str:
        return f"scan policy {self.policy} ({self.team_id or 'site'})"


class Favourite(models.Model):
    """A file or folder a person starred, for their home page (issue #15). A star is
    only a bookmark: it grants nothing, and the home page shows a favourite only while
    the person may still read it (files.favourites.favourites_for); while they cannot,
    the star is kept, hidden, and comes back with the access."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="favourites"
    )
    file = models.ForeignKey(
        File, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    folder = models.ForeignKey(
        Folder, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(file__isnull=False, folder__isnull=True)
                | Q(file__isnull=True, folder__isnull=False),
                name="favourite_file_xor_folder",
            ),
            models.UniqueConstraint(fields=["user", "file"], name="favourite_file_once"),
            models.UniqueConstraint(fields=["user", "folder"], name="favourite_folder_once"),
        ]

    def __str__(self) -> str:
        return f"favourite of {self.user_id}: {self.file_id or self.folder_id}"


class VersionThumbnail(models.Model):
    """A small picture of a version (an image's or a PDF's first page), made after a
    clean scan (files/thumbnails.py). Stored like content: an encrypted blob under its
    own data key, wrapped by the keyring and bound to ``thumbnail:<version id>`` (so it
    can never pass for the version's own blob), destroyed with the version's key
    (``files.services.common.versions_shred``) and deleted with its blob."""

    version = models.OneToOneField(
        FileVersion, on_delete=models.CASCADE, primary_key=True, related_name="thumbnail"
    )
    blob_key = models.CharField(max_length=200, unique=True)
    # None once shredded, like the version's own key.
    wrapped_data_key = models.BinaryField(null=True, editable=False)
    kek_id = models.CharField(max_length=100)
    ciphertext_size = models.PositiveBigIntegerField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"thumbnail of version {self.version_id}"
