"""File requests: a link through which someone outside (a lab, a patient) uploads files
into a folder chosen by a member (docs/sharing-transfers.md).

* The token is shown once to its creator; only its SHA-256 is stored (sharing/services/tokens.py).
* Uploads speak tus 1.0 at ``/r/<token>/uploads/``: the request's token is the only
  credential. Every upload is created and continued through ``files.tus`` *as the
  request's owner* into the request's folder, so the owner's rights, quota, the name
  rules and the scan pipeline apply exactly as to the owner's own uploads.
* Limits are reserved when an upload is created (``files_reserved``, ``bytes_reserved``,
  under ``select_for_update``): concurrent uploads cannot overrun them. A terminated or
  failed upload gives its reservation back.
* An unfinished upload holds its place only while it is alive: for
  ``FILE_REQUEST_UPLOAD_HOLD_SECONDS`` after its creation or last PATCH. Past that, the
  place is given back when someone needs it (a new upload, the hourly sweep) and the
  owner's pages no longer count it; the upload takes a place again when it resumes, if
  one is free, else it is refused (413) like a new file. Anyone holding the link could
  otherwise fill every place with tiny uploads that never finish, for a day. Every
  change of the counts is made under the request's row lock.
* An upload never replaces a file already in the folder: it gets a free name
  ("report (2).pdf") at creation, and again at completion if something took that name
  meanwhile (``new_file_only``: chosen under the folder's lock).
* Closed and expired requests (and those of people who left) answer 410 everywhere.
* Every upload and every refusal is audited as ``sharing.request.upload|refuse``, with
  ``actor_label="request:<id>"`` and the uploader's name and e-mail in the details.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts import still_active
from accounts.models import User
from audit import messages as audit_messages
from audit import services as audit
from audit.actions import Action
from audit.context import RequestContext
from audit.models import AuditEvent, Outcome
from core.http import header_count
from files import selectors as files_selectors
from files import tus
from files.errors import FileRuleError
from files.models import File, Folder, UploadSession
from files.names import name_clean, name_key, name_variant
from files.selectors import Permission
from sharing import selectors as sharing_selectors
from sharing.errors import (
    FileRequestGone,
    FileRequestNotFound,
    FileRequestRightError,
    FileRequestRuleError,
)
from sharing.models import FileRequest, FileRequestUpload, SharingPolicy
from sharing.services import move_out, team_leave, tokens
from sharing.services.policy import (
    expiry_beyond,
    expiry_beyond_message,
    expiry_max_days,
    may_share_outside,
)
from sharing.services.suspension import REASON as SUSPENDED
from sharing.services.suspension import external_sharing_suspended, suspended_message

logger = logging.getLogger(__name__)

# Owner e-mails are batched: the first upload to land schedules one e-mail this many
# seconds later, listing everything that arrived meanwhile.
NOTIFY_DELAY_SECONDS = 300


# --- Audit ------------------------------------------------------------------------------------


def _label(file_request: FileRequest | None) -> str:
    return f"request:{file_request.pk}" if file_request is not None else "request:?"


def actor_label(file_request: FileRequest) -> str:
    """Who acts through a request's link, in the audit log (``request:<id>``)."""
    return _label(file_request)


def refusal_record(
    file_request: FileRequest | None,
    reason: str,
    *,
    request: RequestContext | None = None,
    **details: Any,
) -> AuditEvent:
    return audit.record(
        action=Action.SHARING_REQUEST_REFUSE,
        outcome=Outcome.DENIED,
        actor_label=_label(file_request),
        target_type="sharing.request",
        target_id=file_request.pk if file_request is not None else "",
        details={"reason": reason, **details},
        request=request,
    )


# --- Owner's side -----------------------------------------------------------------------------


def file_request_folder_check(
    *, actor: User, folder: Folder, request: RequestContext | None = None
) -> None:
    """Raise unless ``actor`` may open ``folder`` to uploads from outside (the one
    sharing rule, ``files.selectors.sharing_refusal``); audited. A folder they do not
    see: ``FileRequestNotFound``; one only shared with them: ``FileRequestRightError``."""
    refusal = files_selectors.sharing_refusal(
        actor=actor, item=folder, way=files_selectors.SharingWay.FILE_REQUEST
    )
    if refusal is not None:
        audit.record(
            action=Action.SHARING_REQUEST_CREATE,
            outcome=Outcome.DENIED,
            actor=actor,
            target_type="files.folder",
            target_id=folder.pk,
            details={"reason": refusal.value},
            request=request,
        )
        if files_selectors.folder_permission(actor=actor, folder=folder) < Permission.VIEW:
            raise FileRequestNotFound(str(folder.pk))
        raise FileRequestRightError(files_selectors.sharing_refusal_message(refusal))


