"""Two-step verification pages: the second sign-in step, enrolment, the Security page.

The rules live in accounts/mfa.py; these views parse forms, call one service, and
render. Pages that show a secret (the TOTP key, recovery codes) are never cached.
"""

from __future__ import annotations

from base64 import b32encode
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

import segno
from django.contrib import messages
from django.contrib.auth import authenticate, logout
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from accounts import mfa, reauth, sessions
from accounts.forms import (
    DeviceNameForm,
    PasskeyAddedForm,
    PasswordAgainForm,
    RecoveryCodeForm,
    TOTPCodeForm,
    TOTPEnrolForm,
)
from accounts.permissions import signed_in_user
from audit import services as audit
from audit.actions import Action
from core.http import next_path

View = TypeVar("View", bound=Callable[..., HttpResponseBase])

# The unconfirmed authenticator app being set up in this browser session.
PENDING_TOTP_SESSION_KEY = "sd_pending_totp_device"
# Below this many unused recovery codes, people are told to generate new ones.
RECOVERY_CODES_LOW = 3


def _verified(request: HttpRequest) -> bool:
    return mfa.session_is_verified(request.user)


def _next_url(request: HttpRequest) -> str:
    """Where to go once verified: only a path on this site (no open redirect)."""
    return next_path(request, request.POST.get("next") or request.GET.get("next") or "")


def _with_next(request: HttpRequest, url_name: str) -> str:
    url = reverse(url_name)
    next_url = _next_url(request)
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def _second_factor_passed(request: HttpRequest, device: Any) -> None:
    """Mark this session verified, under a new id: the one used before the second
    factor stops working (sessions.session_key_renew)."""
    sessions.session_key_renew(request)
    otp_login(request, device)
    reauth.proof_record(request)


def _recent_proof_to_add_a_device(view: View) -> View:
    """Adding a further device needs a second factor proved recently. A first one
    (an unverified session, which the view itself lets in only without any device) has
    no second factor to prove: the sign-in must be recent instead, or the password typed
    again (``enrol_confirm``). Otherwise a session left open at the enrolment page of a
    shared PC would let the next person enrol their own authenticator app."""
    with_second_factor = reauth.recent_proof_required(
        unless=lambda request: not mfa.session_is_verified(request.user)
    )(view)

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if (
            _verified(request)
            or reauth.sign_in_is_recent(request)
            or mfa.user_has_primary_device(user=signed_in_user(request))  # sent to verify
        ):
            return with_second_factor(request, *args, **kwargs)
        messages.info(
            request,
            _("For your security, confirm it is you before setting up two-step verification."),
            fail_silently=True,
        )
        return redirect(reauth.confirmation_url(request, url_name="accounts:mfa_enrol_confirm"))

    return cast(View, wrapper)


def _device_kind(kind: str) -> mfa.DeviceKind:
    if kind not in (mfa.DeviceKind.TOTP, mfa.DeviceKind.PASSKEY):
        raise Http404
    return mfa.DeviceKind(kind)


