"""django-otp-webauthn runs the passkey ceremonies; this helper adds SecureDrive's audit.

Installed with ``OTP_WEBAUTHN_HELPER_CLASS``: the package's own views, JavaScript and
replay protection (single-use challenges kept in the session) stay as they are. The
package's views mark the session verified right after these methods return, so this is
also where the session gets its new id (sessions.session_key_renew), as the TOTP and
recovery-code steps do.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django_otp_webauthn.helpers import WebAuthnHelper

from accounts import mfa, sessions


class AuditedWebAuthnHelper(WebAuthnHelper):  # type: ignore[misc]  # untyped package
    def create_credential(self, user: Any, *args: Any, **kwargs: Any) -> Any:
        device = super().create_credential(user, *args, **kwargs)
        device.name = _("Passkey")
        return device

    def register_complete(self, user: Any, state: dict[str, Any], data: dict[str, Any]) -> Any:
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
        return device

    def authenticate_complete(self, user: Any, state: dict[str, Any], data: dict[str, Any]) -> Any:
        try:
            with transaction.atomic():
                device = super().authenticate_complete(user=user, state=state, data=data)
                mfa.passkey_verification_record(actor=user, device=device)
        except Exception:
            mfa.passkey_verification_record(actor=user, device=None)
            raise
        sessions.session_key_renew(self.request)
        return device
