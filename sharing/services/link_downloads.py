"""External links, the recipient's downloads: what an unlocked link shows, single files
(``files.downloads.version_download_response``: Range, ETag, nothing before a clean
scan, its own audit event), "download everything" (``sharing.services.archives``), receipts
and the owner's first-download e-mail.

Download counting rule (``max_downloads``): every download counts, and leaves one
receipt (``ShareLinkDownload``): a ``GET`` that starts a response (200 or 206) from the
file's first byte, or of "download everything" (a ZIP has no Range: each is whole). A
Range request starting further on, in the session that already counted that file, is
a resume: it counts no more and adds its bytes to that download's receipt, until that
receipt holds the whole file (a Range after that is a new download). ``HEAD`` never
counts. The receipts, the link's counter and the audit trail therefore agree: one
receipt, one count and one row in the auditor's file history per download (issue #14:
three ZIPs of a transfer were one receipt, four downloads counted two).

Previews count too (``share_link_preview_admit``): the limit is of views and downloads,
one per preview sitting (a receipt with ``is_preview``), so that a file shared "once" is
not read in the browser indefinitely by whoever the link is forwarded to.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.http import HttpRequest, HttpResponseBase
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from audit import services as audit
from audit.actions import Action
from audit.context import context_from_request
from files.downloads import (
    AccessRecheck,
    DownloadNotAdmitted,
    RangeNotSatisfiable,
    range_requested,
    version_download_response,
    version_etag,
)
from files.errors import NotDownloadableError
from files.lineage import members_lineage_details, version_lineage_details
from files.models import File, FileVersion, Folder
from files.selectors import SharingWay, sharing_allowed
from sharing.models import ShareLink, ShareLinkDownload, TransferItem
from sharing.services.archives import ArchiveEntry, archive_entries_for_folder, archive_response
from sharing.services.emails import email_send
from sharing.services.link_access import (
    Access,
    AccessOutcome,
    Grant,
    access_record,
    grant_save,
    link_label,
    link_state_now,
)
from sharing.services.links import LinkState, share_link_target_name

ARCHIVE_KEY = "archive"
# The Range header is recorded as sent, but bounded: a hostile one must not fill the log.
RANGE_RECORDED_CHARS = 100


# --- What the link shows -------------------------------------------------------------------


@dataclass(frozen=True)
class LinkContent:
    """What an unlocked link shows: one file, or the files of a folder or transfer."""

    name: str
    entries: list[ArchiveEntry]  # downloadable files, by path
    left_out: list[File]  # files not downloadable now (waiting for the virus scan...)
    single: File | None = None

    @property
    def total_bytes(self) -> int:
        return sum(entry.version.size for entry in self.entries)


def _content_folder(link: ShareLink) -> Folder | None:
    if link.folder is not None:
        return link.folder
    if link.transfer is not None:
        return link.transfer.folder
    return None


def _sent_items(link: ShareLink) -> QuerySet[TransferItem] | None:
    """A sent transfer's files as they were sent (the live ones), or None for a link to a
    file or a folder, which shows what is there now.

    A file its sender may no longer send outside (they left the team whose space holds
    it) is withdrawn, as a trashed one is: a link to that file dies the same way
    (``link_access.link_state_now``), and a transfer must not outlive the right either."""
    transfer = link.transfer
    if transfer is None or transfer.sent_at is None:
        return None
    items = TransferItem.objects.filter(
        transfer=transfer, file__deleted_at__isnull=True, file__purged_at__isnull=True
    ).select_related("file", "file__space", "version")
    withdrawn = [
        item.file_id
        for item in items
        if not sharing_allowed(actor=link.created_by, item=item.file, way=SharingWay.TRANSFER)
    ]
    return items.exclude(file_id__in=withdrawn) if withdrawn else items


def share_link_content(link: ShareLink) -> LinkContent:
    name = share_link_target_name(link)
    sent = _sent_items(link)
    if sent is not None:
        items = list(sent)
        entries = [
            ArchiveEntry(item.path, item.version) for item in items if item.version.is_downloadable
        ]
        left_out = [item.file for item in items if not item.version.is_downloadable]
        return LinkContent(name, entries, left_out)
    if link.file is not None:
        file = link.file
        version = file.current_version
        if version is not None and version.is_downloadable:
            return LinkContent(name, [ArchiveEntry(file.name, version)], [], single=file)
        return LinkContent(name, [], [file], single=file)
    folder = _content_folder(link)
    if folder is None:
        return LinkContent(name, [], [])
    # A transfer's folder is an implementation detail: its name stays out of the paths.
    entries, left_out = archive_entries_for_folder(
        folder, include_folder_name=link.transfer_id is None
    )
    return LinkContent(name, entries, left_out)


def share_link_file(link: ShareLink, file_id: int) -> File | None:
    """A live file the link gives access to (itself, one under its folder, or one its
    transfer was sent with)."""
    sent = _sent_items(link)
    if sent is not None:
        item = sent.filter(file_id=file_id).first()
        return item.file if item is not None else None
    if link.file_id is not None:
        return link.file if link.file_id == file_id else None
    folder = _content_folder(link)
    if folder is None:
        return None
    folder_ids = {folder.pk}
    frontier = [folder.pk]
    while frontier:
        frontier = list(
            Folder.objects.filter(
                parent_id__in=frontier, deleted_at__isnull=True, purged_at__isnull=True
            ).values_list("pk", flat=True)
        )
        folder_ids.update(frontier)
    return (
        File.objects.select_related("current_version")
        .filter(pk=file_id, folder_id__in=folder_ids, deleted_at__isnull=True)
        .filter(purged_at__isnull=True)
        .first()
    )


# --- Downloads ------------------------------------------------------------------------------------


def share_link_recheck(link_id: int) -> AccessRecheck:
    """What a stream from a link asks again while it runs (files.downloads.StreamRecheck):
    a link withdrawn (by its owner, by offboarding), expired or gone, a file no longer
    in it or no longer downloadable stops a download or ZIP under way, not only the
    next one. A link used up by this very download goes on."""

    def check(version_id: uuid.UUID) -> str | None:
        link = ShareLink.objects.filter(pk=link_id).first()
        if link is None:
            return "link deleted"
        state = link_state_now(link)
        if state not in (LinkState.ACTIVE, LinkState.EXHAUSTED):
            return f"link {state}"
        version = FileVersion.objects.filter(pk=version_id).first()
        if version is None or share_link_file(link, version.file_id) is None:
            return "no longer in the link"
        if not version.is_downloadable:
            return str(version.scan_status) if version.scan_status else "not downloadable"
        return None

    return check


def _resumes(request: HttpRequest, version: FileVersion) -> bool:
    """A ``GET`` with a Range starting past the first byte: the rest of a download.
    Not with an If-Range that does not match: that one gets the whole file (200), a new
    download (files.downloads.version_download_response applies the same rule)."""
    if_range = request.headers.get("If-Range")
    if if_range is not None and if_range.strip() != version_etag(version):
        return False
    try:
        byte_range = range_requested(request.headers.get("Range"), version.size)
    except RangeNotSatisfiable:
        return False
    return byte_range is not None and byte_range.start > 0


# A stored ZIP entry's overhead beyond its data, at most: local header (30 bytes), its
# name, a ZIP64 extra field (20) and a data descriptor (24). Bounds where each member's
# data ends, to say which members a cut archive surely sent whole.
ZIP_ENTRY_OVERHEAD_MAX = 30 + 20 + 24


def archive_members_sent(
    entries: list[ArchiveEntry], *, bytes_sent: int, completed: bool
) -> list[tuple[int, bool]]:
    """(bytes of the member sent, sent whole) per entry of an archive ``bytes_sent``
    long. A completed archive sent every member whole; a cut one is credited only
    what surely left (members are laid out in order; overheads counted at most)."""
    sent: list[tuple[int, bool]] = []
    offset = 0
    for entry in entries:
        size = entry.version.size
        start = offset + ZIP_ENTRY_OVERHEAD_MAX + len(entry.path.encode())
        if completed:
            sent.append((size, True))
        else:
            member_bytes = max(0, min(size, bytes_sent - start))
            sent.append((member_bytes, member_bytes == size and start + size <= bytes_sent))
        offset = start + size
    return sent


def _unfinished(receipt_id: int | None, version: FileVersion) -> bool:
    """A download this session counted that has not yet sent the whole file: only its
    rest is a resume. Once the receipt holds every byte, a Range is a new download (it
    counts, and is refused past the limit), else "bytes=1-" would fetch the file again
    and again from one counted session, the limit reached or not. The rest of another
    version (the file got a new one meanwhile) is no rest either."""
    if receipt_id is None:
        return False
    return ShareLinkDownload.objects.filter(
        pk=receipt_id, version=version, bytes_sent__lt=version.size
    ).exists()


def share_link_version_served(link: ShareLink, file: File) -> FileVersion | None:
    """The version a recipient gets: the one a transfer was sent with, else the current."""
    sent = _sent_items(link)
    if sent is None:
        return file.current_version
    item = sent.filter(file_id=file.pk).first()
    return item.version if item is not None else None


# How long a preview opened in a browser stays one use: its page reloaded, its image
# fetched, its PDF or video streamed (a video's Range requests as it plays and seeks)
# in that browser count once. An afternoon's reading would be the proof's lifetime
# (PROOF_LIFETIME): one hour is a sitting, and opening the file again later is another
# use, refused once the limit is reached.
PREVIEW_SITTING = dt.timedelta(hours=1)


def _preview_key(file: File) -> str:
    return f"preview:{file.pk}"


def _sitting_open(receipt_id: int | None, version: FileVersion) -> bool:
    """This session's preview receipt is for ``version`` and its sitting is not over.
    A new version of the file is a new preview (as a resume of another version is no
    resume)."""
    if receipt_id is None:
        return False
    return ShareLinkDownload.objects.filter(
        pk=receipt_id,
        is_preview=True,
        version=version,
        at__gt=timezone.now() - PREVIEW_SITTING,
    ).exists()


@dataclass(frozen=True)
class PreviewUse:
    """A preview let in: its receipt, and whether this request used up one of the
    link's views and downloads (``False``: part of a sitting already counted)."""

    receipt: int | None  # None: a HEAD outside a sitting (nothing shown, nothing counted)
    counted: bool


