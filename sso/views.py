"""Sign-in with an identity provider: start (plain, or from an invitation's link),
callback, invitation link confirmation, back-channel logout.

HTTP only: the rules are in sso/services.py and sso/backchannel.py. Every refusal is a
4xx page (or JSON for the provider's back channel) and an audit event, never a 500.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from typing import Any, NoReturn

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.base_client.errors import OAuthError
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp import login as otp_login
from joserfc.errors import JoseError

from accounts import credential_approvals, invitations, mfa, reauth, sessions
from accounts.errors import AccountRuleError
from accounts.invitations import token_hash
from accounts.models import User
from accounts.permissions import signed_in_user, site_admin_required
from accounts.views.credential_approvals import approval_needed_page
from audit import floods, refusals
from audit.context import client_ip
from core.confirm import confirmation_page, confirmed
from core.http import next_path
from core.ratelimit import address_counted, rate_limit_hit, rate_limit_peek
from sso import account_link, backchannel, services
from sso import reauth as provider_reauth
from sso.csp import provider_form_targets
from sso.models import ExternalIdentity
from sso.providers import (
    Provider,
    ProviderError,
    client_for,
    provider_get,
    signed_claims,
)
from sso.services import Assertion, SignInRefused

# Per address, two limits (docs/rate-limits.md, "Sign-in with an identity provider").
# Refused requests (a callback with a wrong state or code, a token the provider refuses
# or we do, an unknown account, an unknown invitation or link): what a forger sends.
# Successful sign-ins are never counted: a hospital's whole shift signs in through one
# NAT address (or one /64), and counting them gave 429s at shift change (~30 sign-ins
# per 10 minutes) and told the security officers its staff were an attack.
SIGN_IN_REFUSALS_RATE = "60/10m"
# Starts (the redirect to the provider): cheap for us (a session row, a redirect) and
# worth nothing to an attacker, so a generous limit that only spreads load. Figures: a
# 1,500-bed hospital has ~6,000 staff; about a third change shift within ~30 minutes,
# peaks of ~1,000 sign-ins in 10 minutes behind one address; a sign-in is 1 to 3 starts
# (a refused weaker sign-in, a confirmation). 3,000 per 10 minutes holds that peak; a
# loop of starts past it (5 a second, sustained) is refused and on record.
SIGN_IN_STARTS_RATE = "3000/10m"
# Back-channel logout: refused requests per address. Genuine logout tokens are never
# counted nor held back: a provider signing a whole ward out at once (the end of a
# shift, "sign everyone out" after an incident) sends far more than any fixed rate, and
# each one refused left a session open on a shared PC.
BACKCHANNEL_REFUSALS_RATE = "120/m"
# Dropped by any sign-in (sso/signals.py: SIGN_IN_PENDING_SESSION_KEYS).
NEXT_SESSION_KEY = "sd_sso_next"
PENDING_LINK_SESSION_KEY = "sd_sso_pending_link"
# The invitation whose link started this round trip (its token's hash and the provider):
# set just before the redirect to the provider, popped by the callback (used once).
INVITATION_SESSION_KEY = "sd_sso_invitation"
# The same for a link an administrator sent to link an existing account
# (sso/account_link.py): the link's token hash and the provider, used once.
ACCOUNT_LINK_SESSION_KEY = "sd_sso_account_link"
# The provider's answer stands for a fresh authentication (and, at an accepted acr, for
# the second factor) only for a few minutes: a confirmation page left open on a shared
# PC must not link and verify an account an hour later.
LINK_CONFIRM_MAX_AGE_S = 600
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def _unknown_provider(slug: str) -> NoReturn:
    services.token_refused_record(provider=None, reason=f"unknown provider {slug[:64]}")
    raise Http404


def _refused_page(request: HttpRequest, message: str, *, status: int) -> HttpResponse:
    return render(request, "sso/refused.html", {"message": message}, status=status)


def _refusal_page(request: HttpRequest, refusal: SignInRefused) -> HttpResponse:
    """The page for a refusal the service that raised it has recorded already; with a
    "Sign in again with <provider>" button when signing in again can mend it."""
    return render(
        request,
        "sso/refused.html",
        {"message": refusal.message, "sign_in_again": refusal.sign_in_again},
        status=refusal.status_code,
    )


def _too_many(
    request: HttpRequest, provider: Provider | None, *, endpoint: str, counted: str
) -> HttpResponse:
    floods.rate_limited_record(
        endpoint=endpoint,
        source=counted,
        ip_address=client_ip(request),
        actor_label="anonymous",
        record=lambda flood: services.token_refused_record(
            provider=provider, reason="rate limited", **flood
        ),
    )
    return _refused_page(
        request, _("Too many sign-in attempts. Wait a few minutes and try again."), status=429
    )


def _rate_limited(
    request: HttpRequest, provider: Provider | None, *, start: bool = False
) -> HttpResponse | None:
    """A 429 when this address sent too many refused requests lately (a refusal now
    counts too, so a flood stays refused until it slows) or, for a ``start``, too many
    starts; None otherwise. Only refusals are counted here (:func:`_refusal_counted`)."""
    # An IPv6 client's /64 is one client (core.ratelimit.address_counted).
    counted = address_counted(client_ip(request))
    if rate_limit_peek(group="sso-refused", key=counted, rate=SIGN_IN_REFUSALS_RATE).limited:
        rate_limit_hit(group="sso-refused", key=counted, rate=SIGN_IN_REFUSALS_RATE)
        return _too_many(request, provider, endpoint="sso.provider_sign_in", counted=counted)
    if start and rate_limit_hit(group="sso-start", key=counted, rate=SIGN_IN_STARTS_RATE):
        return _too_many(request, provider, endpoint="sso.provider_sign_in_start", counted=counted)
    return None


def _refusal_counted(request: HttpRequest) -> None:
    """One refused request from this address, towards ``SIGN_IN_REFUSALS_RATE``."""
    counted = address_counted(client_ip(request))
    rate_limit_hit(group="sso-refused", key=counted, rate=SIGN_IN_REFUSALS_RATE)


def _counting_refusals(
    request: HttpRequest, answer: Callable[[], HttpResponseBase]
) -> HttpResponseBase:
    """``answer()``, its refusals (a 4xx, a 404 raised) counted towards the limit."""
    try:
        response = answer()
    except Http404:
        _refusal_counted(request)
        raise
    # A 4xx is a refusal of what the request carried; a 502 (provider out of reach) and
    # a 429 (counted already) are not the sender's doing.
    if 400 <= response.status_code < 500 and response.status_code != 429:
        _refusal_counted(request)
    return response


def _provider_unreachable(
    request: HttpRequest, provider: Provider, error: Exception
) -> HttpResponse:
    services.token_refused_record(
        provider=provider, reason="provider unreachable or misconfigured", detail=repr(error)
    )
    return _refused_page(
        request,
        _("%(provider)s cannot be reached right now. Try again in a few minutes.")
        % {"provider": provider.name},
        status=502,
    )


def _provider_view(
    *, start: bool
) -> Callable[
    [Callable[[HttpRequest, Provider], HttpResponseBase]],
    Callable[[HttpRequest, str], HttpResponseBase],
]:
    """A view of the provider its URL names, reached only within the per-address limits:
    refused requests (a loop of forged callbacks, of unknown invitations) and, for a
    ``start`` (a redirect to the provider), starts. An unknown provider is a 404,
    recorded and counted as refused."""

    def decorator(
        view: Callable[[HttpRequest, Provider], HttpResponseBase],
    ) -> Callable[[HttpRequest, str], HttpResponseBase]:
        @functools.wraps(view)
        def provider_view(request: HttpRequest, slug: str) -> HttpResponseBase:
            provider = provider_get(slug)
            limited = _rate_limited(request, provider, start=start)
            if limited is not None:
                return limited
            if provider is None:
                _refusal_counted(request)
                _unknown_provider(slug)
            return _counting_refusals(request, lambda: view(request, provider))

        return provider_view

    return decorator


@never_cache
@require_GET
@_provider_view(start=True)
def sign_in_start(request: HttpRequest, provider: Provider) -> HttpResponseBase:
    """Send the browser to the provider: code flow, PKCE (S256), state and nonce, all
    kept in this browser's session by Authlib until the callback."""
    # A plain sign-in carries no invitation, even one a tab of this browser opened and
    # left unfinished.
    request.session.pop(INVITATION_SESSION_KEY, None)
    request.session.pop(ACCOUNT_LINK_SESSION_KEY, None)
    next_url = next_path(request, request.GET.get("next", ""))
    if next_url:
        request.session[NEXT_SESSION_KEY] = next_url
    return _authorize_redirect(request, provider)