def file_request_create(
    *,
    actor: User,
    folder: Folder,
    title: str,
    instructions: str = "",
    expires_at: dt.datetime,
    max_files: int | None = None,
    max_bytes: int | None = None,
    notify_owner: bool = True,
    request: RequestContext | None = None,
) -> tuple[FileRequest, str]:
    """A request into ``folder`` (which the actor may edit); returns it and its token,
    which is shown once and never stored."""
    # An owner deactivated since the request loaded them opens no folder to outsiders:
    # a request made after the offboarding is one no plan closed (accounts.still_active).
    guard = still_active.actor_still_active_check(
        actor,
        action=Action.SHARING_REQUEST_CREATE,
        target_type="files.folder",
        target_id=folder.pk,
        error=FileRequestRuleError,
        message=_("This account was deactivated: nothing was created."),
        request=request,
    )
    policy = SharingPolicy.current()
    file_request_folder_check(actor=actor, folder=folder, request=request)
    if actor.is_auditor:
        # What outsiders upload is others' content (often patients' files): an auditor
        # reads none (ARCHITECTURE.md, invariant 4).
        audit.record(
            action=Action.SHARING_REQUEST_CREATE,
            outcome=Outcome.DENIED,
            actor=actor,
            target_type="files.folder",
            target_id=folder.pk,
            details={"reason": "auditor", "title": title.strip()[:200]},
            request=request,
        )
        raise FileRequestRuleError(
            _(
                "An auditor reads the audit log, never file content: an auditor cannot ask "
                "outsiders for files."
            ),
            403,
        )
    if not may_share_outside(actor):
        suspended = external_sharing_suspended()
        audit.record(
            action=Action.SHARING_REQUEST_CREATE,
            outcome=Outcome.DENIED,
            actor=actor,
            target_type="files.folder",
            target_id=folder.pk,
            details={"reason": SUSPENDED if suspended else "policy forbids sharing outside"},
            request=request,
        )
        if suspended:
            raise FileRequestRuleError(suspended_message())
        raise FileRequestRuleError(
            _("The sharing policy does not allow you to receive files from outside.")
        )
    title = title.strip()
    if not title:
        raise FileRequestRuleError(_("A file request needs a title."))
    now = timezone.now()
    if expires_at <= now:
        raise FileRequestRuleError(_("The expiry must be in the future."))
    max_days = expiry_max_days()
    if expiry_beyond(expires_at, max_days=max_days, now=now):
        raise FileRequestRuleError(expiry_beyond_message(max_days, now=now))
    files_cap = int(policy.file_request_max_files)
    bytes_cap = int(policy.file_request_max_bytes)
    max_files = files_cap if max_files is None else max_files
    max_bytes = bytes_cap if max_bytes is None else max_bytes
    if not 1 <= max_files <= files_cap:
        raise FileRequestRuleError(
            _("A file request accepts between 1 and %(count)s files.") % {"count": files_cap}
        )
    if not 1 <= max_bytes <= bytes_cap:
        raise FileRequestRuleError(
            _("A file request accepts at most %(size)s in all.") % {"size": _size_text(bytes_cap)}
        )
    token, token_hash = tokens.token_new()
    try:
        return _file_request_row_create(
            guard,
            actor=actor,
            folder=folder,
            token=token,
            token_hash=token_hash,
            title=title,
            instructions=instructions,
            expires_at=expires_at,
            max_files=max_files,
            max_bytes=max_bytes,
            notify_owner=notify_owner,
            request=request,
        )
    except _TeamLeft as left:
        raise _create_refused(
            FileRequestRuleError(team_leave.team_left_meanwhile_message(left.team), 409),
            {"rule": team_leave.TEAM_LEFT, "team": left.team},
            actor=actor,
            folder=folder,
            title=title,
            request=request,
        ) from None
    except _MovedMeanwhile as moved:
        raise _create_refused(
            FileRequestRuleError(moved.message, 409),
            {"rule": move_out.MOVED_MEANWHILE},
            actor=actor,
            folder=folder,
            title=title,
            request=request,
        ) from None


