"""Previews for a link's recipient, under /s/<token>/files/<id>/preview/ (no account).

The same gate as the link's downloads (``link_gate``: token, expiry, revocation,
password and e-mail proofs of this session), the same choice of version (a transfer's
sent version, else the current one) and the same preview rules and responses as a
person's (``files.views.preview``). **A preview is a use of the link**, as a download
is (``link_downloads.share_link_preview_admit``): the first request of a sitting (the
page, or its image or stream) counts one of the link's views and downloads and leaves a
receipt; the rest of that sitting in this browser does not count again. Once the limit
is reached, no other browser is shown anything. Audited as ``sharing.link.view`` (the
page, with ``use: preview``, the receipt and whether it counted) and
``files.version.view`` (the content, with the link and the recipient). A "view only"
link is previewed exactly the same way; only its download and ZIP addresses refuse
(sharing/services/link_downloads.py). A PDF or a video under way is checked again while
it streams, as a download is (``share_link_recheck``): the link withdrawn or expired,
the file quarantined, and the stream stops.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from audit.actions import Action
from files.downloads import version_refusal
from files.errors import NotDownloadableError
from files.lineage import version_lineage_details
from files.models import File, FileVersion
from files.previews import PreviewKind, preview_kind
from files.views import preview as file_preview
from sharing.models import ShareLink
from sharing.services import link_access, link_downloads
from sharing.services.link_access import Access, AccessOutcome, link_label, link_state_now
from sharing.services.link_downloads import PreviewUse
from sharing.services.links import LinkState
from sharing.views.link_public import file_id_bounded, link_gate, link_refused


def _previewable(
    request: HttpRequest, token: str, file_id: int
) -> tuple[Access, File, FileVersion | None] | HttpResponse:
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
    version = link_downloads.share_link_version_served(link, file)
    if version is None and link_state_now(link) == LinkState.EXHAUSTED:
        return _refused_as_used_up(request, link, file, None)
    return access, file, version


def _refused_as_used_up(
    request: HttpRequest, link: ShareLink, file: File, version: FileVersion | None
) -> HttpResponse:
    link_access.access_record(
        request=request,
        link=link,
        outcome=AccessOutcome.LIMIT_REACHED,
        action=Action.SHARING_LINK_VIEW,
        use="preview",
        **(version_lineage_details(version) if version is not None else {"file": file.pk}),
    )
    return link_refused(request, AccessOutcome.LIMIT_REACHED)


def _admitted(
    request: HttpRequest, access: Access, file: File, version: FileVersion, *, count: bool
) -> PreviewUse | HttpResponse:
    """This preview request as one use of the link (or part of a sitting already
    counted), or the 410 "limit reached" page, audited."""
    use = link_downloads.share_link_preview_admit(
        request=request, access=access, file=file, version=version, count=count
    )
    if isinstance(use, AccessOutcome):
        assert access.link is not None  # noqa: S101
        return _refused_as_used_up(request, access.link, file, version)
    return use


def _recipient(link: ShareLink, use: PreviewUse | None = None) -> dict[str, object]:
    details: dict[str, object] = {"link": link.pk, "recipient": link.recipient_email}
    if use is not None and use.receipt is not None:
        details["receipt"] = use.receipt
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
    access, file, version = found
    link = access.link
    assert link is not None  # noqa: S101
    use: PreviewUse | None = None
    if version is not None:
        # Content is shown (a clean version of a kind the browser may show): one use.
        # Otherwise the page only says why not, and costs nothing (but a used-up link
        # still shows nothing).
        shows_content = (
            version_refusal(version) is None
            and preview_kind(version, file.name) != PreviewKind.NONE
        )
        admitted = _admitted(request, access, file, version, count=shows_content)
        if isinstance(admitted, HttpResponse):
            return admitted
        use = admitted
    link_access.access_record(
        request=request,
        link=link,
        outcome=AccessOutcome.OK,
        action=Action.SHARING_LINK_VIEW,
        use="preview",
        **({"receipt": use.receipt, "counted": use.counted} if use and use.receipt else {}),
        **(version_lineage_details(version) if version is not None else {"file": file.pk}),
    )
    context = file_preview.preview_context(
        request,
        file=file,
        version=version,
        actor=None,
        actor_label=link_label(link),
        audit_details=_recipient(link, use),
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
    access, file, version = found
    link = access.link
    assert link is not None  # noqa: S101
    if version is None:
        return link_refused(request, AccessOutcome.GONE)
    use = _admitted(request, access, file, version, count=True)
    if isinstance(use, HttpResponse):
        return use
    return file_preview.rendition_response(
        request,
        version=version,
        actor=None,
        actor_label=link_label(link),
        audit_details=_recipient(link, use),
    )


@never_cache
@require_http_methods(["GET", "HEAD"])
def link_file_stream(request: HttpRequest, token: str, file_id: int) -> HttpResponseBase:
    found = _previewable(request, token, file_id)
    if isinstance(found, HttpResponse):
        return found
    access, file, version = found
    link = access.link
    assert link is not None  # noqa: S101
    if version is None:
        return link_refused(request, AccessOutcome.GONE)
    # A PDF's one request, a video's Range requests as it plays and seeks: within the
    # sitting the page opened, none counts again.
    use = _admitted(request, access, file, version, count=request.method == "GET")
    if isinstance(use, HttpResponse):
        return use
    try:
        return file_preview.stream_response(
            request,
            version=version,
            actor=None,
            actor_label=link_label(link),
            audit_details=_recipient(link, use),
            # A video or PDF under way stops when the link is withdrawn, expires or the
            # file is quarantined, as a download does (not an hour of video later).
            access_recheck=link_downloads.share_link_recheck(link.pk),
        )
    except NotDownloadableError as error:
        return HttpResponse(
            str(error), status=error.status_code, content_type="text/plain; charset=utf-8"
        )