@never_cache
@require_POST
@_provider_view(start=True)
def invitation_sign_in_start(request: HttpRequest, provider: Provider) -> HttpResponseBase:
    """ "Accept with <provider>" on an invitation's page: the invitation's token, checked
    here, goes into this browser's session, then the browser goes to the provider as for
    a plain sign-in. The callback claims that invitation and no other."""
    token = request.POST.get("invitation", "")[:200]
    invitation = invitations.invitation_get_valid(token=token) if token else None
    if invitation is None:
        invitations.invitation_refused_record(
            token=token, reason=f"unknown, used or expired (identity provider {provider.slug})"
        )
        return render(request, "accounts/invitation_invalid.html", status=410)
    request.session.pop(NEXT_SESSION_KEY, None)
    request.session.pop(ACCOUNT_LINK_SESSION_KEY, None)
    request.session[INVITATION_SESSION_KEY] = {
        "provider": provider.slug,
        "token_hash": invitations.token_hash(token),
    }
    return _authorize_redirect(request, provider)


def _authorize_redirect(
    request: HttpRequest,
    provider: Provider,
    *,
    reauthenticate: bool = False,
    second_factor: bool = False,
) -> HttpResponseBase:
    """The browser sent to the provider. ``reauthenticate``: the provider must
    authenticate the person again (prompt=login, max_age=0); ``second_factor``: at the
    assurance accepted as the second factor, asked for with ``acr_values`` (the
    configured ones, or else the accepted ``acr`` values)."""
    try:
        client = client_for(provider)
        claims_parameter = client.load_server_metadata().get("claims_parameter_supported")
    except (ProviderError, requests.RequestException, ValueError) as error:
        return _provider_unreachable(request, provider, error)
    redirect_uri = request.build_absolute_uri(reverse("sso:callback", args=[provider.slug]))
    extra: dict[str, str] = {}
    if provider.acr_values:
        extra["acr_values"] = provider.acr_values
    elif second_factor and provider.accepted_acr:
        # A voluntary claim (OpenID Connect Core 1.0 §3.1.2.1): a provider that cannot
        # meet it answers as it can, and the callback judges the acr it returns.
        extra["acr_values"] = " ".join(provider.accepted_acr)
    if claims_parameter:
        # Providers may leave acr, amr and auth_time out unless asked (OpenID Connect
        # Core 1.0 §5.5.1.1): without acr or amr no assurance could stand for the second
        # factor; without auth_time no sign-in counts as a recent proof (sso/reauth.py).
        wanted: dict[str, object] = {"auth_time": {"essential": True}}
        if provider.accepted_acr or provider.accepted_amr:
            wanted.update(acr=None, amr=None)
        extra["claims"] = json.dumps({"id_token": wanted})
    if reauthenticate:
        # The provider must authenticate the person again, not answer from its session.
        extra.update(provider_reauth.REAUTH_AUTHORIZE_PARAMETERS)
    response: HttpResponseBase = client.authorize_redirect(request, redirect_uri, **extra)
    return response


