"""Previews for a link's recipient, under /s/<token>/files/<id>/preview/ (no account).

The same gate as the link's downloads (``link_gate``: token, expiry, revocation,
password and e-mail proofs of this session), the same choice of version (a transfer's
sent version, else the current one) and the same preview rules and responses as a
person's (``files.views.preview``). A preview is never counted as a download; it is
audited as ``sharing.link.view`` (the page) and ``files.version.view`` (the content,
with the link and the recipient). A link whose download limit is reached shows no more
previews either. A "view only" link is previewed exactly the same way; only its download
and ZIP addresses refuse (sharing/services/link_downloads.py). A PDF or a video under
way is checked again while it streams, as a download is (``share_link_recheck``): the
link withdrawn or expired, the file quarantined, and the stream stops.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from audit.actions import Action
from files.errors import NotDownloadableError
from files.lineage import version_lineage_details
from files.models import File, FileVersion
from files.views import preview as file_preview
from sharing.models import ShareLink
from sharing.services import link_access, link_downloads
from sharing.services.link_access import AccessOutcome, link_label, link_state_now
from sharing.services.links import LinkState
from sharing.views.link_public import file_id_bounded, link_gate, link_refused


def _previewable(
    request: HttpRequest, token: str, file_id: int
) -> tuple[ShareLink, File, FileVersion | None] | HttpResponse:
    access = link_gate(request, token)
    if isinstance(access, HttpResponse):
        return access
    link = access.link
    assert link is not None  # noqa: S101  (a live access)
    file_id = file_id_bounded(file_id)
    file = link_downloads.share_link_file(link, file_id)
    if file is None:
        link_access.access_record(
            request=request,
            link=link,
            outcome=AccessOutcome.UNKNOWN,
            action=Action.SHARING_LINK_VIEW,
            file=file_id,
        )
        return link_refused(request, AccessOutcome.UNKNOWN)
    if link_state_now(link) == LinkState.EXHAUSTED:
        link_access.access_record(
            request=request,
            link=link,
            outcome=AccessOutcome.LIMIT_REACHED,
            action=Action.SHARING_LINK_VIEW,
            file=file.pk,
        )
        return link_refused(request, AccessOutcome.LIMIT_REACHED)
    return link, file, link_downloads.share_link_version_served(link, file)


def _recipient(link: ShareLink) -> dict[str, object]:
    details: dict[str, object] = {"link": link.pk, "recipient": link.recipient_email}
    if link.transfer_id is not None:
        details["transfer"] = link.transfer_id
    return details


@file_preview.preview_page_csp
@never_cache
@require_GET
def link_file_preview(request: HttpRequest, token: str, file_id: int) -> HttpResponse:
    found = _previewable(request, token, file_id)
    if isinstance(found, HttpResponse):
        return found
    link, file, version = found
    link_access.access_record(
        request=request,
        link=link,
        outcome=AccessOutcome.OK,
        action=Action.SHARING_LINK_VIEW,
        **(version_lineage_details(version) if version is not None else {"file": file.pk}),
    )
    context = file_preview.preview_context(
        request,
        file=file,
        version=version,
        actor=None,
        actor_label=link_label(link),
        audit_details=_recipient(link),
    )
    context.update(
        token=token,
        link=link,
        back_url=reverse("share_link:open", args=[token]),
        download_url="" if link.view_only else reverse("share_link:file", args=[token, file.pk]),
        rendition_url=reverse("share_link:preview_rendition", args=[token, file.pk]),
        stream_url=reverse("share_link:preview_stream", args=[token, file.pk]),
    )
    return render(request, "sharing/public/preview.html", context)


@never_cache
@require_GET
def link_file_rendition(request: HttpRequest, token: str, file_id: int) -> HttpResponse:
    found = _previewable(request, token, file_id)
    if isinstance(found, HttpResponse):
        return found
    link, _file, version = found
    if version is None:
        return link_refused(request, AccessOutcome.GONE)
    return file_preview.rendition_response(
        request,
        version=version,
        actor=None,
        actor_label=link_label(link),
        audit_details=_recipient(link),
    )


@never_cache
@require_http_methods(["GET", "HEAD"])
def link_file_stream(request: HttpRequest, token: str, file_id: int) -> HttpResponseBase:
    found = _previewable(request, token, file_id)
    if isinstance(found, HttpResponse):
        return found
    link, _file, version = found
    if version is None:
        return link_refused(request, AccessOutcome.GONE)
    try:
        return file_preview.stream_response(
            request,
            version=version,
            actor=None,
            actor_label=link_label(link),
            audit_details=_recipient(link),
            # A video or PDF under way stops when the link is withdrawn, expires or the
            # file is quarantined, as a download does (not an hour of video later).
            access_recheck=link_downloads.share_link_recheck(link.pk),
        )
    except NotDownloadableError as error:
        return HttpResponse(
            str(error), status=error.status_code, content_type="text/plain; charset=utf-8"
        )
