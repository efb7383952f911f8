"""Previews in the browser (docs/previews.md): HTTP only.

The rules (what may be previewed and how) are in ``files.previews``; the access check
is the caller's selector (a person) or link check (sharing/views/link_public.py). The
helpers below (``preview_context``, ``rendition_response``, ``stream_response``) are
shared by both ways in, so a recipient of a link gets exactly the same treatment.

The page itself runs only our own scripts (static/securedrive/preview.js and PDF.js,
vendored): the CSP of the preview page alone allows a worker from 'self', for PDF.js.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from csp.constants import SELF
from csp.decorators import csp_replace
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from accounts.models import User
from accounts.permissions import signed_in_user
from audit.actions import Action
from audit.context import context_from_request
from audit.models import Outcome
from files import previews, selectors, services, thumbnails
from files.crypto import BlobIntegrityError
from files.downloads import (
    DOWNLOAD_CSP,
    AccessRecheck,
    IntegrityFailureResponse,
    version_download_response,
    version_refusal,
)
from files.envelope import EnvelopeError
from files.errors import NotDownloadableError
from files.models import File, FileVersion, VersionThumbnail
from files.previews import PreviewKind, PreviewUnavailable
from files.storage import BlobMissingError
from files.views.browser import not_found_as_404

# PDF.js runs its parser in a module worker loaded from our static files, and <video>
# and <audio> load the stream: only the preview page's CSP allows a worker and media,
# from 'self' (the site's default is worker-src 'none' and media-src 'none').
_worker_from_self = csp_replace({"worker-src": [SELF], "media-src": [SELF]})
_View = TypeVar("_View", bound=Callable[..., HttpResponseBase])


def preview_page_csp(view: _View) -> _View:
    """The preview page's CSP: the site's, plus a worker (PDF.js) and media from 'self'."""
    return cast(_View, _worker_from_self(view))


# Where a browser puts a response it navigated to: the content endpoints are for the
# preview page's <img>, <video> and fetch() only. Opening them in a tab is refused, so
# a "view only" link does not turn into a download by a right-click "open in new tab"
# (a determined recipient still keeps what reached the browser: docs/sharing-links.md).
NAVIGATION_DESTINATIONS = frozenset({"document", "iframe", "frame", "embed", "object"})

_PLAIN = "text/plain; charset=utf-8"
logger = logging.getLogger(__name__)


def _refused(message: str, status: int) -> HttpResponse:
    response = HttpResponse(message, status=status, content_type=_PLAIN)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


def _view_denied(
    request: HttpRequest,
    *,
    version: FileVersion,
    actor: User | None,
    actor_label: str,
    audit_details: Mapping[str, object] | None,
    reason: str,
) -> None:
    """The refused view's audit event (which file, who, why)."""
    previews.version_view_record(
        version=version,
        actor=actor,
        actor_label=actor_label,
        context=context_from_request(request),
        outcome=Outcome.DENIED,
        extra=audit_details,
        reason=reason,
    )


def _navigation_refused(
    request: HttpRequest,
    *,
    version: FileVersion,
    actor: User | None,
    actor_label: str,
    audit_details: Mapping[str, object] | None,
) -> HttpResponse | None:
    if request.headers.get("Sec-Fetch-Dest", "").lower() not in NAVIGATION_DESTINATIONS:
        return None
    _view_denied(
        request,
        version=version,
        actor=actor,
        actor_label=actor_label,
        audit_details=audit_details,
        reason="navigation",
    )
    return _refused(_("This address only works inside the preview page."), 403)


def _integrity_failed(
    request: HttpRequest, *, version: FileVersion, actor: User | None, error: Exception
) -> HttpResponse:
    services.version_integrity_failure_record(
        version=version,
        actor=actor,
        error=error,
        during="preview",
        request=context_from_request(request),
    )
    return IntegrityFailureResponse()