def _validated_claims(
    request: HttpRequest, provider: Provider
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ID token's claims, validated by Authlib (signature with the provider's keys,
    refetched once for an unknown kid; iss, aud, exp, iat, nonce, at_hash), and the
    UserInfo endpoint's claims when the provider has one."""
    client = client_for(provider)
    token = client.authorize_access_token(
        request,
        leeway=settings.OIDC_CLOCK_LEEWAY_S,
        # The audience is checked as such, not only through Authlib's azp rule, which
        # would let a token for another client through if it named us as azp.
        claims_options={
            "iss": {"essential": True, "values": [provider.issuer]},
            "aud": {"essential": True, "values": [provider.client_id]},
        },
    )
    id_claims = token.get("userinfo")
    if not id_claims:
        # Without an ID token Authlib validates nothing: an access token alone is not
        # an authentication (OpenID Connect Core 1.0 §3.1.3.3).
        raise SignInRefused(
            _("The identity provider's answer is not valid."), reason="no ID token", status_code=400
        )
    userinfo: dict[str, Any] = {}
    endpoint = client.load_server_metadata().get("userinfo_endpoint")
    if endpoint:
        answer = client.get(endpoint, token=token)
        answer.raise_for_status()
        if answer.headers.get("Content-Type", "").startswith("application/jwt"):
            # A signed UserInfo response (OpenID Connect Core 1.0 §5.3.2).
            userinfo = signed_claims(provider, answer.text)
        else:
            userinfo = dict(answer.json())
    return dict(id_claims), userinfo