def _create_refused(
    refused: FileRequestRuleError,
    rule: dict[str, str],
    *,
    actor: User,
    folder: Folder,
    title: str,
    request: RequestContext | None,
) -> FileRequestRuleError:
    """Record a creation refused because the folder's space changed under it (its maker
    left the team, or it was moved), after the rollback so that the refusal stays in the
    log; returns the error to raise."""
    audit.record(
        action=Action.SHARING_REQUEST_CREATE,
        outcome=Outcome.DENIED,
        actor=actor,
        target_type="files.folder",
        target_id=folder.pk,
        details={
            **audit_messages.neutral(str(refused), field="reason"),
            **rule,
            "title": title[:200],
        },
        request=request,
    )
    return refused


class _MovedMeanwhile(Exception):
    """The folder was moved, while the request was made, into a space its maker is not
    of (``move_out.moved_meanwhile``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _TeamLeft(Exception):
    """Raised inside the request's transaction, so that it rolls back: her membership of
    the folder's team ended while the request waited for it
    (``team_leave.team_left_meanwhile``)."""

    def __init__(self, team: str) -> None:
        super().__init__(team)
        self.team = team


def _file_request_row_create(
    guard: still_active.StillActive,
    *,
    actor: User,
    folder: Folder,
    token: str,
    token_hash: str,
    title: str,
    instructions: str,
    expires_at: dt.datetime,
    max_files: int,
    max_bytes: int,
    notify_owner: bool,
    request: RequestContext | None,
) -> tuple[FileRequest, str]:
    with guard.locked_transaction():
        # Removed from the folder's team at this instant: refused, or closed by the
        # removal (sharing/services/team_leave.py).
        left = team_leave.team_left_meanwhile(actor=actor, item=folder)
        if left is not None:
            raise _TeamLeft(left.name)
        file_request = FileRequest.objects.create(
            token_hash=token_hash,
            created_by=actor,
            folder=folder,
            title=title[:200],
            instructions=instructions[:5000],
            expires_at=expires_at,
            max_files=max_files,
            max_bytes=max_bytes,
            notify_owner=notify_owner,
        )
        audit.record(
            action=Action.SHARING_REQUEST_CREATE,
            actor=actor,
            target_type="sharing.request",
            target_id=file_request.pk,
            details={
                "title": file_request.title,
                "folder": folder.pk,
                "expires_at": expires_at.isoformat(),
                "max_files": max_files,
                "max_bytes": max_bytes,
            },
            request=request,
        )
        # Moved at this instant into a space she is not of: refused, or closed by the
        # move (sharing/services/move_out.py); read once the chain is held.
        space = move_out.moved_meanwhile(actor=actor, item=folder)
        if space is not None:
            raise _MovedMeanwhile(move_out.moved_meanwhile_message(name=folder.name, space=space))
    return file_request, token


def _size_text(size: int) -> str:
    from core.sizes import size_text  # decimal units, as the uploader (core/sizes.py)

    return size_text(size)


def file_request_close(
    *, actor: User, file_request: FileRequest, request: RequestContext | None = None
) -> bool:
    """No more uploads from this commit on (uploads under way are cut). Idempotent."""
    if file_request.created_by_id != actor.pk:
        raise FileRequestNotFound(str(file_request.pk))
    guard = still_active.actor_still_active_check(
        actor,
        action=Action.SHARING_REQUEST_CLOSE,
        target_type="sharing.request",
        target_id=file_request.pk,
        error=FileRequestRuleError,
        request=request,
    )
    with guard.locked_transaction():
        closed = FileRequest.objects.filter(pk=file_request.pk, closed_at__isnull=True).update(
            closed_at=timezone.now(), closed_by=actor
        )
        if closed:
            audit.record(
                action=Action.SHARING_REQUEST_CLOSE,
                actor=actor,
                target_type="sharing.request",
                target_id=file_request.pk,
                details={"title": file_request.title},
                request=request,
            )
    file_request.refresh_from_db()
    return bool(closed)


def file_requests_open_of_owner(*, owner: User) -> Any:
    """The requests offboarding closes: every one the leaver created, not yet closed."""
    return FileRequest.objects.filter(created_by=owner, closed_at__isnull=True)


def file_requests_close_for_owner(
    *, owner: User, actor: User | None = None, ids: Collection[int] | None = None
) -> int:
    """Offboarding: close every open request the leaver created (caller's transaction),
    or only those of ``ids`` among them (the offboarding plan's)."""
    now = timezone.now()
    count = 0
    still_open = file_requests_open_of_owner(owner=owner)
    if ids is not None:
        still_open = still_open.filter(pk__in=list(ids))
    for file_request in still_open.select_for_update():
        file_request.closed_at, file_request.closed_by = now, actor
        file_request.save(update_fields=["closed_at", "closed_by"])
        audit.record(
            action=Action.SHARING_REQUEST_CLOSE,
            actor=actor,
            actor_label="" if actor else "system",
            target_type="sharing.request",
            target_id=file_request.pk,
            details={"title": file_request.title, "reason": "offboarding"},
        )
        count += 1
    return count


# --- The public side: the token is the credential ------------------------------------------------


def file_request_get_open(
    *, token: str, request: RequestContext | None = None, audit_refusal: bool = True
) -> FileRequest:
    """The open request this token names, or ``FileRequestNotFound`` (unknown or
    malformed token) / ``FileRequestGone`` (closed, expired, owner gone). Refusals are
    audited. Lookup by hash, then a constant-time comparison anyway."""
    found: FileRequest | None = None
    if tokens.token_well_formed(token):
        found = (
            FileRequest.objects.select_related("created_by", "folder")
            .filter(token_hash=tokens.token_hash(token))
            .first()
        )
        if found is not None and not tokens.token_matches(token, found.token_hash):
            found = None
    if found is None:
        if audit_refusal:
            refusal_record(
                None,
                "unknown token" if tokens.token_well_formed(token) else "malformed token",
                request=request,
            )
        raise FileRequestNotFound("token")
    reason = ""
    if external_sharing_suspended():
        # Incident response: no upload from outside, nothing closed (suspension.py).
        reason = SUSPENDED
    elif found.closed_at is not None:
        reason = "closed"
    elif found.expires_at <= timezone.now():
        reason = "expired"
    elif not found.created_by.is_active:
        reason = "owner inactive"
    elif found.folder.deleted_at is not None:
        reason = "folder deleted"
    elif files_selectors.role_withholds_content(found.created_by):
        # An auditor's request left open from before the rule would keep bringing
        # outsiders' files (often patients') to someone who reads no file content:
        # suspended until an administrator has it closed (docs/accounts.md).
        reason = "auditor_suspended"
    elif not files_selectors.sharing_allowed(
        actor=found.created_by, item=found.folder, way=files_selectors.SharingWay.FILE_REQUEST
    ):
        # The one sharing rule again at every request: a team left, or a request
        # made into a folder that was only shared with its creator.
        reason = "owner may no longer share"
    if reason:
        if audit_refusal:
            refusal_record(found, reason, request=request)
        raise FileRequestGone(reason)
    return found


def _clean_uploader(name: str, email: str) -> tuple[str, str]:
    name = "".join(char for char in name if char.isprintable()).strip()[:200]
    email = email.strip().lower()[:254]
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise FileRequestRuleError(_("This e-mail address is not valid.")) from None
    return name, email


def _free_upload_name(folder: Folder, raw_name: str) -> str:
    """A name nothing in the folder has, nor any upload still under way into it: an
    upload through a request never becomes a new version of someone's file."""
    name = name_clean(raw_name)
    taken = {
        *File.objects.filter(folder=folder, deleted_at__isnull=True).values_list(
            "name_key", flat=True
        ),
        *Folder.objects.filter(parent=folder, deleted_at__isnull=True).values_list(
            "name_key", flat=True
        ),
        *(
            name_key(pending)
            for pending in UploadSession.objects.filter(
                folder=folder, completed_at__isnull=True
            ).values_list("name", flat=True)
        ),
    }
    candidate, number = name, 1
    while name_key(candidate) in taken:
        number += 1
        candidate = name_variant(name, number)
    return candidate


def _metadata(**values: str) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode('utf-8')).decode('ascii')}"
        for key, value in values.items()
    )