def share_link_preview_admit(
    *, request: HttpRequest, access: Access, file: File, version: FileVersion, count: bool = True
) -> PreviewUse | AccessOutcome:
    """May this browser be shown ``version`` of ``file`` now? A preview is a use of the
    link like a download: the first request of a sitting (the page, or its image or
    stream asked directly) counts one and writes a receipt (``is_preview``); the rest of
    the sitting (``PREVIEW_SITTING``, same version, this session) does not count again,
    and stays open after the link's last use, as a download under way does. Past the
    limit, another browser (or this one, later) is refused: ``LIMIT_REACHED``, for the
    caller to audit. ``count=False`` (a ``HEAD``, which sends no content) never
    counts. The count is the same conditional UPDATE as a download's, so two
    browsers racing for the last use cannot both get it."""
    link, grant = access.link, access.grant
    assert link is not None  # noqa: S101  (an unlocked access)
    assert grant is not None  # noqa: S101
    key = _preview_key(file)
    receipt_id = grant.counted.get(key)
    if _sitting_open(receipt_id, version):
        assert receipt_id is not None  # noqa: S101
        return PreviewUse(receipt=receipt_id, counted=False)
    if link_state_now(link) == LinkState.EXHAUSTED:
        return AccessOutcome.LIMIT_REACHED
    if not count:
        return PreviewUse(receipt=None, counted=False)
    allowed, receipt_id = _count(
        request=request,
        link=link,
        grant=grant,
        key=key,
        name=file.name,
        file=file,
        version=version,
        preview=True,
    )
    if not allowed or receipt_id is None:
        return AccessOutcome.LIMIT_REACHED
    return PreviewUse(receipt=receipt_id, counted=True)


