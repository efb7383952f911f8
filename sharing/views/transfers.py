"""Transfer pages for the sender, under /sharing/transfers/ (HTTP only).

Lookups through ``sharing.selectors`` (404 for anyone else's transfer,
audited); changes through its services. Errors a person can act on re-render the page
with the message and status 400.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import User
from accounts.permissions import signed_in_user
from core.confirm import confirmation_page, confirmed
from core.http import errors_as_404, id_number
from files import selectors as files_selectors
from files.errors import FileRuleError
from files.models import File
from sharing import selectors
from sharing.errors import TransferRuleError
from sharing.forms.transfers import TransferForm, TransferPickForm, TransferSendForm
from sharing.models import ShareLink, SharingPolicy, Transfer
from sharing.services import policy as sharing_policy
from sharing.services import transfers

View = Callable[..., HttpResponseBase]
PICK_LIMIT = 500


# ``TransferNotFound`` or ``FileNotFoundForActor`` (audited by the selector): a 404.
transfer_not_found_as_404 = errors_as_404(message=gettext_lazy("No such transfer."))


def _pickable_files(actor: User, transfer: Transfer) -> list[File]:
    """Files the sender may read, outside this transfer's folder, for the "add" list."""
    excluded: list[int] = []
    if transfer.folder_id is not None:
        excluded = [
            transfer.folder_id,
            *files_selectors.folder_descendant_ids([transfer.folder_id]),
        ]
    return list(
        File.objects.filter(
            space__in=files_selectors.spaces_accessible_by(actor),
            deleted_at__isnull=True,
            purged_at__isnull=True,
            current_version__isnull=False,
        )
        .exclude(folder_id__in=excluded)
        .select_related("folder", "folder__space", "folder__space__team")
        .order_by("space_id", "folder_id", "name_key")[:PICK_LIMIT]
    )


def _send_form(data: Any = None) -> TransferSendForm:
    policy = SharingPolicy.current()
    return TransferSendForm(
        data,
        password_required=policy.password_required,
        verification_required=policy.transfer_verification_required(),
    )


def _transfer_page(
    request: HttpRequest,
    transfer: Transfer,
    *,
    status: int = 200,
    error: str = "",
    send_form: TransferSendForm | None = None,
) -> HttpResponse:
    me = signed_in_user(request)
    state = selectors.transfer_status(transfer)
    files = selectors.transfer_files(transfer)
    context = {
        "transfer": transfer,
        "state": state,
        "files": files,
        "total_bytes": selectors.transfer_total_bytes(files),
        "recipients": selectors.transfer_recipients(transfer),
        "error": error,
        "send_form": send_form or _send_form(),
        "pick_form": TransferPickForm(files=_pickable_files(me, transfer))
        if state == "draft"
        else None,
    }
    return render(request, "sharing/transfers/transfer.html", context, status=status)


