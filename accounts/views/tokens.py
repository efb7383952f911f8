"""API tokens page: list, create (the token is shown once), revoke."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from accounts import reauth, tokens
from accounts.mfa import session_is_verified
from accounts.models import AccountPolicy, PersonalAccessToken, TokenScope
from accounts.permissions import signed_in_user
from core.forms import BootstrapFormMixin


class TokenCreateForm(BootstrapFormMixin, forms.Form):
    """Shape only; the rules (scopes, expiry cap, unique name) are in accounts.tokens."""

    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=tokens.TOKEN_NAME_MAX_LENGTH,
        help_text=gettext_lazy("What the token is for, e.g. “Scanner in room 12”."),
    )
    scopes = forms.MultipleChoiceField(
        label=gettext_lazy("Scopes"),
        choices=TokenScope.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[TokenScope.READ],
    )
    expires_in_days = forms.IntegerField(label=gettext_lazy("Expires after (days)"), min_value=1)

    def __init__(self, *args: Any, max_days: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["expires_in_days"]
        field.initial = min(30, max_days)
        field.widget.attrs["max"] = str(max_days)
        field.help_text = _("At most %(days)d days (site policy).") % {"days": max_days}


def _scope_labels(token: PersonalAccessToken) -> list[str]:
    return [str(TokenScope(scope).label) for scope in token.scopes if scope in TokenScope.values]


def _list_page(request: HttpRequest, form: TokenCreateForm, status: int = 200) -> HttpResponse:
    now = timezone.now()
    rows = [
        (token, tokens.token_status(token, now), _scope_labels(token))
        for token in tokens.tokens_of(user=signed_in_user(request))
    ]
    me = signed_in_user(request)
    # An auditor holds no token (accounts/tokens.py): the page says why, with no form.
    context = {
        "form": form,
        "rows": rows,
        "auditor": me.is_auditor,
        "auditor_refusal": tokens.AUDITOR_REFUSAL,
    }
    return render(request, "accounts/tokens/list.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
@reauth.recent_proof_required(methods={"POST"})
def token_list(request: HttpRequest) -> HttpResponse:
    me = signed_in_user(request)
    max_days = AccountPolicy.current().token_max_days
    if request.method == "GET":
        return _list_page(request, TokenCreateForm(max_days=max_days))
    # A token counts as a second factor only because it is minted after one.
    if not session_is_verified(request.user):
        raise PermissionDenied(_("Confirm your second factor before creating a token."))
    form = TokenCreateForm(request.POST, max_days=max_days)
    if not form.is_valid():
        return _list_page(request, form, status=400)
    try:
        token, plaintext = tokens.token_create(
            actor=me,
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            expires_in_days=form.cleaned_data["expires_in_days"],
        )
    except ValidationError as error:
        form.add_error(None, error)
        return _list_page(request, form, status=400)
    # Rendered in the POST response, not stored for a redirect: the plaintext must not
    # sit in the session table, even briefly. Reloading re-submits the form, which the
    # unique-name rule refuses.
    response = render(
        request,
        "accounts/tokens/created.html",
        {"token": token, "plaintext": plaintext, "scope_labels": _scope_labels(token)},
    )
    add_never_cache_headers(response)
    return response


@login_required
@require_http_methods(["GET", "POST"])
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    me = signed_in_user(request)
    token = tokens.token_get_for_actor(actor=me, token_id=token_id)
    if token is None:
        raise Http404
    if request.method == "GET":
        return render(request, "accounts/tokens/revoke.html", {"token": token})
    tokens.token_revoke(actor=me, token=token)
    messages.success(request, _("The token “%(name)s” is revoked.") % {"name": token.name})
    return redirect("accounts:tokens")