def _held_until() -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=int(settings.FILE_REQUEST_UPLOAD_HOLD_SECONDS))


def _lapsed(file_request_pk: int, now: dt.datetime) -> Any:
    """The unfinished uploads of a request that still count but are no longer alive."""
    return FileRequestUpload.objects.filter(
        request_id=file_request_pk, completed_at__isnull=True, holds_place=True, held_until__lte=now
    )


def _lapsed_release_locked(file_request_pk: int, *, keep: int | None = None) -> int:
    """Give back the places of the request's lapsed uploads (but ``keep``'s). The
    caller holds the request's row lock."""
    lapsed = _lapsed(file_request_pk, timezone.now())
    if keep is not None:
        lapsed = lapsed.exclude(pk=keep)
    rows = list(lapsed.select_for_update().values_list("pk", "size"))
    if not rows:
        return 0
    FileRequestUpload.objects.filter(pk__in=[pk for pk, _size in rows]).update(holds_place=False)
    FileRequest.objects.filter(pk=file_request_pk).update(
        files_reserved=F("files_reserved") - len(rows),
        bytes_reserved=F("bytes_reserved") - sum(size for _pk, size in rows),
    )
    return len(rows)


def _room_refusal(
    locked: FileRequest, length: int, *, upload: FileRequestUpload | None = None
) -> tuple[int, str, str] | None:
    """Why one more file of ``length`` bytes (``upload``, taking its place back) does not
    fit the request's limits now. What lapsed uploads keep staged counts too
    (``sharing.selectors.file_request_lapsed_staged_bytes``)."""
    if locked.files_reserved + 1 > locked.max_files:
        return (
            413,
            "file count limit",
            _("This request accepts no more files (at most %(count)s).")
            % {"count": locked.max_files},
        )
    staged = sharing_selectors.file_request_lapsed_staged_bytes(
        locked.pk, exclude=upload.pk if upload is not None else None
    )
    if locked.bytes_reserved + staged + length > locked.max_bytes:
        # Not the room left: one request link may go to several people, and the room
        # left tells each what the others sent. The limit itself is the request's own.
        return (
            413,
            "size limit",
            _(
                "This file is too large for what this request can still receive (at most "
                "%(size)s in all). Ask the person who sent you the link."
            )
            % {"size": _size_text(locked.max_bytes)},
        )
    return None