@login_required
@require_GET
def transfer_list(request: HttpRequest) -> HttpResponse:
    me = signed_in_user(request)
    now = timezone.now()
    rows = [
        {
            "transfer": transfer,
            "state": selectors.transfer_status(transfer, now=now),
            "recipients": transfer.links.count(),
            "downloaded": transfer.links.filter(first_downloaded_at__isnull=False).count(),
        }
        for transfer in selectors.transfers_for_actor(me)[:200]
    ]
    return render(
        request,
        "sharing/transfers/list.html",
        {"rows": rows, "may_send": sharing_policy.may_share_outside(me)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def transfer_new(request: HttpRequest) -> HttpResponse:
    me = signed_in_user(request)
    form = TransferForm(
        request.POST if request.method == "POST" else None,
        max_days=sharing_policy.expiry_max_days(),
        default_days=sharing_policy.expiry_default_days(),
    )
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            transfer = transfers.transfer_create(
                actor=me,
                subject=form.cleaned_data["subject"],
                message=form.cleaned_data["message"],
                expires_at=form.cleaned_data["expiry"],
            )
        except (TransferRuleError, FileRuleError) as rule:
            error = str(rule)
        else:
            return redirect("sharing:transfer", transfer_id=transfer.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "sharing/transfers/new.html",
        {"form": form, "error": error, "may_send": sharing_policy.may_share_outside(me)},
        status=status,
    )


@login_required
@require_GET
@transfer_not_found_as_404
def transfer_detail(request: HttpRequest, transfer_id: int) -> HttpResponse:
    transfer = selectors.transfer_get_for_actor(
        actor=signed_in_user(request), transfer_id=transfer_id
    )
    return _transfer_page(request, transfer)


@login_required
@require_POST
@transfer_not_found_as_404
def transfer_files_add(request: HttpRequest, transfer_id: int) -> HttpResponse:
    me = signed_in_user(request)
    transfer = selectors.transfer_get_for_actor(actor=me, transfer_id=transfer_id)
    form = TransferPickForm(request.POST, files=_pickable_files(me, transfer))
    if not form.is_valid():
        # Ids the list did not offer: someone else's (404, audited by the selector) or
        # only shared with the sender (403, audited by the transfer rule).
        offered = {file.pk for file in _pickable_files(me, transfer)}
        numbers = (id_number(raw) for raw in request.POST.getlist("file_ids"))
        posted = [number for number in numbers if number is not None]
        others = [
            files_selectors.file_get_for_actor(actor=me, file_id=file_id)
            for file_id in posted
            if file_id not in offered
        ]
        try:
            transfers.transfer_files_check(actor=me, transfer=transfer, files=others)
        except TransferRuleError as rule:
            return _transfer_page(request, transfer, status=rule.status_code, error=str(rule))
        return _transfer_page(request, transfer, status=400, error=_("Choose files to add."))
    picked = [
        files_selectors.file_get_for_actor(actor=me, file_id=file_id)
        for file_id in form.cleaned_data["file_ids"]
    ]
    try:
        copies = transfers.transfer_files_add(actor=me, transfer=transfer, files=picked)
    except TransferRuleError as rule:
        return _transfer_page(request, transfer, status=rule.status_code, error=str(rule))
    except FileRuleError as rule:
        return _transfer_page(request, transfer, status=400, error=str(rule))
    messages.success(
        request,
        ngettext(
            "%(count)d file added to “%(subject)s”.",
            "%(count)d files added to “%(subject)s”.",
            len(copies),
        )
        % {"count": len(copies), "subject": transfer.subject},
    )
    return redirect("sharing:transfer", transfer_id=transfer.pk)


@login_required
@require_POST
@transfer_not_found_as_404
def transfer_send(request: HttpRequest, transfer_id: int) -> HttpResponse:
    me = signed_in_user(request)
    transfer = selectors.transfer_get_for_actor(actor=me, transfer_id=transfer_id)
    form = _send_form(request.POST)
    if not form.is_valid():
        return _transfer_page(request, transfer, status=400, send_form=form)
    try:
        sent = transfers.transfer_send(
            actor=me,
            transfer=transfer,
            recipients=form.cleaned_data["recipients"].splitlines(),
            password=form.cleaned_data["password"],
            email_verification=bool(form.cleaned_data["email_verification"]),
            language=form.cleaned_data["recipient_language"] or settings.LANGUAGE_CODE,
        )
    except TransferRuleError as rule:
        return _transfer_page(
            request, transfer, status=rule.status_code, error=str(rule), send_form=form
        )
    done = ngettext(
        "“%(subject)s” sent: %(count)d recipient was e-mailed their link.",
        "“%(subject)s” sent: %(count)d recipients were e-mailed their link.",
        len(sent),
    ) % {"count": len(sent), "subject": transfer.subject}
    if any(item.link.email_verification for item in sent):
        # Said to the sender, who can still warn a recipient who shares a mailbox or
        # cannot read their e-mail (abroad, on call): without the code, no file.
        done = f"{done} " + ngettext(
            "Before downloading, they will type a code sent to their address: "
            "warn them if they may not be able to read it.",
            "Before downloading, each will type a code sent to their own address: "
            "warn anyone who may not be able to read it.",
            len(sent),
        )
    messages.success(request, done)
    return redirect("sharing:transfer", transfer_id=transfer.pk)


@login_required
@require_POST
@transfer_not_found_as_404
def transfer_revoke(request: HttpRequest, transfer_id: int) -> HttpResponse:
    me = signed_in_user(request)
    transfer = selectors.transfer_get_for_actor(actor=me, transfer_id=transfer_id)
    if not confirmed(request):
        active = [r for r in selectors.transfer_recipients(transfer) if r.status == "active"]
        return confirmation_page(
            request,
            title=_("Withdraw every link of “%(subject)s”?") % {"subject": transfer.subject},
            losses=[
                ngettext(
                    "the download link of %(count)d recipient stops working",
                    "the download links of %(count)d recipients stop working",
                    len(active),
                )
                % {"count": len(active)},
                _("a link cannot be turned back on: you would send a new transfer"),
            ],
            button=_("Withdraw all links"),
            cancel_url=reverse("sharing:transfer", args=[transfer.pk]),
        )
    try:
        transfers.transfer_revoke(actor=me, transfer=transfer)
    except TransferRuleError as rule:
        return _transfer_page(request, transfer, status=rule.status_code, error=str(rule))
    messages.success(
        request,
        _("Links of “%(subject)s” withdrawn: they no longer open.") % {"subject": transfer.subject},
    )
    return redirect("sharing:transfer", transfer_id=transfer.pk)


@login_required
@require_POST
@transfer_not_found_as_404
def transfer_recipient_revoke(request: HttpRequest, transfer_id: int, link_id: int) -> HttpResponse:
    me = signed_in_user(request)
    transfer = selectors.transfer_get_for_actor(actor=me, transfer_id=transfer_id)
    link = ShareLink.objects.filter(pk=link_id, transfer=transfer).first()
    if link is None:
        raise Http404(_("No such recipient."))
    if not confirmed(request):
        return confirmation_page(
            request,
            title=_("Withdraw the link of %(email)s?") % {"email": link.recipient_email},
            losses=[
                _("%(email)s can no longer download the files of “%(subject)s”")
                % {"email": link.recipient_email, "subject": transfer.subject}
            ],
            button=_("Withdraw"),
            cancel_url=reverse("sharing:transfer", args=[transfer.pk]),
        )
    try:
        transfers.transfer_recipient_revoke(actor=me, transfer=transfer, link=link)
    except TransferRuleError as rule:
        return _transfer_page(request, transfer, status=rule.status_code, error=str(rule))
    messages.success(
        request,
        _("Link of %(email)s to “%(subject)s” withdrawn: they can no longer download.")
        % {"email": link.recipient_email, "subject": transfer.subject},
    )
    return redirect("sharing:transfer", transfer_id=transfer.pk)


@login_required
@require_POST
@transfer_not_found_as_404
def transfer_delete(request: HttpRequest, transfer_id: int) -> HttpResponse:
    """Revoke every link and crypto-shred the transfer's files now."""
    me = signed_in_user(request)
    transfer = selectors.transfer_get_for_actor(actor=me, transfer_id=transfer_id)
    if not confirmed(request):
        files = selectors.transfer_files(transfer)
        return confirmation_page(
            request,
            title=_("Delete the transfer “%(subject)s” now?") % {"subject": transfer.subject},
            losses=[
                ngettext(
                    "its %(count)d file, destroyed for good",
                    "its %(count)d files, destroyed for good",
                    len(files),
                )
                % {"count": len(files)},
                _("every recipient's download link"),
            ],
            button=_("Delete now"),
            cancel_url=reverse("sharing:transfer", args=[transfer.pk]),
        )
    try:
        transfers.transfer_purge(transfer_id=transfer.pk, actor=me)
    except TransferRuleError as rule:
        return _transfer_page(request, transfer, status=rule.status_code, error=str(rule))
    messages.success(request, _("The transfer and its files were deleted for good."))
    return redirect("sharing:transfer", transfer_id=transfer.pk)