def _count(
    *,
    request: HttpRequest,
    link: ShareLink,
    grant: Grant,
    key: str,
    name: str,
    file: File | None,
    version: FileVersion | None,
    resume: bool = False,
    preview: bool = False,
) -> tuple[bool, int | None]:
    """Count a download (or a ``preview``) and write its receipt; a resume (``resume``)
    of a download this session counted finds that receipt instead, to add its bytes
    when its stream ends.

    Returns (allowed, receipt id). Not allowed: the limit was reached meanwhile.
    """
    context = context_from_request(request)
    now = timezone.now()
    with transaction.atomic():
        receipt_id = grant.counted.get(key)
        if resume and receipt_id is not None:
            return True, receipt_id
        counted = (
            ShareLink.objects.filter(pk=link.pk)
            .filter(Q(max_downloads__isnull=True) | Q(download_count__lt=F("max_downloads")))
            .update(download_count=F("download_count") + 1)
        )
        if not counted:
            return False, None
        receipt = ShareLinkDownload.objects.create(
            link=link,
            at=now,
            recipient_email=link.recipient_email,
            file=file,
            version=version,
            name=name[:255],
            is_archive=file is None,
            is_preview=preview,
            bytes_sent=0,
            ip_address=context.ip_address or None,
            user_agent=context.user_agent[:300],
        )
        # ``first_downloaded_at`` is the first *download* (a transfer's page counts
        # them): a preview is not one.
        if not preview:
            ShareLink.objects.filter(pk=link.pk, first_downloaded_at__isnull=True).update(
                first_downloaded_at=now
            )
        # The owner is told of the link's first *use*, whatever it was, in words that
        # say which: a view-only link is never downloaded, and its owner still expects
        # to hear that the letter was read. First: no receipt before this one; the
        # conditional UPDATE above holds the link's row until commit, so two first uses
        # at once see each other and only one e-mail leaves.
        first_use = not ShareLinkDownload.objects.filter(link=link).exclude(pk=receipt.pk).exists()
        if first_use and link.notify_owner:
            _owner_notify_on_commit(link=link, name=name, viewed=preview)
    grant.counted[key] = receipt.pk
    grant_save(request, link, grant)
    return True, receipt.pk


