"""Accepting an invitation: choose a password, then set up a second factor."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.password_validation import validate_password
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import invitations
from accounts.errors import AccountRuleError
from accounts.models import User
from audit.context import client_ip
from core.forms import BootstrapFormMixin
from core.ratelimit import address_counted, rate_limit_hit, rate_limit_peek


class AcceptForm(BootstrapFormMixin, forms.Form):
    full_name = forms.CharField(label=gettext_lazy("Full name"), max_length=150)
    password1 = forms.CharField(
        label=gettext_lazy("Password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        strip=False,
    )
    password2 = forms.CharField(
        label=gettext_lazy("Password again"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        strip=False,
    )

    def __init__(self, *args: object, email: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords differ."))
        elif first:
            probe = User(email=self.email, full_name=str(cleaned.get("full_name", "")))
            try:
                validate_password(str(first), user=probe)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned


# Refused invitation links (unknown, used, expired) per address; fails closed (503)
# while it cannot be counted: the token is a credential. Valid invitations are not
# counted: new staff accept theirs together, from one NAT address, on their first day.
INVITATION_RATE = "30/h"


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    address = client_ip(request)
    # An IPv6 client's /64 is one client (core.ratelimit.address_counted).
    counted = address_counted(address)
    if rate_limit_peek(group="accounts.invitation", key=counted, rate=INVITATION_RATE).limited:
        rate_limit_hit(group="accounts.invitation", key=counted, rate=INVITATION_RATE)
        invitations.invitation_limited_record(token=token, ip_address=address)
        return render(request, "accounts/invitation_invalid.html", {"limited": True}, status=429)
    invitation = invitations.invitation_get_valid(token=token)
    if invitation is None:
        rate_limit_hit(group="accounts.invitation", key=counted, rate=INVITATION_RATE)
        invitations.invitation_refused_record(
            token=token, reason=invitations.invitation_refusal_reason(token=token)
        )
        return render(request, "accounts/invitation_invalid.html", status=410)
    form = AcceptForm(
        request.POST if request.method == "POST" else None,
        email=invitation.email,
        initial={"full_name": invitation.full_name},
    )
    if request.method == "POST" and form.is_valid():
        try:
            user = invitations.invitation_accept(
                invitation=invitation,
                password=form.cleaned_data["password1"],
                full_name=form.cleaned_data["full_name"],
            )
        except AccountRuleError as error:
            messages.error(request, str(error))
            return render(request, "accounts/invitation_invalid.html", status=410)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        # MFARequiredMiddleware sends a person without a second factor to enrolment.
        return redirect("home")
    return render(
        request,
        "accounts/invitation_accept.html",
        {"form": form, "invitation": invitation, "token": token},
    )