# --- Second sign-in step ------------------------------------------------------------------


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponseBase:
    user = signed_in_user(request)
    if _verified(request):
        return redirect(_next_url(request) or "home")
    apps = list(mfa.devices_of(user=user, kind=mfa.DeviceKind.TOTP))
    has_passkey = mfa.devices_of(user=user, kind=mfa.DeviceKind.PASSKEY).exists()
    if not apps and not has_passkey:
        return redirect(_with_next(request, "accounts:mfa_enrol"))

    form = TOTPCodeForm(request.POST if request.method == "POST" else None, devices=apps)
    status = 200
    if request.method == "POST" and apps and form.is_valid():
        chosen = form.cleaned_data.get("device")
        device = next((app for app in apps if app.pk == chosen), apps[0])
        try:
            mfa.totp_device_verify(actor=user, device=device, code=form.cleaned_data["code"])
        except mfa.MFAError as error:
            form.add_error("code", error.message)
            status = 429 if isinstance(error, mfa.TooManyAttempts) else 200
        else:
            _second_factor_passed(request, device)
            return redirect(_next_url(request) or "home")
    context = {
        "form": form if apps else None,
        "has_passkey": has_passkey,
        "next": _next_url(request),
    }
    return render(request, "accounts/mfa/verify.html", context, status=status)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def verify_recovery(request: HttpRequest) -> HttpResponseBase:
    user = signed_in_user(request)
    if _verified(request):
        return redirect(_next_url(request) or "home")
    form = RecoveryCodeForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            used = mfa.recovery_code_use(actor=user, code=form.cleaned_data["code"])
        except mfa.MFAError as error:
            form.add_error("code", error.message)
            status = 429 if isinstance(error, mfa.TooManyAttempts) else 200
        else:
            _second_factor_passed(request, used.device)
            if used.remaining == 0:
                messages.warning(
                    request,
                    _("You have used your last recovery code. Generate new ones now."),
                )
                return redirect("accounts:security")
            if used.remaining < RECOVERY_CODES_LOW:
                messages.warning(
                    request,
                    ngettext(
                        "You have %(count)d recovery code left. Generate new ones on your "
                        "Security page.",
                        "You have %(count)d recovery codes left. Generate new ones on your "
                        "Security page.",
                        used.remaining,
                    )
                    % {"count": used.remaining},
                )
            return redirect(_next_url(request) or "home")
    return render(
        request,
        "accounts/mfa/verify_recovery.html",
        {"form": form, "next": _next_url(request)},
        status=status,
    )


# --- Enrolment ----------------------------------------------------------------------------