def _reason_of(error: Exception) -> str:
    code = getattr(error, "error", "") or type(error).__name__
    description = getattr(error, "description", "") or ""
    return f"{code}: {description}" if description else str(code)


# What reading a provider's answer (sso:callback) can raise: a refusal by our rules, the
# provider out of reach, or an answer that is not valid (Authlib and joserfc reject its
# token; claims of the wrong shape).
ANSWER_ERRORS = (
    SignInRefused,
    requests.RequestException,
    ProviderError,
    OAuthError,
    JoseError,
    AuthlibBaseError,
    ValueError,
    KeyError,
    TypeError,
)


def _answer_refused(
    request: HttpRequest, provider: Provider, error: Exception, *, message: str
) -> HttpResponse:
    """The page and the audit event for a provider's answer that failed (one of
    ANSWER_ERRORS), the same for a sign-in and for a confirmation: ``message`` is what
    the person reads when the answer itself is not valid."""
    if isinstance(error, SignInRefused):
        services.token_refused_record(provider=provider, reason=error.reason)
        return _refusal_page(request, error)
    if isinstance(error, requests.RequestException | ProviderError):
        return _provider_unreachable(request, provider, error)
    services.token_refused_record(provider=provider, reason=_reason_of(error))
    return _refused_page(request, message, status=400)


@never_cache
@require_GET
@_provider_view(start=False)
def callback(request: HttpRequest, provider: Provider) -> HttpResponseBase:
    # Used once, whatever the outcome: a failed round trip starts again from the link.
    carried = request.session.pop(INVITATION_SESSION_KEY, None)
    carried_link = request.session.pop(ACCOUNT_LINK_SESSION_KEY, None)
    confirmation = provider_reauth.Confirmation.from_session_data(
        request.session.pop(provider_reauth.REAUTH_SESSION_KEY, None)
    )
    if request.user.is_authenticated:
        if (
            confirmation is not None
            and confirmation.provider_slug == provider.slug
            and confirmation.user_id == request.user.pk
        ):
            return _confirmation_finished(request, provider, confirmation)
        # One person per browser session: a second sign-in is not a switch of account.
        return redirect("home")
    refused_message = _("The sign-in with %(provider)s could not be completed. Try again.") % {
        "provider": provider.name
    }
    try:
        id_claims, userinfo = _validated_claims(request, provider)
        assertion = services.assertion_from(
            provider=provider, id_claims=id_claims, userinfo=userinfo
        )
    except ANSWER_ERRORS as error:
        return _answer_refused(request, provider, error, message=refused_message)

    link_token_hash = _carried_token_hash(carried_link, provider)
    if link_token_hash is not None:
        try:
            identity = account_link.account_link_use(
                assertion=assertion, link_token_hash=link_token_hash
            )
        except SignInRefused as refusal:
            return _refusal_page(request, refusal)
        return _signed_in(request, identity, assertion)
    try:
        resolution = services.identity_resolve(
            assertion=assertion, invitation_token_hash=_carried_token_hash(carried, provider)
        )
    except SignInRefused as refusal:
        return _refusal_page(request, refusal)
    if resolution.next is services.Next.CONFIRM_INVITATION:
        assert resolution.invitation is not None  # noqa: S101  (set with CONFIRM_INVITATION)
        request.session[PENDING_LINK_SESSION_KEY] = {
            "assertion": assertion.as_session_data(),
            "invitation": resolution.invitation.pk,
            "invitation_email": resolution.invitation.email,
            "at": time.time(),
        }
        return redirect("sso:link_confirm")
    assert resolution.identity is not None  # noqa: S101  (set with SIGN_IN)
    return _signed_in(request, resolution.identity, assertion)