def _place_take_locked(
    locked: FileRequest, upload: FileRequestUpload
) -> tuple[int, str, str] | None:
    """Under the request's row lock: the upload holds its place until a new
    ``held_until``, taking one again if its own lapsed; or the refusal (status, audit
    reason, message)."""
    current = FileRequestUpload.objects.select_for_update().filter(pk=upload.pk).first()
    if current is None or current.completed_at is not None:
        return None
    if current.holds_place:
        FileRequestUpload.objects.filter(pk=current.pk).update(held_until=_held_until())
        return None
    _lapsed_release_locked(locked.pk, keep=current.pk)
    locked.refresh_from_db(fields=["files_reserved", "bytes_reserved"])
    refusal = _room_refusal(locked, current.size, upload=current)
    if refusal is not None:
        return refusal
    FileRequestUpload.objects.filter(pk=current.pk).update(
        holds_place=True, held_until=_held_until()
    )
    FileRequest.objects.filter(pk=locked.pk).update(
        files_reserved=F("files_reserved") + 1,
        bytes_reserved=F("bytes_reserved") + current.size,
    )
    return None


def _upload_refusal_record(
    file_request: FileRequest,
    upload: FileRequestUpload,
    reason: str,
    request: RequestContext | None = None,
    **details: Any,
) -> None:
    refusal_record(
        file_request,
        reason,
        request=request,
        name=upload.name,
        size=upload.size,
        uploader_name=upload.uploader_name,
        uploader_email=upload.uploader_email,
        **({"recipient": upload.uploader_email} if upload.uploader_email else {}),
        **details,
    )


def file_request_upload_hold(
    *,
    file_request: FileRequest,
    upload: FileRequestUpload,
    request: RequestContext | None = None,
) -> None:
    """Before a PATCH: the upload is alive, its place is held for another
    ``FILE_REQUEST_UPLOAD_HOLD_SECONDS`` (the body may take a while: the hold is taken
    again at completion, ``LandingCheck``). One whose place lapsed and went to someone
    else is refused (413, audited) while the request is full; it may try again later."""
    with transaction.atomic():
        locked = FileRequest.objects.select_for_update().get(pk=file_request.pk)
        refusal = _place_take_locked(locked, upload)
    if refusal is None:
        _room_hold(upload)
    if refusal is not None:
        status, reason, message = refusal
        _upload_refusal_record(
            file_request,
            upload,
            reason,
            request=request,
            **audit_messages.neutral(message, field="detail"),
        )
        error = tus.TusError(status, message)
        error.audited = True
        raise error


