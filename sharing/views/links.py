"""Signed-in pages for external links: an item's links (create, list, revoke), all of
one's links, and the site's sharing policy (site administrators). HTTP only."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts import reauth
from accounts.permissions import signed_in_user, site_admin_required
from core.confirm import confirmation_page, confirmed
from core.http import next_path
from files import selectors as files_selectors
from files.errors import FileNotFoundForActor
from files.models import File, Folder
from sharing import selectors
from sharing.errors import LinkRuleError
from sharing.forms.links import LinkForm, SharingPolicyForm
from sharing.models import SharingPolicy
from sharing.services import links, suspension
from sharing.services.link_access import link_state_now


def _rows(links_list: Any) -> list[dict[str, Any]]:
    links_list = list(links_list)
    # A preview is an access too, and the only one a "view only" link allows.
    views = selectors.share_link_views([link.pk for link in links_list])
    return [
        {
            "link": link,
            # As recipients find it: a link whose maker left the team is dead.
            "state": link_state_now(link),
            "receipts": list(link.downloads.all()),
            "views": views[link.pk],
            "uses_left": selectors.share_link_uses_left(link),
        }
        for link in links_list
    ]


def _item_page(request: HttpRequest, target: File | Folder) -> HttpResponse:
    me = signed_in_user(request)
    try:
        # Seen only through a share: not theirs to publish (403 page saying why).
        links.share_link_target_check(actor=me, target=target, request=request)
    except LinkRuleError as error:
        return render(
            request,
            "sharing/shares/refused.html",
            {"message": str(error)},
            status=error.status_code,
        )
    policy = SharingPolicy.current()
    form = LinkForm(request.POST if request.method == "POST" else None, policy=policy)
    new_url = ""
    may_share_refusal = ""
    try:
        if request.method == "POST":  # a refused form is audited, not only shown
            links.share_link_may_share_check(actor=me, target=target, request=request)
        else:
            links.share_link_policy_check_may_share(actor=me)
    except LinkRuleError as error:
        may_share_refusal = str(error)
    status = 200
    if request.method == "POST" and not may_share_refusal:
        if form.is_valid():
            data = form.cleaned_data
            try:
                link, token = links.share_link_create(
                    actor=me,
                    target=target,
                    expires_at=data["expiry"],
                    password=data["password"],
                    max_downloads=data["max_downloads"],
                    recipient_email=data["recipient_email"],
                    email_verification=bool(data["email_verification"]),
                    notify_owner=bool(data["notify_owner"]),
                    view_only=bool(data["view_only"]),
                    label=data["label"],
                    request=request,
                )
            except LinkRuleError as error:
                form.add_error(None, str(error))
                status = error.status_code
            else:
                if data["send_email"]:
                    links.share_link_shared_email_send(
                        link=link,
                        token=token,
                        actor=me,
                        language=data["recipient_language"] or settings.LANGUAGE_CODE,
                    )
                # Shown once, in this response only: the token is stored nowhere else.
                new_url = links.share_link_url(token)
                form = LinkForm(policy=policy)
        else:
            status = 400
    elif request.method == "POST":
        status = 403
    context = {
        "target": target,
        "is_file": isinstance(target, File),
        "form": form,
        "new_url": new_url,
        "may_share_refusal": may_share_refusal,
        "rows": _rows(selectors.share_links_for_item(actor=me, target=target)),
        "back": request.get_full_path(),
    }
    return render(request, "sharing/links/item.html", context, status=status)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def file_links(request: HttpRequest, file_id: int) -> HttpResponse:
    try:
        file = files_selectors.file_get_for_actor(actor=signed_in_user(request), file_id=file_id)
    except FileNotFoundForActor:
        raise Http404(_("No such file or folder.")) from None
    return _item_page(request, file)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def folder_links(request: HttpRequest, folder_id: int) -> HttpResponse:
    try:
        folder = files_selectors.folder_get_for_actor(
            actor=signed_in_user(request), folder_id=folder_id
        )
    except FileNotFoundForActor:
        raise Http404(_("No such file or folder.")) from None
    return _item_page(request, folder)


@login_required
@require_POST
def link_revoke(request: HttpRequest, link_id: int) -> HttpResponse:
    me = signed_in_user(request)
    try:
        link = selectors.share_link_get_for_actor(actor=me, link_id=link_id)
    except LinkRuleError:
        raise Http404(_("No such link.")) from None
    back = next_path(request, request.POST.get("next", ""))
    if not confirmed(request):
        # A withdrawn link never opens again: the recipient would need a new one.
        name = links.share_link_target_name(link)
        return confirmation_page(
            request,
            title=_("Withdraw the link to “%(name)s”?") % {"name": name},
            losses=[
                _("%(email)s can no longer open “%(name)s”")
                % {"email": link.recipient_email, "name": name}
                if link.recipient_email
                else _("whoever holds the link can no longer open “%(name)s”") % {"name": name}
            ],
            button=_("Withdraw"),
            cancel_url=back or reverse("sharing:my_links"),
        )
    try:
        links.share_link_revoke(actor=me, link=link, request=request)
    except LinkRuleError:
        raise Http404(_("No such link.")) from None
    messages.success(
        request,
        _("Link to “%(name)s” withdrawn: it no longer opens.")
        % {"name": links.share_link_target_name(link)},
    )
    if back:
        return redirect(back)
    return redirect("sharing:my_links")


@login_required
@require_http_methods(["GET"])
def my_links(request: HttpRequest) -> HttpResponse:
    me = signed_in_user(request)
    rows = _rows(selectors.share_links_of_actor(actor=me)[:500])
    return render(
        request, "sharing/links/mine.html", {"rows": rows, "back": request.get_full_path()}
    )


@site_admin_required
@require_http_methods(["GET", "POST"])
def policy(request: HttpRequest) -> HttpResponse:
    current = SharingPolicy.current()
    form = SharingPolicyForm(request.POST if request.method == "POST" else None, instance=current)
    status = 400 if request.method == "POST" else 200  # errors shown: a recorded refusal
    if request.method == "POST" and form.is_valid():
        try:
            links.sharing_policy_update(
                actor=signed_in_user(request), changes=form.changes(), request=request
            )
        except LinkRuleError as error:
            form.add_error(None, str(error))
            status = error.status_code
        else:
            messages.success(request, _("Sharing policy saved: it applies from now on."))
            return redirect("sharing:policy")
    return render(request, "sharing/policy.html", {"form": form, "policy": current}, status=status)


@site_admin_required
@require_POST
# Incident response, both ways: with a stolen session, a way to cut every recipient off
# (or to open everything again in the middle of an investigation).
@reauth.recent_proof_required()
def external_suspension(request: HttpRequest) -> HttpResponse:
    """Switch the suspension of every external link, transfer and file request on
    (``suspend=yes``) or off, after a confirmation page."""
    suspend = request.POST.get("suspend") == "yes"
    back = reverse("sharing:policy")
    if not confirmed(request):
        if suspend:
            return confirmation_page(
                request,
                title=_("Suspend every external link and transfer now?"),
                losses=[
                    _(
                        "Every share link, transfer link and file request stops answering "
                        "at once: recipients see “not available at the moment”, and "
                        "downloads under way stop within seconds."
                    ),
                    _("Nobody can create a link, a transfer or a file request meanwhile."),
                    _(
                        "Nothing is deleted: lifting the suspension lets each link work "
                        "again until its own expiry."
                    ),
                ],
                button=_("Suspend external sharing"),
                cancel_url=back,
                reversible=True,
            )
        return confirmation_page(
            request,
            title=_("Lift the suspension of external links and transfers?"),
            losses=[
                _(
                    "Every link, transfer and file request that has not expired or been "
                    "withdrawn opens again at once, to whoever holds it."
                ),
                _("Withdraw first any link you believe leaked (My links, or the person's page)."),
            ],
            button=_("Lift the suspension"),
            cancel_url=back,
            reversible=True,
        )
    try:
        changed = suspension.external_sharing_suspend(
            actor=signed_in_user(request), suspend=suspend, request=request
        )
    except LinkRuleError as error:
        messages.error(request, str(error))
        return redirect(back)
    if changed and suspend:
        messages.success(
            request, _("External links and transfers are suspended: none of them opens.")
        )
    elif changed:
        messages.success(
            request,
            _("Suspension lifted: links and transfers work again until their own expiry."),
        )
    return redirect(back)