def _not_servable(
    request: HttpRequest,
    *,
    version: FileVersion,
    actor: User | None,
    actor_label: str,
    audit_details: Mapping[str, object] | None,
) -> NotDownloadableError | None:
    refusal = version_refusal(version)
    if refusal is not None:
        _view_denied(
            request,
            version=version,
            actor=actor,
            actor_label=actor_label,
            audit_details=audit_details,
            reason=refusal.reason,
        )
    return refusal


def preview_context(
    request: HttpRequest,
    *,
    file: File,
    version: FileVersion | None,
    actor: User | None,
    actor_label: str = "",
    audit_details: Mapping[str, object] | None = None,
) -> dict[str, Any]:
    """What the preview page shows. Text is read here (and audited as viewed); images,
    PDF and media are fetched by the page from the rendition and stream addresses."""
    context: dict[str, Any] = {
        "file": file,
        "version": version,
        "kind": str(PreviewKind.NONE),
        # A folder PDF.js fetches fonts from by name (unhashed names: whitenoise serves them).
        "pdf_fonts_url": f"{settings.STATIC_URL}vendor/pdfjs/standard_fonts/",
    }
    if version is None:
        context["message"] = _("This file has no content yet.")
        return context
    refusal = version_refusal(version)
    if refusal is not None:
        context["message"] = str(refusal)
        return context
    kind = previews.preview_kind(version, file.name)
    context["kind"] = str(kind)
    if kind == PreviewKind.TEXT:
        try:
            text = previews.version_text_preview(version, file.name)
        except (BlobIntegrityError, BlobMissingError, EnvelopeError) as error:
            _integrity_failed(request, version=version, actor=actor, error=error)
            context.update(
                kind=str(PreviewKind.NONE), message=_("This file failed its integrity check.")
            )
            return context
        previews.version_view_record(
            version=version,
            actor=actor,
            actor_label=actor_label,
            context=context_from_request(request),
            extra=audit_details,
            kind=str(kind),
            bytes=min(version.size, previews.text_max_bytes()),
        )
        context["text"] = text
    elif kind == PreviewKind.NONE:
        context["message"] = _(
            "This type of file cannot be shown in the browser (it could contain active "
            "content, or it is not a format the preview knows). Download it to open it."
        )
    return context


def rendition_response(
    request: HttpRequest,
    *,
    version: FileVersion,
    actor: User | None,
    actor_label: str = "",
    audit_details: Mapping[str, object] | None = None,
) -> HttpResponse:
    """A re-encoded image of ``version`` (never its bytes), audited as viewed."""
    refused = _navigation_refused(
        request, version=version, actor=actor, actor_label=actor_label, audit_details=audit_details
    )
    if refused is not None:
        return refused
    refusal = _not_servable(
        request, version=version, actor=actor, actor_label=actor_label, audit_details=audit_details
    )
    if refusal is not None:
        return _refused(str(refusal), refusal.status_code)
    context = context_from_request(request)
    try:
        rendition = previews.version_image_rendition(version)
    except PreviewUnavailable as unavailable:
        _view_denied(
            request,
            version=version,
            actor=actor,
            actor_label=actor_label,
            audit_details=audit_details,
            reason=unavailable.reason,
        )
        return _refused(_("This image cannot be shown in the browser; download it."), 422)
    except (BlobIntegrityError, BlobMissingError, EnvelopeError) as error:
        return _integrity_failed(request, version=version, actor=actor, error=error)
    previews.version_view_record(
        version=version,
        actor=actor,
        actor_label=actor_label,
        context=context,
        extra=audit_details,
        kind=str(PreviewKind.IMAGE),
        rendition=f"{rendition.width}x{rendition.height}",
    )
    response = HttpResponse(rendition.content, content_type=rendition.content_type)
    response["Content-Disposition"] = "inline"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = DOWNLOAD_CSP
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