def _room_hold(upload: FileRequestUpload) -> None:
    """The owner's space holds the upload's room as long as the request its place
    (``UploadSession.room_held_until``). Outside the request's lock: a completion locks
    the upload's row before the request's. A lapsed upload resuming may find the room
    taken: completion checks the quota anyway (413 then)."""
    if upload.upload_id is not None:
        UploadSession.objects.filter(pk=upload.upload_id, completed_at__isnull=True).update(
            room_held_until=_held_until()
        )


def file_request_upload_alive(*, upload: FileRequestUpload) -> None:
    """After a PATCH committed bytes: the hold runs from now (no lock needed: only a
    place still held is moved on; giving it back is one row update too)."""
    FileRequestUpload.objects.filter(
        pk=upload.pk, completed_at__isnull=True, holds_place=True
    ).update(held_until=_held_until())
    _room_hold(upload)


def file_request_upload_start(
    *,
    file_request: FileRequest,
    length_header: str | None,
    metadata_header: str,
    request: RequestContext | None = None,
) -> tuple[UploadSession, FileRequestUpload]:
    """tus POST: reserve room in the request's limits, then create the upload as the
    owner, into the request's folder. Raises ``tus.TusError`` with the status to send."""
    metadata = tus.metadata_parse(metadata_header)
    raw_name = metadata.get("filename") or metadata.get("name") or ""
    try:
        uploader_name, uploader_email = _clean_uploader(
            metadata.get("uploader_name", ""), metadata.get("uploader_email", "")
        )
    except FileRequestRuleError as error:
        raise tus.TusError(400, str(error)) from None
    who = {"uploader_name": uploader_name, "uploader_email": uploader_email}
    if uploader_email:
        who["recipient"] = uploader_email
    length = header_count(length_header)
    if length is None:
        raise tus.TusError(
            400, _("Upload-Length is required (Upload-Defer-Length is not supported).")
        )
    refusal: tuple[int, str, str] | None = None
    try:
        with transaction.atomic():
            locked = FileRequest.objects.select_for_update().get(pk=file_request.pk)
            if locked.closed_at is not None or locked.expires_at <= timezone.now():
                refusal = (410, "closed or expired", _("This file request is closed."))
                raise tus.TusError(410, refusal[2])
            # Uploads left unfinished past their hold give their places to this one.
            if _lapsed_release_locked(locked.pk):
                locked.refresh_from_db(fields=["files_reserved", "bytes_reserved"])
            refusal = _room_refusal(locked, length)
            if refusal is not None:
                raise tus.TusError(refusal[0], refusal[2])
            try:
                name = _free_upload_name(locked.folder, raw_name)
            except FileRuleError as error:
                refusal = (400, "bad name", str(error))
                raise tus.TusError(400, str(error)) from None
            upload_held_until = _held_until()
            session = tus.upload_create(
                actor=file_request.created_by,
                length_header=str(length),
                metadata_header=_metadata(filename=name, folder=str(locked.folder_id)),
                # A file of that name may arrive before this upload completes: it then
                # lands under a free variant, never as a version of that file.
                new_file_only=True,
                # Bounded by the request's own limits (max_files): a link holder must
                # not be able to use up the clinician's own allowance of open uploads.
                open_uploads_capped=False,
            )
            upload = FileRequestUpload.objects.create(
                request=locked,
                upload=session,
                name=name,
                size=length,
                uploader_name=uploader_name,
                uploader_email=uploader_email,
                held_until=upload_held_until,
            )
            # The owner's space holds its room for as long (a new row: no lock order).
            UploadSession.objects.filter(pk=session.pk).update(room_held_until=upload_held_until)
            FileRequest.objects.filter(pk=locked.pk).update(
                files_reserved=F("files_reserved") + 1,
                bytes_reserved=F("bytes_reserved") + length,
            )
    except tus.TusError as error:
        refusal_record(
            file_request,
            refusal[1] if refusal else f"upload refused ({error.status})",
            request=request,
            name=raw_name[:255],
            size=length,
            **audit_messages.neutral(str(error), field="detail"),
            **who,
        )
        error.audited = True
        raise
    return session, upload