def _owner_notify_on_commit(*, link: ShareLink, name: str, viewed: bool) -> None:
    owner = link.created_by
    context = {
        "viewed": viewed,
        "owner_name": owner.get_full_name() or owner.email,
        "name": name,
        "recipient": link.recipient_email,
        "label": link.label,
        "at": timezone.now(),
        "links_url": f"{settings.SITE_URL}{reverse('sharing:my_links')}",
    }

    def send() -> None:
        # In the owner's language, not the recipient's, whose request this is.
        # Not its name in the subject: a file or transfer name often names a patient,
        # and a subject is what lock screens, mail logs and shared mailboxes show.
        with translation.override(owner.email_language):
            subject = (
                _("Your shared item was viewed") if viewed else _("Your shared item was downloaded")
            )
        email_send(
            to=owner.email,
            subject=subject,
            template="link_first_download",
            context=context,
            language=owner.email_language,
        )

    # Robust: a courtesy to the owner must never cost the recipient the download it
    # announces (a mail server down was a 500 after the link's last download counted).
    transaction.on_commit(send, robust=True)


def share_link_download_response(
    *, request: HttpRequest, access: Access, file: File
) -> HttpResponseBase | AccessOutcome:
    """The response for one file of an unlocked link, or why not (audited).

    Raises ``NotDownloadableError`` (audited by files.downloads) for a file the virus
    scanner has not cleared.
    """
    link, grant = access.link, access.grant
    assert link is not None  # noqa: S101  (an unlocked access)
    assert grant is not None  # noqa: S101
    version = share_link_version_served(link, file)
    key = f"file:{file.pk}"
    details: dict[str, object] = {"file": file.pk, "name": file.name}
    if version is None:
        return AccessOutcome.GONE
    resume = _resumes(request, version) and _unfinished(grant.counted.get(key), version)
    # The original file, version and path at the time (lineage), whatever the link.
    details.update(version_lineage_details(version))
    if link.transfer_id is not None:
        details["transfer"] = link.transfer_id
    if link.view_only:
        # Previews only (sharing/views/link_preview.py): no download, whatever asks.
        access_record(
            request=request,
            link=link,
            outcome=AccessOutcome.VIEW_ONLY,
            action=Action.SHARING_LINK_DOWNLOAD,
            **details,
        )
        return AccessOutcome.VIEW_ONLY
    if not resume and link_state_now(link) == LinkState.EXHAUSTED:
        access_record(
            request=request,
            link=link,
            outcome=AccessOutcome.LIMIT_REACHED,
            action=Action.SHARING_LINK_DOWNLOAD,
            **details,
        )
        return AccessOutcome.LIMIT_REACHED
    # The files app's start event and this end event share the download's id: the
    # auditor sees one row with the bytes really sent (audit/selectors.download_ends).
    download_id = uuid.uuid4().hex
    link_details = {"link": link.pk, "recipient": link.recipient_email, "download": download_id}
    # The stream ends after this request's audit context is gone: keep the address.
    context = context_from_request(request)
    counted: dict[str, int] = {}  # the receipt, once the download is counted (admit)

    def admit() -> bool:
        """Count the download at the last moment before its start is recorded: a
        recipient who loses the race for the last one gets the refusal, and the log a
        refusal, never a start without an end. A HEAD is never counted."""
        if request.method != "GET":
            return True
        allowed, receipt_id = _count(
            request=request,
            link=link,
            grant=grant,
            key=key,
            name=file.name,
            file=file,
            version=version,
            resume=resume,
        )
        if receipt_id is not None:
            counted["receipt"] = receipt_id
        return allowed

    def finished(bytes_sent: int, completed: bool) -> None:
        receipt_id = counted.get("receipt")
        if receipt_id is None:
            return
        ShareLinkDownload.objects.filter(pk=receipt_id).update(
            bytes_sent=F("bytes_sent") + bytes_sent
        )
        access_record(
            request=context,
            link=link,
            outcome=AccessOutcome.OK,
            action=Action.SHARING_LINK_DOWNLOAD,
            bytes=bytes_sent,
            completed=completed,
            range=request.headers.get("Range", "")[:RANGE_RECORDED_CHARS],
            receipt=receipt_id,
            download=download_id,
            **details,
        )

    try:
        # Audited with the bytes really sent when the stream ends (``finished``); the
        # files app records the download's start (files.version.download) once
        # ``admit`` has counted it.
        return version_download_response(
            request=request,
            actor=None,
            actor_label=link_label(link),
            version=version,
            audit_details=link_details,
            on_finished=finished,
            access_recheck=share_link_recheck(link.pk),
            admit=admit,
        )
    except DownloadNotAdmitted:
        # Lost the race for the link's last download: nothing was sent. (No
        # ``response.close()`` here: on a Django response it sends ``request_finished``,
        # which closes the database connections in the middle of this request.)
        access_record(
            request=request,
            link=link,
            outcome=AccessOutcome.LIMIT_REACHED,
            action=Action.SHARING_LINK_DOWNLOAD,
            **details,
        )
        return AccessOutcome.LIMIT_REACHED
    except NotDownloadableError as error:
        access_record(
            request=request,
            link=link,
            outcome=error.reason,
            action=Action.SHARING_LINK_DOWNLOAD,
            **details,
        )
        raise