def _confirmation_finished(
    request: HttpRequest, provider: Provider, confirmation: provider_reauth.Confirmation
) -> HttpResponseBase:
    """The provider's answer to "Confirm it is you" (sso/reauth.py)."""
    user = signed_in_user(request)
    refused_message = _("%(provider)s could not confirm it is you. Try again.") % {
        "provider": provider.name
    }
    try:
        id_claims, userinfo = _validated_claims(request, provider)
        assertion = services.assertion_from(
            provider=provider, id_claims=id_claims, userinfo=userinfo
        )
        # Confirming the second factor (a verified session), or, before a first device,
        # the sign-in itself (accounts/views/mfa.py: enrol_confirm).
        second_factor_needed = mfa.session_is_verified(request.user)
        identity = provider_reauth.confirmation_check(
            user=user,
            confirmation=confirmation,
            assertion=assertion,
            auth_time=provider_reauth.auth_time_of(id_claims),
            second_factor_needed=second_factor_needed,
        )
    except ANSWER_ERRORS as error:
        return _answer_refused(request, provider, error, message=refused_message)
    reauth.sign_in_record(request)
    if second_factor_needed:
        sessions.session_key_renew(request)
        otp_login(request, identity)
        reauth.proof_record(request)
    if confirmation.resubmit:
        messages.success(request, _("Confirmed. Nothing was changed yet: you can do it now."))
    return redirect(confirmation.next_url or "accounts:security")


@never_cache
@login_required
@require_POST
@_provider_view(start=True)
def reauth_start(request: HttpRequest, provider: Provider) -> HttpResponseBase:
    """ "Confirm with <provider>" on the confirmation pages: the provider is asked to
    authenticate the person again (sso/reauth.py)."""
    user = signed_in_user(request)
    if provider_reauth.identity_for_confirmation(user=user, provider=provider) is None:
        provider_reauth.confirmation_refused_record(
            user=user, provider=provider, reason="no identity at this provider"
        )
        raise Http404
    confirmation = provider_reauth.confirmation_start(
        user=user,
        provider=provider,
        next_url=next_path(request, request.POST.get("next", "")),
        resubmit=request.POST.get(reauth.RESUBMIT_PARAMETER) == "1",
    )
    request.session.pop(INVITATION_SESSION_KEY, None)
    request.session.pop(ACCOUNT_LINK_SESSION_KEY, None)
    request.session[provider_reauth.REAUTH_SESSION_KEY] = confirmation.as_session_data()
    return _authorize_redirect(request, provider, reauthenticate=True)


@never_cache
@require_POST
@_provider_view(start=True)
def sign_in_again(request: HttpRequest, provider: Provider) -> HttpResponseBase:
    """ "Sign in again with <provider>" where a sign-in without the second factor the
    provider stands for was refused (sso/services.py: SECOND_FACTOR_DOWNGRADED), or her
    password alone was refused a first device (accounts/views/mfa.py: enrol). The
    provider may still hold her lower-level session and would answer from it: it is
    asked to authenticate her again, at the accepted assurance. A password-only session
    of hers ends first (one person per browser session; it could do nothing anyway)."""
    if request.user.is_authenticated:
        logout(request)
    request.session.pop(INVITATION_SESSION_KEY, None)
    request.session.pop(ACCOUNT_LINK_SESSION_KEY, None)
    request.session.pop(NEXT_SESSION_KEY, None)
    return _authorize_redirect(request, provider, reauthenticate=True, second_factor=True)


def _carried_token_hash(carried: object, provider: Provider) -> str | None:
    """The invitation token hash this browser carried through the round trip with this
    provider, or None (a round trip started at another provider carries nothing here)."""
    if not isinstance(carried, dict) or carried.get("provider") != provider.slug:
        return None
    token_hash = carried.get("token_hash")
    return token_hash if isinstance(token_hash, str) and token_hash else None


