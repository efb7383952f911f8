"""Signed-in pages for internal shares: "Shared with me", and each item's sharing page
(list, add, change role, remove). HTTP only: rules in sharing/services/shares.py."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import signed_in_user
from core.confirm import undo_offer
from files.errors import FileNotFoundForActor
from files.models import File, Folder
from sharing import selectors
from sharing.errors import ShareRuleError
from sharing.forms.shares import ShareAddForm, ShareRoleForm
from sharing.models import Share, ShareRole
from sharing.services import shares


def _not_found() -> Http404:
    return Http404(_("No such file or folder."))


@login_required
@require_GET
def shared_with_me(request: HttpRequest) -> HttpResponse:
    me = signed_in_user(request)
    context = {
        "items": selectors.shared_with_me(actor=me),
        "withheld": selectors.shares_withheld_count(actor=me),
    }
    return render(request, "sharing/shares/shared_with_me.html", context)


def _item_page(
    request: HttpRequest,
    item: File | Folder,
    *,
    form: ShareAddForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    me = signed_in_user(request)
    context = {
        "item": item,
        "file": item if isinstance(item, File) else None,
        "folder": item if isinstance(item, Folder) else None,
        "shares": [
            (share, ShareRoleForm(initial={"role": share.role}, prefix=f"s{share.pk}"))
            for share in selectors.shares_of_item(item)
        ],
        "shares_above": list(selectors.shares_above(item)),
        "form": form or ShareAddForm(),
        "suggestions": shares.recipient_suggestions(actor=me),
        "error": error,
    }
    return render(request, "sharing/shares/item.html", context, status=status)


def _item_sharing(
    request: HttpRequest, *, file_id: int | None, folder_id: int | None
) -> HttpResponse:
    me = signed_in_user(request)
    try:
        item = shares.item_for_sharing(actor=me, file_id=file_id, folder_id=folder_id)
    except FileNotFoundForActor:
        raise _not_found() from None
    except ShareRuleError as error:
        return render(
            request,
            "sharing/shares/refused.html",
            {"message": str(error)},
            status=error.status_code,
        )
    if request.method != "POST":
        return _item_page(request, item)
    form = ShareAddForm(request.POST)
    if not form.is_valid():
        return _item_page(request, item, form=form, status=400)
    try:
        recipient = shares.recipient_find(actor=me, text=form.cleaned_data["recipient"], item=item)
        shares.share_create(
            actor=me, item=item, recipient=recipient, role=form.cleaned_data["role"]
        )
    except ShareRuleError as error:
        return _item_page(request, item, form=form, error=str(error), status=error.status_code)
    messages.success(request, _("Shared with %(name)s.") % {"name": recipient})
    return redirect(request.path)


@login_required
@require_http_methods(["GET", "POST"])
def file_sharing(request: HttpRequest, file_id: int) -> HttpResponse:
    return _item_sharing(request, file_id=file_id, folder_id=None)


@login_required
@require_http_methods(["GET", "POST"])
def folder_sharing(request: HttpRequest, folder_id: int) -> HttpResponse:
    return _item_sharing(request, file_id=None, folder_id=folder_id)


def _named(share: Share) -> dict[str, str]:
    """Who a share is with and what it opens, for the message saying what happened."""
    item = share.file or share.folder
    return {
        "name": share.user.get_full_name() if share.user else share.team.name,  # type: ignore[union-attr]
        "item": item.name if item else "",
    }


def _back_to(share: Share) -> HttpResponse:
    if share.file_id is not None:
        return redirect("sharing:file_sharing", file_id=share.file_id)
    return redirect("sharing:folder_sharing", folder_id=share.folder_id)


@login_required
@require_POST
def share_role_change(request: HttpRequest, share_id: int) -> HttpResponse:
    me = signed_in_user(request)
    try:
        share = selectors.share_get_for_actor(actor=me, share_id=share_id)
    except FileNotFoundForActor:
        raise _not_found() from None
    form = ShareRoleForm(request.POST, prefix=f"s{share.pk}")
    if form.is_valid():
        try:
            shares.share_update(actor=me, share=share, role=form.cleaned_data["role"])
        except ShareRuleError as error:  # the account deactivated meanwhile (audited)
            messages.error(request, str(error))
            return _back_to(share)
        role = form.cleaned_data["role"]
        messages.success(
            request,
            _("%(name)s is now %(role)s of “%(item)s”.")
            % {**_named(share), "role": ShareRole(role).label},
        )
    else:
        messages.error(request, _("Choose viewer or editor."))
    return _back_to(share)


@login_required
@require_POST
def share_remove(request: HttpRequest, share_id: int) -> HttpResponse:
    me = signed_in_user(request)
    try:
        share = selectors.share_get_for_actor(actor=me, share_id=share_id)
    except FileNotFoundForActor:
        raise _not_found() from None
    try:
        shares.share_delete(actor=me, share=share)
    except ShareRuleError as error:  # the account deactivated meanwhile (audited)
        messages.error(request, str(error))
        return _back_to(share)
    # One click, like a move to the trash: offered back with "Undo", which shares the item
    # again with the same person or team and role through the sharing form (core/confirm.py).
    undo_offer(
        request,
        _("Access of %(name)s to “%(item)s” withdrawn.") % _named(share),
        action=(
            reverse("sharing:file_sharing", args=[share.file_id])
            if share.file_id is not None
            else reverse("sharing:folder_sharing", args=[share.folder_id])
        ),
        fields={
            "recipient": share.user.email if share.user else share.team.name,  # type: ignore[union-attr]
            "role": share.role,
        },
    )
    return _back_to(share)