def share_link_archive_response(
    *, request: HttpRequest, access: Access
) -> HttpResponseBase | AccessOutcome:
    """ "Download everything" of a folder or transfer link, as a streaming ZIP.

    Counted like one file; the receipt and the audit event get the bytes really sent
    when the stream ends (``on_finished``)."""
    link, grant = access.link, access.grant
    assert link is not None  # noqa: S101  (an unlocked access)
    assert grant is not None  # noqa: S101
    if link.file_id is not None:
        # One file has no "download everything": no such address for this link (not
        # "deleted", which the file is not), and on record like any refusal.
        access_record(
            request=request,
            link=link,
            outcome=AccessOutcome.UNKNOWN,
            action=Action.SHARING_LINK_DOWNLOAD,
            archive=True,
            name=share_link_target_name(link),
        )
        return AccessOutcome.UNKNOWN
    if link.view_only:
        access_record(
            request=request,
            link=link,
            outcome=AccessOutcome.VIEW_ONLY,
            action=Action.SHARING_LINK_DOWNLOAD,
            archive=True,
        )
        return AccessOutcome.VIEW_ONLY
    content = share_link_content(link)
    if link_state_now(link) == LinkState.EXHAUSTED:
        access_record(
            request=request,
            link=link,
            outcome=AccessOutcome.LIMIT_REACHED,
            action=Action.SHARING_LINK_DOWNLOAD,
            archive=True,
        )
        return AccessOutcome.LIMIT_REACHED
    receipt_id: int | None = None
    if request.method == "GET":
        allowed, receipt_id = _count(
            request=request,
            link=link,
            grant=grant,
            key=ARCHIVE_KEY,
            name=f"{content.name}.zip",
            file=None,
            version=None,
        )
        if not allowed:
            access_record(
                request=request,
                link=link,
                outcome=AccessOutcome.LIMIT_REACHED,
                action=Action.SHARING_LINK_DOWNLOAD,
                archive=True,
            )
            return AccessOutcome.LIMIT_REACHED
    # The stream ends after this request's audit context is gone: keep the address.
    context = context_from_request(request)
    download_id = uuid.uuid4().hex
    # What really goes into the ZIP is decided by ``archive_response``'s own re-check of
    # the versions (one quarantined since ``share_link_content`` read them is left
    # out); it is recorded (``started``) and counted (``finished``) from that list only.
    archived: dict[str, Any] = {"entries": [], "members": [], "downloads": [], "left_out": 0}

    def started(entries: list[ArchiveEntry], left_out: list[ArchiveEntry]) -> None:
        members = members_lineage_details([entry.version for entry in entries])
        archived.update(
            entries=entries,
            members=members,
            downloads=[uuid.uuid4().hex for _member in members],
            left_out=len(left_out),
        )
        if receipt_id is None:
            return
        for dropped in left_out:
            # Listed when the recipient asked, left out by the re-check: on record as
            # not sent, and why, so that no one reads it as downloaded.
            access_record(
                request=context,
                link=link,
                outcome=str(dropped.version.scan_status or "not downloadable"),
                action=Action.SHARING_LINK_DOWNLOAD,
                **version_lineage_details(dropped.version),
                in_archive=content.name,
                zip=download_id,
                left_out_of_archive=True,
                transfer=link.transfer_id,
            )
        # Each member's download is recorded before the first byte leaves, as a single
        # file's is (files.downloads): if the process dies mid-stream, no end is written
        # but the start says who got what. Its end (below) carries the same ``download``
        # id, so the auditor reads one row per file with the bytes really sent.
        for entry, member, member_download in zip(
            entries, members, archived["downloads"], strict=True
        ):
            audit.record(
                action=Action.FILES_VERSION_DOWNLOAD,
                actor_label=link_label(link),
                target_type="files.version",
                target_id=entry.version.pk,
                details={
                    **member,
                    "link": link.pk,
                    "recipient": link.recipient_email,
                    "download": member_download,
                    "in_archive": content.name,
                    "zip": download_id,
                },
                request=context,
            )

    def finished(bytes_sent: int, completed: bool) -> None:
        ShareLinkDownload.objects.filter(pk=receipt_id or 0).update(
            bytes_sent=F("bytes_sent") + bytes_sent
        )
        entries: list[ArchiveEntry] = archived["entries"]
        members: list[dict[str, object]] = archived["members"]
        # And one per member, so that the member's own history shows this download
        # (the file's history is read by its ``file`` detail, an index).
        for member, member_download, (member_bytes, member_completed) in zip(
            members,
            archived["downloads"],
            archive_members_sent(entries, bytes_sent=bytes_sent, completed=completed),
            strict=True,
        ):
            access_record(
                request=context,
                link=link,
                outcome=AccessOutcome.OK,
                action=Action.SHARING_LINK_DOWNLOAD,
                **member,
                in_archive=content.name,
                zip=download_id,
                download=member_download,
                transfer=link.transfer_id,
                bytes=member_bytes,
                completed=member_completed,
                receipt=receipt_id,
            )
        access_record(
            request=context,
            link=link,
            outcome=AccessOutcome.OK,
            action=Action.SHARING_LINK_DOWNLOAD,
            archive=True,
            name=content.name,
            files=len(entries),
            members=members,
            transfer=link.transfer_id,
            left_out=len(content.left_out) + archived["left_out"],
            bytes=bytes_sent,
            completed=completed,
            receipt=receipt_id,
            # The auditor's view shows the members' rows, not this summary.
            download=download_id,
        )

    return archive_response(
        request=request,
        entries=content.entries,
        archive_name=content.name,
        on_finished=finished if receipt_id is not None else None,
        on_start=started,
        access_recheck=share_link_recheck(link.pk),
        actor_label=link_label(link),
        audit_details={"link": link.pk, "recipient": link.recipient_email, "zip": download_id},
    )