def _signed_in(
    request: HttpRequest, identity: ExternalIdentity, assertion: Assertion
) -> HttpResponseBase:
    next_url = request.session.pop(NEXT_SESSION_KEY, "")
    login(request, identity.user, backend=MODEL_BACKEND)
    # A recent proof only if the provider authenticated the person lately, not from a
    # session of its own opened long ago (sso/reauth.py).
    fresh = provider_reauth.authenticated_recently(assertion.auth_time)
    if not fresh:
        reauth.sign_in_forget(request)
    if assertion.strong:
        # The provider's accepted assurance stands for the second factor, under a new
        # session id as after a local one (accounts/sessions.py: session_key_renew).
        sessions.session_key_renew(request)
        otp_login(request, identity)
        if fresh:
            # A sign-in with the provider's second factor is a fresh proof.
            reauth.proof_record(request)
    services.sign_in_record(identity=identity, assertion=assertion)
    services.provider_session_remember(
        identity=identity, assertion=assertion, session_key=request.session.session_key or ""
    )
    # Otherwise MFARequiredMiddleware sends the person to their local second factor.
    return redirect(next_url or "home")


@never_cache
@require_http_methods(["GET", "POST"])
def link_confirm(request: HttpRequest) -> HttpResponseBase:
    """The invited person says, explicitly, that this provider identity is theirs."""
    pending = request.session.get(PENDING_LINK_SESSION_KEY)
    provider = provider_get(str(pending["assertion"]["provider"])) if pending else None
    if not pending or provider is None:
        services.token_refused_record(provider=provider, reason="nothing to confirm")
        return _refused_page(request, _("There is nothing to confirm. Sign in again."), status=400)
    assertion = Assertion.from_session_data(provider, pending["assertion"])
    if request.method == "POST":
        del request.session[PENDING_LINK_SESSION_KEY]
        if request.POST.get("confirm") != "yes":
            services.sign_in_refused_record(assertion=assertion, reason="link declined")
            return redirect("accounts:login")
    answered_at = pending.get("at")
    waited = time.time() - answered_at if isinstance(answered_at, int | float) else None
    if waited is None or waited > LINK_CONFIRM_MAX_AGE_S:
        # The page too: shown after its window, it would offer a button that no longer
        # works, or invite the next person at a shared PC to try it.
        request.session.pop(PENDING_LINK_SESSION_KEY, None)
        services.sign_in_refused_record(assertion=assertion, reason="confirmation too late")
        return _refused_page(
            request,
            _(
                "This confirmation waited too long. Open the link in your invitation "
                "e-mail again and choose “Accept with %(provider)s”."
            )
            % {"provider": provider.name},
            status=400,
        )
    if request.method == "POST":
        try:
            identity = services.invitation_link(
                assertion=assertion, invitation_id=int(pending["invitation"])
            )
        except SignInRefused as refusal:
            return _refusal_page(request, refusal)
        return _signed_in(request, identity, assertion)
    return render(
        request,
        "sso/link_confirm.html",
        {
            "assertion": assertion,
            "provider": provider,
            "invitation_email": str(pending.get("invitation_email", "")),
        },
    )


@csrf_exempt  # server to server: the signed logout token is the proof, not a cookie
@never_cache
@require_POST
def backchannel_logout(request: HttpRequest, slug: str) -> HttpResponse:
    """The provider's logout token, checked then applied. Only refusals count towards the
    per-address limit (``BACKCHANNEL_REFUSALS_RATE``): past it, a refusal is a 429 on
    record once per window (audit/floods.py), so garbage cannot flood the log, and a
    genuine token from the provider still ends its sessions."""
    provider = provider_get(slug)
    if provider is None:
        return _backchannel_refused(
            request, None, reason=f"unknown provider {slug[:64]}", status=404
        )
    try:
        claims = backchannel.logout_token_validate(
            provider=provider, token=request.POST.get("logout_token", "")
        )
        backchannel.logout_apply(provider=provider, claims=claims)
    except backchannel.LogoutTokenInvalid as error:
        return _backchannel_refused(request, provider, reason=error.reason, status=400)
    except (requests.RequestException, ProviderError) as error:
        return _backchannel_refused(
            request, provider, reason=f"keys unavailable: {error!r}"[:300], status=503
        )
    return HttpResponse(status=200)


