"""What someone answering a file request sees and uses, under /r/<token>/ (no account).

The token in the URL is the only credential: it names one open request, whose owner
the uploads are made for (``sharing.services.file_requests``). The page and the tus
endpoint are rate limited per client address; closed and expired requests answer 410,
unknown tokens 404 (both audited). The tus views mirror ``files.views.tus`` but
authenticate by the token and reach only the uploads of this request. No cookie is
involved, so no CSRF token is needed (and a cross-site page cannot use a token it does
not know).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import render
from django.utils.http import http_date
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from audit import context as audit_context
from audit import floods
from audit import messages as audit_messages
from audit.actions import Action
from audit.context import client_ip
from core.ratelimit import address_counted, rate_limit_hit
from files import tus
from files.models import UploadSession
from files.request_body import body_readinto
from sharing import selectors as sharing_selectors
from sharing.errors import FileRequestGone, FileRequestNotFound
from sharing.models import FileRequest
from sharing.services import file_requests, suspension

# The page: a person opens it a few times; a guesser hits the limit at once.
PAGE_RATE = "60/m"
# The tus endpoint: one PATCH per 64 MiB chunk, several files in parallel.
UPLOAD_RATE = "600/m"


logger = logging.getLogger(__name__)


def _limited(request: HttpRequest, *, group: str, rate: str, method: str = "") -> bool:
    """Fails open: the request's token carries 256 bits and cannot be guessed; these
    limits keep the load of a scanner or a runaway client down (docs/rate-limits.md).

    A client over the limit is on record once per window and limiter, then counted
    (audit/floods.py): every audit event takes the hash chain's one lock, and anyone on
    the internet could otherwise write thousands a second into a log kept for years."""
    address = client_ip(request)
    key = address_counted(address)  # an IPv6 client's /64 is one client
    if not rate_limit_hit(group=group, key=key, rate=rate, fail_open=True):
        return False
    details: dict[str, Any] = {"method": method} if method else {}
    floods.rate_limited_record(
        endpoint=group,
        source=key,
        ip_address=address,
        actor_label="anonymous",
        record=lambda flood: file_requests.refusal_record(None, "rate limited", **details, **flood),
    )
    return True


def _private(response: HttpResponseBase) -> HttpResponseBase:
    """The URL holds a capability: never cached, never sent on as a Referer."""
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


# --- The page -------------------------------------------------------------------------------


# GET and HEAD: a mail scanner's HEAD gets the page's status and headers. The page
# records nothing when it opens (only refusals are), so a HEAD counts nothing either.
@require_safe
def request_open(request: HttpRequest, token: str) -> HttpResponseBase:
    if _limited(request, group="sharing.request.page", rate=PAGE_RATE):
        return _private(
            render(
                request, "sharing/requests/public_refused.html", {"reason": "limited"}, status=429
            )
        )
    try:
        file_request = file_requests.file_request_get_open(token=token)
    except FileRequestNotFound:
        return _private(
            render(
                request, "sharing/requests/public_refused.html", {"reason": "unknown"}, status=404
            )
        )
    except FileRequestGone as gone:
        # Suspended by the administrators: "not available for now", never "closed".
        reason = "suspended" if str(gone) == suspension.REASON else "gone"
        return _private(
            render(request, "sharing/requests/public_refused.html", {"reason": reason}, status=410)
        )
    # One request link may go to several people (a lab, a patient and her GP): what
    # room is left would tell each what the others sent. The page shows the request's
    # own limits and whether it takes more; the counts are the owner's
    # (sharing/views/file_requests.py).
    files_taken, bytes_taken = sharing_selectors.file_request_places(file_request)
    context = {
        "file_request": file_request,
        "token": token,
        "accepts_more": files_taken < file_request.max_files
        and bytes_taken < file_request.max_bytes,
        "owner_name": file_request.created_by.get_full_name() or file_request.created_by.email,
    }
    return _private(render(request, "sharing/requests/public.html", context))


# --- The tus endpoint -------------------------------------------------------------------------

TusView = Callable[..., HttpResponse]


def _tus_response(
    status: int, headers: dict[str, str] | None = None, detail: str = ""
) -> HttpResponse:
    response: HttpResponse = (
        JsonResponse({"detail": detail}, status=status) if detail else HttpResponse(status=status)
    )
    for name, value in (headers or {}).items():
        response[name] = value
    response["Tus-Resumable"] = tus.TUS_VERSION
    _private(response)
    return response


def _upload_headers(session: UploadSession) -> dict[str, str]:
    headers = {"Upload-Offset": str(session.offset), "Upload-Length": str(session.length)}
    if session.completed_at is None:
        headers["Upload-Expires"] = http_date(session.expires_at.timestamp())
    return headers


def _discovery() -> HttpResponse:
    return _tus_response(
        204,
        {
            "Tus-Version": tus.TUS_VERSION,
            "Tus-Extension": tus.TUS_EXTENSIONS,
            "Tus-Max-Size": str(settings.TUS_MAX_SIZE_BYTES),
            "Tus-Checksum-Algorithm": ",".join(tus.CHECKSUM_ALGORITHMS),
        },
    )


def _content_length(request: HttpRequest) -> int:
    return tus.content_length_of(request.META)


def _is_offset_stream(request: HttpRequest) -> bool:
    content_type = str(request.META.get("CONTENT_TYPE", ""))
    return content_type.split(";")[0].strip().lower() == tus.OFFSET_CONTENT_TYPE


def tus_endpoint(view: Callable[..., HttpResponse]) -> TusView:
    """Rate limit, protocol version, the token → an open request, errors → tus statuses."""

    @csrf_exempt
    @wraps(view)
    def wrapper(request: HttpRequest, token: str, **kwargs: Any) -> HttpResponse:
        if request.method == "OPTIONS":
            return _discovery()
        if _limited(
            request,
            group=Action.SHARING_REQUEST_UPLOAD,
            rate=UPLOAD_RATE,
            method=str(request.method),
        ):
            # On record as the page's 429 (before the token is looked up: no request).
            return _tus_response(429, detail=_("Too many requests: wait a minute."))
        if request.headers.get("Tus-Resumable") != tus.TUS_VERSION:
            return _tus_response(
                412, {"Tus-Version": tus.TUS_VERSION}, "Tus-Resumable: 1.0.0 is required."
            )
        try:
            file_request = file_requests.file_request_get_open(token=token)
        except FileRequestNotFound:
            return _tus_response(404, detail=_("No such file request."))
        except FileRequestGone as gone:
            if str(gone) == suspension.REASON:
                return _tus_response(410, detail=_("This file request is not available now."))
            return _tus_response(410, detail=_("This file request is closed."))
        # The uploads are made as the request's owner: every event says through what.
        audit_context.acting_through(file_requests.actor_label(file_request))
        try:
            return view(request, file_request, **kwargs)
        except tus.TusError as error:
            if not getattr(error, "audited", False):
                # Someone outside sent something the protocol refuses (a wrong offset,
                # an upload id not of this request, a corrupted chunk): on record too.
                file_requests.refusal_record(
                    file_request,
                    f"upload refused ({error.status})",
                    method=str(request.method),
                    **audit_messages.neutral(str(error), field="detail"),
                )
            return _tus_response(error.status, detail=_told_outside(error))

    return cast(TusView, wrapper)


def _told_outside(error: tus.TusError) -> str:
    """What the sender is told. Uploads are made as the request's owner, so a refusal
    by her space's quota is worded for her: how much room her space has left, "delete
    files or empty the trash". The sender learns neither; only what to do (the audit
    keeps the quota's own words)."""
    if error.quota:
        return _(
            "This file cannot be received: the person who asked you for it has no room "
            "left for it. Let them know; nothing was kept."
        )
    return str(error)