class LandingCheck:
    """``files.tus``'s completion check for an upload through ``file_request``: a PATCH
    that began while the request was open may still be receiving its body when the
    request closes or expires (a study takes minutes). Asked in the completing
    transaction; the request's row is locked there (after the upload's row), so a
    close either commits first and the file is refused, or waits for the file to land.
    ``reason`` says why it refused, for the audit."""

    def __init__(self, file_request: FileRequest, upload: FileRequestUpload) -> None:
        self.file_request_pk = file_request.pk
        self.upload = upload
        self.reason = ""
        self.status = 410

    def __call__(self) -> str | None:
        locked = FileRequest.objects.select_for_update().filter(pk=self.file_request_pk).first()
        if external_sharing_suspended():
            # Switched on while the body arrived: nothing from outside lands (a leak may
            # be under way); the sender tries again once the suspension is lifted.
            self.reason = f"{SUSPENDED} during upload"
            return _("File requests are not available at the moment: your file was not kept.")
        if locked is None or locked.closed_at is not None:
            self.reason = "closed during upload"
        elif locked.expires_at <= timezone.now():
            self.reason = "expired during upload"
        else:
            # Its place may have lapsed while a slow body arrived: taken again if free
            # (with the completion: both or neither), else the file is refused.
            refusal = _place_take_locked(locked, self.upload)
            if refusal is None:
                return None
            self.status, self.reason, message = refusal
            return message
        return _("This file request closed while your file was arriving: it was not kept.")

    def refusal_record(
        self, file_request: FileRequest, upload: FileRequestUpload, request: Any = None
    ) -> None:
        if self.reason:
            _upload_refusal_record(file_request, upload, self.reason, request=request)


def file_request_upload_get(
    *, file_request: FileRequest, upload_id: str
) -> tuple[UploadSession, FileRequestUpload]:
    """An upload of *this* request (404 for any other, even the same owner's)."""
    try:
        parsed = uuid.UUID(upload_id)
    except ValueError:
        raise tus.TusError(404, _("No such upload.")) from None
    upload = FileRequestUpload.objects.filter(request=file_request, upload_id=parsed).first()
    if upload is None:
        raise tus.TusError(404, _("No such upload."))
    session = tus.upload_get_for_actor(actor=file_request.created_by, upload_id=str(parsed))
    return session, upload


def file_request_upload_settle(
    *,
    file_request: FileRequest,
    upload: FileRequestUpload,
    session: UploadSession | None,
    request: RequestContext | None = None,
) -> None:
    """After any tus call: record a completion once (audited, owner notified), or give
    the reservation back if the upload is gone without completing (refused at
    assembly: quota, name)."""
    if session is not None and session.completed_at is not None and session.version_id:
        with transaction.atomic():
            # The name it landed under: a free variant if another file took the one
            # chosen at creation while the bytes were arriving.
            upload.name = session.name
            marked = FileRequestUpload.objects.filter(
                pk=upload.pk, completed_at__isnull=True
            ).update(completed_at=timezone.now(), version_id=session.version_id, name=upload.name)
            if not marked:
                return
            audit.record(
                action=Action.SHARING_REQUEST_UPLOAD,
                actor_label=_label(file_request),
                target_type="sharing.request",
                target_id=file_request.pk,
                details={
                    "name": upload.name,
                    "size": upload.size,
                    "version": str(session.version_id),
                    "folder": file_request.folder_id,
                    "uploader_name": upload.uploader_name,
                    "uploader_email": upload.uploader_email,
                    "recipient": upload.uploader_email,
                },
                request=request,
            )
            if file_request.notify_owner:
                request_id = file_request.pk
                transaction.on_commit(
                    lambda: owner_notification_schedule(request_id=request_id), robust=True
                )
        return
    if not UploadSession.objects.filter(pk=upload.upload_id or uuid.uuid4()).exists():
        reservation_release(upload_pk=upload.pk)


def reservation_release(*, upload_pk: int) -> bool:
    """Give back what an upload that will never complete had reserved; idempotent."""
    request_id = (
        FileRequestUpload.objects.filter(pk=upload_pk).values_list("request_id", flat=True).first()
    )
    if request_id is None:
        return False
    with transaction.atomic():
        # The request's row first, as every change of its counts (no deadlock with a
        # creation, which locks it before making an upload's row).
        FileRequest.objects.select_for_update().filter(pk=request_id).first()
        upload = (
            FileRequestUpload.objects.select_for_update()
            .filter(pk=upload_pk, completed_at__isnull=True)
            .first()
        )
        if upload is None:
            return False
        if upload.holds_place:  # a lapsed one gave its place back already
            FileRequest.objects.filter(pk=upload.request_id).update(
                files_reserved=F("files_reserved") - 1,
                bytes_reserved=F("bytes_reserved") - upload.size,
            )
        upload.delete()
    return True