def _backchannel_refused(
    request: HttpRequest, provider: Provider | None, *, reason: str, status: int
) -> JsonResponse:
    address = client_ip(request)
    counted = address_counted(address)  # an IPv6 client's /64 is one client
    if rate_limit_hit(group="sso-backchannel", key=counted, rate=BACKCHANNEL_REFUSALS_RATE):
        floods.rate_limited_record(
            endpoint="sso.backchannel",
            source=counted,
            ip_address=address,
            actor_label="anonymous",
            record=lambda flood: backchannel.refused_record(
                provider=provider, reason="rate limited", **flood
            ),
        )
        return JsonResponse({"error": "temporarily_unavailable"}, status=429)
    backchannel.refused_record(provider=provider, reason=reason)
    error = {400: "invalid_request", 404: "invalid_request"}.get(status, "temporarily_unavailable")
    return JsonResponse({"error": error}, status=status)


# --- Linking an existing account (sso/account_link.py) ---------------------------------------


@site_admin_required
@require_POST
# The link is a key to the account for whoever holds its e-mail: with a stolen session,
# one for the thief's own provider identity.
@reauth.recent_proof_required()
def account_link_send(request: HttpRequest, user_id: int) -> HttpResponse:
    subject = get_object_or_404(User, pk=user_id)
    back = reverse("accounts:admin_user", args=[subject.pk])
    provider = provider_get(request.POST.get("provider", "")[:64])
    if provider is None:
        # A name the form never offers (a provider removed meanwhile, or a forged form):
        # a 400 with the reason, recorded as refused input (audit/refusals.py).
        error = AccountRuleError(_("Choose an identity provider this site knows."))
        return render(
            request,
            "sso/account_link_refused.html",
            {"message": str(error), "subject": subject, "back": back},
            status=error.status_code,
        )
    if not confirmed(request):
        return confirmation_page(
            request,
            title=_("Send a link to %(provider)s to %(name)s?")
            % {"provider": provider.name, "name": subject.get_full_name()},
            losses=[
                _(
                    "A single-use link goes to %(email)s. Whoever opens it and signs in with "
                    "%(provider)s links that %(provider)s identity to this account, and signs "
                    "in with it from then on."
                )
                % {"email": subject.email, "provider": provider.name},
                _("Check the address first: the e-mail address alone is never the proof."),
            ],
            button=_("Send the link"),
            cancel_url=back,
        )
    try:
        account_link.account_link_send(
            actor=signed_in_user(request), user=subject, provider=provider
        )
    except credential_approvals.ApprovalNeeded as error:
        return approval_needed_page(request, subject, error)
    except AccountRuleError as error:
        refusals.rule_refusal_record(request, error)
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            _("Link to %(provider)s sent to %(email)s.")
            % {"provider": provider.name, "email": subject.email},
        )
    return redirect(back)


@never_cache
@require_GET
def account_link_page(request: HttpRequest, token: str) -> HttpResponseBase:
    """The page the e-mail's link opens: one button, to the provider it names."""
    limited = _rate_limited(request, None)
    if limited is not None:
        return limited
    return _counting_refusals(request, lambda: _account_link_page(request, token))


def _account_link_page(request: HttpRequest, token: str) -> HttpResponseBase:
    link_request = account_link.account_link_get_valid(token=token[:200])
    provider = provider_get(link_request.provider) if link_request else None
    if link_request is None or provider is None:
        account_link.account_link_refused_record(
            token=token[:200], reason="unknown, used or expired"
        )
        return render(request, "sso/account_link_invalid.html", status=410)
    provider_form_targets(request, [provider])
    return render(
        request,
        "sso/account_link.html",
        {"provider": provider, "token": token, "email": link_request.user.email},
    )


@never_cache
@require_POST
@_provider_view(start=True)
def account_link_sign_in_start(request: HttpRequest, provider: Provider) -> HttpResponseBase:
    """ "Continue with <provider>": the link's token, checked here, goes into this
    browser's session; the callback links the identity to that account and no other."""
    token = request.POST.get("link", "")[:200]
    link_request = account_link.account_link_get_valid(token=token) if token else None
    if link_request is None or link_request.provider != provider.slug:
        account_link.account_link_refused_record(
            token=token, reason=f"unknown, used or expired (identity provider {provider.slug})"
        )
        return render(request, "sso/account_link_invalid.html", status=410)
    request.session.pop(NEXT_SESSION_KEY, None)
    request.session.pop(INVITATION_SESSION_KEY, None)
    request.session[ACCOUNT_LINK_SESSION_KEY] = {
        "provider": provider.slug,
        "token_hash": token_hash(token),
    }
    return _authorize_redirect(request, provider)
