"""django-otp-webauthn runs the passkey ceremonies; this helper adds SecureDrive's audit.

Installed with ``OTP_WEBAUTHN_HELPER_CLASS``: the package's own views, JavaScript and
replay protection (single-use challenges kept in the session) stay as they are. The
package's registration view marks the session verified right after ``register_complete``
returns, so this is also where the session gets its new id (sessions.session_key_renew),
as the TOTP and recovery-code steps do, and where a first passkey counts as a recent
proof (accounts/reauth.py). A passkey used to sign in or confirm is granted all that
only in ``AuthenticationCompleteView``, after the package's own refusal of a disabled
passkey or a deactivated person. Its registration endpoints are reachable without SecureDrive's
pages, so the recent-proof rule for a new passkey is enforced here too, not only on the
"Add a passkey" page.

The registration views are the package's, with one rule changed (``accounts/
webauthn_urls.py`` routes to them): who counts as already enrolled. The package counts
every confirmed django-otp device, and a link to the organisation's identity provider
(``sso.ExternalIdentity``) is one, although nobody can type a code into it; a person who
signs in only through the provider, at password level, was then refused a first passkey
("verify with an existing device first"). SecureDrive's rule is ``mfa.may_add_device``'s:
a device the person signs in with (authenticator app, passkey) must be used first.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django_otp_webauthn.exceptions import NotVerified
from django_otp_webauthn.helpers import WebAuthnHelper
from django_otp_webauthn.views import (
    BeginCredentialRegistrationView,
    CompleteCredentialAuthenticationView,
    CompleteCredentialRegistrationView,
)

from accounts import mfa, reauth, sessions


class AuditedWebAuthnHelper(WebAuthnHelper):  # type: ignore[misc]  # untyped package
    def _registration_allowed(self, user: Any) -> None:
        """A passkey added from a verified session needs a recent second factor, even a
        first one (someone whose second factor is the identity provider's); a first one
        at enrolment (an unverified session: the package itself refuses one that has a
        device) needs a recent sign-in or the password typed again (accounts/reauth.py)."""
        if mfa.session_is_verified(self.request.user):
            if reauth.proof_is_recent(self.request):
                return
        elif reauth.sign_in_is_recent(self.request):
            return
        mfa.passkey_registration_failed_record(actor=user, reason="no recent second factor")
        raise NotVerified(detail=_("Confirm your second factor again before adding a passkey."))

    def register_begin(self, user: Any) -> Any:
        self._registration_allowed(user)
        return super().register_begin(user=user)

    def create_credential(self, user: Any, *args: Any, **kwargs: Any) -> Any:
        device = super().create_credential(user, *args, **kwargs)
        device.name = _("Passkey")
        return device

    def register_complete(self, user: Any, state: dict[str, Any], data: dict[str, Any]) -> Any:
        self._registration_allowed(user)
        # A first passkey verifies the session that created it (see the package's view).
        raises_privilege = not mfa.session_is_verified(self.request.user)
        try:
            with transaction.atomic():
                device = super().register_complete(user=user, state=state, data=data)
                mfa.passkey_added_record(actor=user, device=device)
        except Exception:
            mfa.passkey_registration_failed_record(actor=user)
            raise
        if raises_privilege:
            sessions.session_key_renew(self.request)
            reauth.proof_record(self.request)
        return device

    def authenticate_complete(self, user: Any, state: dict[str, Any], data: dict[str, Any]) -> Any:
        """The signature is checked here; a rejected one is recorded. Success is not:
        the package's view still refuses a disabled passkey or a deactivated person
        after this returns (``AuthenticationCompleteView`` grants, once it has not)."""
        purpose = _verification_purpose(self.request)
        try:
            with transaction.atomic():
                return super().authenticate_complete(user=user, state=state, data=data)
        except Exception:
            mfa.passkey_verification_record(actor=user, device=None, purpose=purpose)
            raise


def _verification_purpose(request: Any) -> str:
    # Already verified: this is a confirmation before a sensitive action.
    if mfa.session_is_verified(request.user):
        return mfa.PURPOSE_REAUTH
    return mfa.PURPOSE_SIGN_IN


class AuthenticationCompleteView(CompleteCredentialAuthenticationView):  # type: ignore[misc]
    """The package's last step, with nothing granted before its own checks pass: the
    success event, the session's new id and the recent proof come after
    ``check_device_usable`` (a disabled passkey, a deactivated person), never before."""

    def post(self, *args: Any, **kwargs: Any) -> Any:
        self.verification_purpose = _verification_purpose(self.request)
        return super().post(*args, **kwargs)

    def check_device_usable(self, device: Any) -> None:
        try:
            super().check_device_usable(device)
        except Exception:
            mfa.passkey_verification_record(
                actor=device.user, device=None, purpose=self.verification_purpose
            )
            raise

    def complete_auth(self, device: Any) -> Any:
        with transaction.atomic():
            mfa.passkey_verification_record(
                actor=device.user, device=device, purpose=self.verification_purpose
            )
        completed = super().complete_auth(device)
        sessions.session_key_renew(self.request)
        reauth.proof_record(self.request)
        return completed


class _FirstDeviceRule:
    """``user_is_mfa_enrolled`` as ``mfa.may_add_device`` reads it: only a device the
    person signs in with counts (the package's own hook for this rule)."""

    def user_is_mfa_enrolled(self, user: Any) -> bool:
        return not mfa.may_add_device(user=user, verified=False)


class RegistrationBeginView(_FirstDeviceRule, BeginCredentialRegistrationView):  # type: ignore[misc]
    pass


class RegistrationCompleteView(_FirstDeviceRule, CompleteCredentialRegistrationView):  # type: ignore[misc]
    pass