@never_cache
@login_required
def enrol(request: HttpRequest) -> HttpResponseBase:
    """First device: a person without one can do nothing else until they add one."""
    user = signed_in_user(request)
    if _verified(request):
        return redirect("accounts:security")
    if mfa.user_has_primary_device(user=user):
        return redirect(_with_next(request, "accounts:mfa_verify"))
    provider_identity = mfa.provider_standing_for_second_factor(user=user)
    if provider_identity is not None:
        # The provider's assurance is her second factor: a first device set up from a
        # session without it (her password alone) would be the thief's.
        mfa.first_device_refused_record(actor=user, provider_name=provider_identity.name)
        return render(
            request,
            "accounts/mfa/enrol_through_provider.html",
            {"provider_name": provider_identity.name, "provider_slug": provider_identity.provider},
            status=403,
        )
    return render(request, "accounts/mfa/enrol.html", {"next": _next_url(request)})


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def enrol_confirm(request: HttpRequest) -> HttpResponseBase:
    """Before a first second factor, when the sign-in is older than the window of recent
    authentication: the password again (its failures count towards the lockout, as at
    sign-in), or for someone without one (identity provider), a new sign-in."""
    user = signed_in_user(request)
    next_url = _next_url(request)
    resubmit = (
        request.POST.get(reauth.RESUBMIT_PARAMETER) or request.GET.get(reauth.RESUBMIT_PARAMETER)
    ) == "1"
    if _verified(request) or mfa.user_has_primary_device(user=user):
        return redirect(_with_next(request, "accounts:mfa_enrol"))
    if request.method == "GET" and reauth.sign_in_is_recent(request):
        return redirect(next_url or "accounts:mfa_enrol")
    if request.method == "POST" and request.POST.get("sign_in_again") == "1":
        logout(request)
        login_url = reverse("accounts:login")
        return redirect(f"{login_url}?{urlencode({'next': next_url})}" if next_url else login_url)
    has_password = user.has_usable_password()
    form = PasswordAgainForm(request.POST if request.method == "POST" and has_password else None)
    status = 200
    if request.method == "POST" and not has_password:
        status = 400
    elif request.method == "POST" and form.is_valid():
        # Through the authentication backends, so that django-axes counts a wrong
        # password and locks out as on the sign-in page (and the failure is audited).
        again = authenticate(request, username=user.email, password=form.cleaned_data["password"])
        if again is not None and again.pk == user.pk:
            audit.record(
                action=Action.ACCOUNTS_REAUTH_PASSWORD,
                actor=user,
                target_type="accounts.user",
                target_id=user.pk,
                details={"purpose": "first second factor"},
            )
            reauth.sign_in_record(request)
            if resubmit:
                messages.success(
                    request, _("Confirmed. Nothing was changed yet: you can do it now.")
                )
            return redirect(next_url or "accounts:mfa_enrol")
        locked = bool(getattr(request, "axes_locked_out", False))
        form.add_error(
            "password",
            _("Too many failed attempts. Wait a few minutes and try again.")
            if locked
            else _("This password is not correct."),
        )
        status = 429 if locked else 400
    elif request.method == "POST":
        status = 400
    return render(
        request,
        "accounts/mfa/enrol_confirm.html",
        {
            "form": form if has_password else None,
            "next": next_url,
            "resubmit": resubmit,
            "minutes": int(reauth.proof_window().total_seconds() // 60),
        },
        status=status,
    )


def _device_added(request: HttpRequest, device: Any) -> HttpResponse:
    """After a new device (this session is verified by now): the first one brings
    recovery codes, shown once."""
    codes = mfa.recovery_codes_ensure(actor=signed_in_user(request))
    if codes:
        return _recovery_codes_page(request, codes, first_time=True)
    messages.success(request, _("“%(name)s” is ready to use.") % {"name": device.name})
    return redirect(_next_url(request) or "accounts:security")


def _recovery_codes_page(
    request: HttpRequest, codes: list[str], *, first_time: bool
) -> HttpResponse:
    return render(
        request,
        "accounts/mfa/recovery_codes.html",
        {
            "codes": codes,
            "codes_text": "\n".join(codes) + "\n",
            "first_time": first_time,
            "continue_url": _next_url(request)
            or reverse("home" if first_time else "accounts:security"),
        },
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
@_recent_proof_to_add_a_device
def totp_add(request: HttpRequest) -> HttpResponseBase:
    user = signed_in_user(request)
    if not mfa.may_add_device(user=user, verified=_verified(request)):
        return redirect(_with_next(request, "accounts:mfa_verify"))
    device = mfa.totp_device_pending(
        actor=user, pending_id=request.session.get(PENDING_TOTP_SESSION_KEY)
    )
    request.session[PENDING_TOTP_SESSION_KEY] = device.pk
    form = TOTPEnrolForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            confirmed = mfa.totp_device_confirm(
                actor=user,
                device=device,
                code=form.cleaned_data["code"],
                name=form.cleaned_data["name"],
            )
        except mfa.MFAError as error:
            form.add_error("code", error.message)
            status = 429 if isinstance(error, mfa.TooManyAttempts) else 200
        else:
            del request.session[PENDING_TOTP_SESSION_KEY]
            if not _verified(request):
                # A first device: its code just proved possession of it.
                _second_factor_passed(request, confirmed)
            return _device_added(request, confirmed)
    secret = b32encode(device.bin_key).decode()
    context = {
        "form": form,
        "qr_code": segno.make(device.config_url, error="m").png_data_uri(scale=5, border=2),
        "secret_groups": [secret[start : start + 4] for start in range(0, len(secret), 4)],
        "next": _next_url(request),
        "first_device": not _verified(request),
    }
    return render(request, "accounts/mfa/totp_add.html", context, status=status)


@never_cache
@login_required
@_recent_proof_to_add_a_device
def passkey_add(request: HttpRequest) -> HttpResponseBase:
    """django-otp-webauthn's script runs the ceremony; static/securedrive/passkeys.js
    then posts the new passkey's name to ``passkey_added``."""
    user = signed_in_user(request)
    if not mfa.may_add_device(user=user, verified=_verified(request)):
        return redirect(_with_next(request, "accounts:mfa_verify"))
    return render(
        request,
        "accounts/mfa/passkey_add.html",
        {
            "form": PasskeyAddedForm(),
            "next": _next_url(request),
            "first_device": not _verified(request),
        },
    )


@never_cache
@login_required
@require_POST
# Right after the ceremony the proof is recent: registering needed one, and a first
# passkey records one. Later, this form must not show recovery codes: for someone who
# has none yet (the tab closed before it was sent) ``_device_added`` makes them, and a
# stale session lifted from a ward PC would walk away with a second factor that outlives
# it, around the rule of ``recovery_codes_regenerate``. An unverified session is sent to
# its second factor by the view itself.
@reauth.recent_proof_required(unless=lambda request: not _verified(request))
def passkey_added(request: HttpRequest) -> HttpResponseBase:
    user = signed_in_user(request)
    if not _verified(request):
        # django-otp-webauthn verifies the session when it registers a passkey: without
        # that, posting the id of an existing passkey must not count as using it.
        return redirect(_with_next(request, "accounts:mfa_verify"))
    form = PasskeyAddedForm(request.POST)
    if not form.is_valid():
        return redirect(_with_next(request, "accounts:mfa_passkey_add"))
    device = get_object_or_404(
        mfa.devices_of(user=user, kind=mfa.DeviceKind.PASSKEY), pk=form.cleaned_data["device"]
    )
    name = form.cleaned_data["name"].strip()
    if name and name != device.name:
        mfa.device_rename(actor=user, device=device, name=name)
    return _device_added(request, device)


# --- The Security page --------------------------------------------------------------------


@never_cache
@login_required
def security(request: HttpRequest) -> HttpResponse:
    overview = mfa.security_overview(user=signed_in_user(request))
    session_device = getattr(request.user, "otp_device", None)
    return render(
        request,
        "accounts/mfa/security.html",
        {
            "overview": overview,
            "session_device": session_device.persistent_id if session_device else "",
            "recovery_codes_total": mfa.RECOVERY_CODE_COUNT,
            "recovery_codes_low": RECOVERY_CODES_LOW,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def device_rename(request: HttpRequest, kind: str, pk: int) -> HttpResponseBase:
    user = signed_in_user(request)
    device = get_object_or_404(mfa.devices_of(user=user, kind=_device_kind(kind)), pk=pk)
    form = DeviceNameForm(
        request.POST if request.method == "POST" else None, initial={"name": device.name}
    )
    if request.method == "POST" and form.is_valid():
        mfa.device_rename(actor=user, device=device, name=form.cleaned_data["name"])
        messages.success(request, _("Renamed to “%(name)s”.") % {"name": form.cleaned_data["name"]})
        return redirect("accounts:security")
    status = 400 if request.method == "POST" else 200  # errors shown: a recorded refusal
    return render(
        request,
        "accounts/mfa/device_rename.html",
        {"form": form, "device": device},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
@reauth.recent_proof_required()
def device_remove(request: HttpRequest, kind: str, pk: int) -> HttpResponseBase:
    user = signed_in_user(request)
    device = get_object_or_404(mfa.devices_of(user=user, kind=_device_kind(kind)), pk=pk)
    if request.method == "POST":
        name = device.name
        try:
            mfa.device_remove(actor=user, device=device)
        except mfa.LastDeviceError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("“%(name)s” was removed.") % {"name": name})
        return redirect("accounts:security")
    return render(
        request,
        "accounts/mfa/device_remove.html",
        {"device": device, "is_last": mfa.primary_device_count(user=user) <= 1},
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
@reauth.recent_proof_required()
def recovery_codes_regenerate(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        user = signed_in_user(request)
        signed_in_with_a_code = mfa.device_kind_of_session(request.user) == (
            mfa.DeviceKind.RECOVERY_CODES
        )
        codes = mfa.recovery_codes_generate(actor=user)
        if signed_in_with_a_code:
            # Sessions opened with an old code end; this one just proved a recent second
            # factor, so it goes on, verified by the new codes.
            otp_login(request, mfa.recovery_codes_device_of(user=user))
        return _recovery_codes_page(request, codes, first_time=False)
    remaining = mfa.recovery_codes_remaining(user=signed_in_user(request))
    return render(request, "accounts/mfa/recovery_codes_regenerate.html", {"remaining": remaining})
