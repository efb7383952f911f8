"""The administrator's page for directory tokens (SCIM provisioning)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import reauth
from accounts.errors import AccountRuleError
from accounts.permissions import signed_in_user, site_admin_required
from core.confirm import confirmation_page, confirmed
from directory.forms import DirectoryTokenForm
from directory.models import DirectoryToken
from directory.tokens import directory_token_create, directory_token_revoke


def _scim_base_url() -> str:
    # Imported here: the SCIM modules bring scim2-models and pydantic (directory/scim/urls.py).
    from directory.scim.discovery import base_url

    return base_url()


@site_admin_required
# A directory token deactivates, renames and re-addresses accounts and fills any team:
# a stolen or unattended administrator's session must prove the second factor again
# before minting one, as for a personal API token (accounts/views/tokens.py).
@reauth.recent_proof_required(methods={"POST"})
def token_list(request: HttpRequest) -> HttpResponse:
    form = DirectoryTokenForm(request.POST if request.method == "POST" else None)
    created = ""
    status = 400 if request.method == "POST" else 200  # errors shown: a recorded refusal
    if request.method == "POST" and form.is_valid():
        try:
            _token, created = directory_token_create(
                actor=signed_in_user(request),
                name=form.cleaned_data["name"],
                successor_rule=form.cleaned_data["successor_rule"],
                successor=form.cleaned_data["successor"],
            )
        except AccountRuleError as error:  # audited by the service
            form.add_error("successor", str(error))
        else:
            form = DirectoryTokenForm()
            status = 200
    context = {
        "form": form,
        "created": created,
        "tokens": DirectoryToken.objects.select_related("created_by", "successor"),
        "endpoint": _scim_base_url(),
    }
    return render(request, "directory/tokens.html", context, status=status)


@site_admin_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(DirectoryToken, pk=token_id)
    if not confirmed(request):
        return confirmation_page(
            request,
            title=_("Revoke the token of %(name)s?") % {"name": token.name},
            losses=[_("the directory can no longer create, change or deactivate accounts")],
            button=_("Revoke"),
            cancel_url=reverse("directory:tokens"),
        )
    directory_token_revoke(actor=signed_in_user(request), token=token)
    messages.success(request, _("Token of %(name)s revoked.") % {"name": token.name})
    return redirect("directory:tokens")