def method_override(view: Callable[..., HttpResponse]) -> TusView:
    """``X-HTTP-Method-Override`` (tus 1.0) as ``files.tus_views`` honours it: a POST
    that means PATCH, DELETE or HEAD is dispatched as that method."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            request.method = tus.method_overridden(
                request.method or "", request.headers.get("X-HTTP-Method-Override")
            )
        except tus.TusError as error:
            return _tus_response(error.status, detail=str(error))
        return view(request, *args, **kwargs)

    return cast(TusView, wrapper)


@method_override
@require_http_methods(["OPTIONS", "POST"])
@tus_endpoint
def uploads(request: HttpRequest, file_request: FileRequest) -> HttpResponse:
    body_length = _content_length(request)
    if body_length and not _is_offset_stream(request):
        raise tus.TusError(415, f"Send upload data as {tus.OFFSET_CONTENT_TYPE}.")
    session, upload = file_requests.file_request_upload_start(
        file_request=file_request,
        length_header=request.headers.get("Upload-Length"),
        metadata_header=request.headers.get("Upload-Metadata", ""),
    )
    if body_length or session.length == 0:
        check = file_requests.LandingCheck(file_request, upload)
        try:
            session = tus.upload_append_at_creation(
                actor=file_request.created_by,
                session=session,
                content_length=body_length,
                read=request.read,
                readinto=body_readinto(request),
                checksum_header=request.headers.get("Upload-Checksum"),
                completion_check=check,
            )
        except tus.TusError as error:
            error.audited = bool(check.reason)  # recorded below, with its reason
            raise
        finally:
            check.refusal_record(file_request, upload)
            _settle(file_request, upload)
    response = _tus_response(201, _upload_headers(session))
    response["Location"] = request.build_absolute_uri(f"{session.pk}/")
    return response


def _settle(file_request: FileRequest, upload: Any) -> None:
    session = (
        UploadSession.objects.filter(pk=upload.upload_id).first() if upload.upload_id else None
    )
    file_requests.file_request_upload_settle(
        file_request=file_request, upload=upload, session=session
    )


@method_override
@require_http_methods(["OPTIONS", "HEAD", "PATCH", "DELETE"])
@tus_endpoint
def upload(request: HttpRequest, file_request: FileRequest, upload_id: str) -> HttpResponse:
    session, record = file_requests.file_request_upload_get(
        file_request=file_request, upload_id=upload_id
    )
    owner = file_request.created_by
    # The request may close or expire while a body arrives: checked again at completion.
    check = file_requests.LandingCheck(file_request, record)
    if request.method == "HEAD":
        try:
            session = tus.upload_complete_if_stranded(
                actor=owner, session=session, completion_check=check
            )
        except tus.TusError as error:
            error.audited = bool(check.reason)
            raise
        finally:
            check.refusal_record(file_request, record)
            _settle(file_request, record)
        return _tus_response(200, _upload_headers(session))
    if request.method == "DELETE":
        file_requests.file_request_upload_terminate(
            file_request=file_request, session=session, upload=record
        )
        return _tus_response(204)
    if not _is_offset_stream(request):
        raise tus.TusError(415, f"Send upload data as {tus.OFFSET_CONTENT_TYPE}.")
    # Alive: its place is held on (or taken again, if it lapsed and one is free).
    file_requests.file_request_upload_hold(file_request=file_request, upload=record)
    try:
        result = tus.upload_append(
            actor=owner,
            session=session,
            offset_header=request.headers.get("Upload-Offset"),
            content_length=_content_length(request),
            read=request.read,
            readinto=body_readinto(request),
            checksum_header=request.headers.get("Upload-Checksum"),
            completion_check=check,
        )
    except tus.TusError as error:
        error.audited = bool(check.reason)
        raise
    finally:
        check.refusal_record(file_request, record)
        _settle(file_request, record)
    if not result.completed:
        file_requests.file_request_upload_alive(upload=record)
    return _tus_response(204, _upload_headers(result.session))
