"""File-request pages for their owner, under /sharing/requests/ (HTTP only)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import signed_in_user
from core.confirm import confirmation_page, confirmed
from core.http import errors_as_404, id_number
from files import selectors as files_selectors
from files.selectors import Permission
from sharing import selectors
from sharing.errors import FileRequestRuleError
from sharing.forms.file_requests import MEGABYTE, FileRequestForm
from sharing.models import FileRequest, SharingPolicy
from sharing.services import file_requests
from sharing.services import policy as sharing_policy

# ``FileRequestNotFound`` or ``FileNotFoundForActor`` (audited by the selector): a 404.
request_not_found_as_404 = errors_as_404(message=gettext_lazy("No such file request."))


def _request_page(
    request: HttpRequest, file_request: FileRequest, *, url: str = "", status: int = 200
) -> HttpResponse:
    context = {
        "file_request": file_request,
        "state": selectors.file_request_status(file_request),
        "uploads": selectors.file_request_uploads(file_request),
        "url": url,
    }
    response = render(request, "sharing/requests/request.html", context, status=status)
    if url:
        response["Cache-Control"] = "no-store"  # the page shows the token, once
    return response


@login_required
@require_GET
def request_list(request: HttpRequest) -> HttpResponse:
    me = signed_in_user(request)
    now = timezone.now()
    rows = [
        {
            "file_request": item,
            "state": selectors.file_request_status(item, now=now),
            "files": selectors.file_request_places(item, now=now)[0],
        }
        for item in selectors.file_requests_for_actor(me)[:200]
    ]
    return render(
        request,
        "sharing/requests/list.html",
        {"rows": rows, "may_request": sharing_policy.may_share_outside(me)},
    )


@login_required
@require_http_methods(["GET", "POST"])
@request_not_found_as_404
def request_new(request: HttpRequest) -> HttpResponse:
    me = signed_in_user(request)
    policy = SharingPolicy.current()
    folders = [
        folder
        for folder in files_selectors.folders_for_move(actor=me)
        if files_selectors.sharing_allowed(
            actor=me, item=folder, way=files_selectors.SharingWay.FILE_REQUEST
        )
    ]
    initial: dict[str, Any] = {}
    wanted = id_number(request.GET.get("folder", ""))
    if wanted is not None:
        initial["folder"] = wanted
    form = FileRequestForm(
        request.POST if request.method == "POST" else None,
        initial=initial,
        folders=folders,
        max_days=int(policy.link_max_days),
        default_days=int(policy.link_default_days),
        max_files=int(policy.file_request_max_files),
        max_bytes=int(policy.file_request_max_bytes),
    )
    error = ""
    status = 400 if request.method == "POST" else 200
    if request.method == "POST" and not form.is_valid() and "folder" in form.errors:
        # A folder the list did not offer: someone else's (404, audited by the selector)
        # or only shared with this person (403, audited by the file-request rule).
        folder_id = id_number(request.POST.get("folder", ""))
        if folder_id is not None:
            folder = files_selectors.folder_get_for_actor(actor=me, folder_id=folder_id)
            try:
                file_requests.file_request_folder_check(actor=me, folder=folder)
            except FileRequestRuleError as rule:
                error, status = str(rule), rule.status_code
    if request.method == "POST" and form.is_valid():
        folder = files_selectors.folder_get_for_actor(
            actor=me, folder_id=form.cleaned_data["folder"], need=Permission.VIEW
        )
        data = form.cleaned_data
        try:
            file_request, token = file_requests.file_request_create(
                actor=me,
                folder=folder,
                title=data["title"],
                instructions=data["instructions"],
                expires_at=data["expiry"],
                max_files=data["max_files"],
                max_bytes=min(data["max_megabytes"] * MEGABYTE, int(policy.file_request_max_bytes)),
                notify_owner=bool(data["notify_owner"]),
            )
        except FileRequestRuleError as rule:
            error, status = str(rule), rule.status_code
        else:
            # The token is shown on this response only: it is stored nowhere.
            return _request_page(
                request, file_request, url=selectors.file_request_url(token), status=201
            )
    return render(
        request,
        "sharing/requests/new.html",
        {"form": form, "error": error, "may_request": sharing_policy.may_share_outside(me)},
        status=status,
    )


@login_required
@require_GET
@request_not_found_as_404
def request_detail(request: HttpRequest, request_id: int) -> HttpResponse:
    file_request = selectors.file_request_get_for_actor(
        actor=signed_in_user(request), request_id=request_id
    )
    return _request_page(request, file_request)


@login_required
@require_POST
@request_not_found_as_404
def request_close(request: HttpRequest, request_id: int) -> HttpResponse:
    me = signed_in_user(request)
    file_request = selectors.file_request_get_for_actor(actor=me, request_id=request_id)
    if not confirmed(request) and file_request.closed_at is None:
        # A closed request is not reopened: the sender would need a new link.
        return confirmation_page(
            request,
            title=_("Close the file request “%(title)s”?") % {"title": file_request.title},
            losses=[
                _("its link no longer accepts files, and uploads under way are cut"),
                _("a closed request cannot be reopened: you would send a new one"),
            ],
            button=_("Close the request"),
            cancel_url=reverse("sharing:request", args=[file_request.pk]),
        )
    try:
        file_requests.file_request_close(actor=me, file_request=file_request)
    except FileRequestRuleError as rule:
        messages.error(request, str(rule))
        return _request_page(request, file_request, status=rule.status_code)
    messages.success(request, _("The file request is closed: its link no longer accepts files."))
    return redirect("sharing:request", request_id=file_request.pk)