def file_request_upload_terminate(
    *,
    file_request: FileRequest,
    session: UploadSession,
    upload: FileRequestUpload,
) -> None:
    """tus DELETE: the uploader gave up this file; its room is given back. Two
    transactions: deleting the session updates the upload's row, which must not be
    locked before the request's (the lock order of every change of the counts); one
    killed in between is given back by the hourly sweep (``upload`` is then null)."""
    tus.upload_terminate(actor=file_request.created_by, session=session)
    reservation_release(upload_pk=upload.pk)


def reservations_abandoned_release() -> int:
    """Beat: uploads whose tus session expired (deleted by the files app) without
    completing give their reservation back, and those left unfinished past their hold
    their place (they may still resume while a place is free)."""
    abandoned = FileRequestUpload.objects.filter(
        completed_at__isnull=True, upload__isnull=True
    ).values_list("pk", flat=True)
    count = sum(int(reservation_release(upload_pk=pk)) for pk in list(abandoned))
    lapsed_requests = (
        FileRequestUpload.objects.filter(
            completed_at__isnull=True, holds_place=True, held_until__lte=timezone.now()
        )
        .values_list("request_id", flat=True)
        .distinct()
    )
    for request_id in list(lapsed_requests):
        with transaction.atomic():
            if FileRequest.objects.select_for_update().filter(pk=request_id).exists():
                count += _lapsed_release_locked(request_id)
    return count


# --- Owner notification (batched) ----------------------------------------------------------------


def _notify_key(request_id: int) -> str:
    # The row's creation time too: ids repeat across databases sharing one cache.
    created = FileRequest.objects.filter(pk=request_id).values_list("created_at", flat=True).first()
    stamp = created.timestamp() if created else 0
    return f"sharing:request-notify:{request_id}:{stamp}"


def owner_notification_schedule(*, request_id: int) -> None:
    """The first upload of a batch schedules one e-mail ``NOTIFY_DELAY_SECONDS`` later
    (the e-mail carries no secret: the broker may carry it)."""
    from sharing import tasks

    since = timezone.now() - dt.timedelta(seconds=5)
    if cache.add(_notify_key(request_id), since.isoformat(), timeout=NOTIFY_DELAY_SECONDS * 3):
        tasks.file_request_uploads_notify.apply_async(
            args=(request_id, since.isoformat()), countdown=NOTIFY_DELAY_SECONDS
        )


@dataclass(frozen=True)
class NotifyResult:
    sent: bool
    files: int


def owner_notification_send(*, request_id: int, since: str) -> NotifyResult:
    """E-mail the owner what arrived since ``since`` (ISO date-time)."""
    from sharing.services.emails import email_send

    cache.delete(_notify_key(request_id))
    file_request = (
        FileRequest.objects.select_related("created_by", "folder").filter(pk=request_id).first()
    )
    if file_request is None or not file_request.created_by.is_active:
        return NotifyResult(sent=False, files=0)
    moment = dt.datetime.fromisoformat(since)
    arrived = list(file_request.uploads.filter(completed_at__gte=moment).order_by("completed_at"))
    if not arrived:
        return NotifyResult(sent=False, files=0)
    owner = file_request.created_by
    context = {
        "file_request": file_request,
        "uploads": arrived,
        "total_bytes": sum(upload.size for upload in arrived),
        "owner_name": owner.get_full_name() or owner.email,
        "folder_url": settings.SITE_URL.rstrip("/")
        + reverse("files:folder", args=[file_request.folder_id]),
        "request_url": settings.SITE_URL.rstrip("/")
        + reverse("sharing:request", args=[file_request.pk]),
    }
    language = owner.email_language
    with translation.override(language):
        # Not the request's title: it often names a patient, and a subject is what lock
        # screens, mail logs and shared mailboxes show (the body says which request).
        subject = _("Files arrived through your file request")
    email_send(
        to=owner.email,
        subject=subject,
        template="request_upload_received",
        context=context,
        language=language,
    )
    return NotifyResult(sent=True, files=len(arrived))
