"""The confirmation page of recent authentication (accounts/reauth.py).

The person proves their second factor again (authenticator app or passkey), then goes
back to the page they were on. A form they had sent is not replayed: they send it
again, knowingly. Someone with no device of their own here (signed in through an
identity provider that asserted the second factor) signs in again instead: a sign-in
is a fresh proof.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login

from accounts import mfa, reauth, sessions
from accounts.forms import TOTPCodeForm
from accounts.permissions import signed_in_user
from core.http import next_path


def _next_url(request: HttpRequest) -> str:
    return next_path(request, request.POST.get("next") or request.GET.get("next") or "")


def _continue(request: HttpRequest, resubmit: bool) -> HttpResponseBase:
    if resubmit:
        messages.success(request, _("Confirmed. Nothing was changed yet: you can do it now."))
    return redirect(_next_url(request) or "accounts:security")


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest) -> HttpResponseBase:
    user = signed_in_user(request)
    resubmit = (
        request.POST.get(reauth.RESUBMIT_PARAMETER) or request.GET.get(reauth.RESUBMIT_PARAMETER)
    ) == "1"
    if request.method == "GET" and reauth.proof_is_recent(request):
        # Also where a passkey confirmation lands (its script follows ``next``).
        return _continue(request, resubmit)
    apps = list(mfa.devices_of(user=user, kind=mfa.DeviceKind.TOTP))
    has_passkey = mfa.devices_of(user=user, kind=mfa.DeviceKind.PASSKEY).exists()
    if request.method == "POST" and request.POST.get("sign_in_again") == "1":
        next_url = _next_url(request)
        logout(request)
        login_url = reverse("accounts:login")
        return redirect(f"{login_url}?{urlencode({'next': next_url})}" if next_url else login_url)
    form = TOTPCodeForm(request.POST if request.method == "POST" else None, devices=apps)
    status = 200
    if request.method == "POST" and apps and form.is_valid():
        chosen = form.cleaned_data.get("device")
        device = next((app for app in apps if app.pk == chosen), apps[0])
        try:
            mfa.totp_device_verify(
                actor=user,
                device=device,
                code=form.cleaned_data["code"],
                purpose=mfa.PURPOSE_REAUTH,
            )
        except mfa.MFAError as error:
            form.add_error("code", error.message)
            status = 429 if isinstance(error, mfa.TooManyAttempts) else 200
        else:
            sessions.session_key_renew(request)
            otp_login(request, device)
            reauth.proof_record(request)
            return _continue(request, resubmit)
    elif request.method == "POST":
        status = 400
    context = {
        "form": form if apps else None,
        "has_passkey": has_passkey,
        "next": _next_url(request),
        "resubmit": resubmit,
        "minutes": int(reauth.proof_window().total_seconds() // 60),
        "passkey_next": request.get_full_path(),
    }
    return render(request, "accounts/reauth.html", context, status=status)