def stream_response(
    request: HttpRequest,
    *,
    version: FileVersion,
    actor: User | None,
    actor_label: str = "",
    audit_details: Mapping[str, object] | None = None,
    access_recheck: AccessRecheck | None = None,
) -> HttpResponseBase:
    """A PDF (for PDF.js) or a video/audio stream with Range, under a fixed type.

    Raises ``NotDownloadableError`` (audited as a refused view) like a download.
    ``access_recheck`` is asked again while the body streams, as for a download: a
    link's recipient passes the link's (sharing.services.link_downloads); a signed-in
    ``actor`` is asked ``reader_refusal`` without one."""
    refused = _navigation_refused(
        request, version=version, actor=actor, actor_label=actor_label, audit_details=audit_details
    )
    if refused is not None:
        return refused
    refusal = _not_servable(
        request, version=version, actor=actor, actor_label=actor_label, audit_details=audit_details
    )
    if refusal is not None:
        raise refusal
    served_as = previews.stream_type(version)
    if served_as is None:
        _view_denied(
            request,
            version=version,
            actor=actor,
            actor_label=actor_label,
            audit_details=audit_details,
            reason="not_streamable",
        )
        return _refused(_("This file cannot be shown in the browser; download it."), 422)
    return version_download_response(
        request=request,
        actor=actor,
        actor_label=actor_label,
        version=version,
        audit_details=audit_details,
        action=Action.FILES_VERSION_VIEW,
        served_as=served_as,
        access_recheck=access_recheck,
    )


# --- A person's previews: /files/<id>/preview/ --------------------------------------------


def _current_version(actor: User, file: File) -> FileVersion:
    if file.current_version_id is None:
        raise Http404
    return selectors.version_get_for_actor(
        actor=actor, file_id=file.pk, version_id=file.current_version_id
    )


@preview_page_csp
@login_required
@require_GET
@not_found_as_404
def file_preview(request: HttpRequest, file_id: int) -> HttpResponse:
    me = signed_in_user(request)
    file = selectors.file_get_for_actor(actor=me, file_id=file_id)
    version = _current_version(me, file) if file.current_version_id else None
    context = preview_context(request, file=file, version=version, actor=me)
    context.update(
        back_url=reverse("files:file", args=[file.pk]),
        download_url=reverse("files:download", args=[file.pk]),
        rendition_url=reverse("files:preview_rendition", args=[file.pk]),
        stream_url=reverse("files:preview_stream", args=[file.pk]),
    )
    return render(request, "files/preview.html", context)


@login_required
@require_GET
@not_found_as_404
def file_preview_rendition(request: HttpRequest, file_id: int) -> HttpResponse:
    me = signed_in_user(request)
    file = selectors.file_get_for_actor(actor=me, file_id=file_id)
    return rendition_response(request, version=_current_version(me, file), actor=me)


@login_required
@require_http_methods(["GET", "HEAD"])
@not_found_as_404
def file_preview_stream(request: HttpRequest, file_id: int) -> HttpResponseBase:
    me = signed_in_user(request)
    file = selectors.file_get_for_actor(actor=me, file_id=file_id)
    try:
        return stream_response(request, version=_current_version(me, file), actor=me)
    except NotDownloadableError as error:
        return _refused(str(error), error.status_code)


# --- Thumbnails: /files/<id>/thumbnail/ -----------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@login_required
@require_GET
@not_found_as_404
def file_thumbnail(request: HttpRequest, file_id: int) -> HttpResponse:
    """The current version's thumbnail (404 while there is none, or when the version may
    not be served), audited once an hour per person and version (files/thumbnails.py)."""
    me = signed_in_user(request)
    file = selectors.file_get_for_actor(actor=me, file_id=file_id)
    version = _current_version(me, file)
    thumbnail = VersionThumbnail.objects.filter(version=version).first()
    if thumbnail is None or version_refusal(version) is not None:
        raise Http404
    try:
        picture = thumbnails.thumbnail_picture_read(thumbnail)
    except PreviewUnavailable as error:
        raise Http404 from error
    except (BlobIntegrityError, BlobMissingError, EnvelopeError):
        logger.exception("thumbnail of version %s failed its integrity check", version.pk)
        raise Http404 from None
    thumbnails.thumbnail_view_record(version=version, actor=me, request=request)
    content_type = "image/png" if picture.startswith(_PNG_SIGNATURE) else "image/jpeg"
    response = HttpResponse(picture, content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    response["Content-Security-Policy"] = DOWNLOAD_CSP
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response
