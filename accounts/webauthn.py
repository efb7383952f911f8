"""django-otp-webauthn runs the passkey ceremonies; this helper adds SecureDrive's audit.

Installed with ``OTP_WEBAUTHN_HELPER_CLASS``: the package's own views, JavaScript and
replay protection (single-use challenges kept in the session) stay as they are.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django_otp_webauthn.helpers import WebAuthnHelper

from accounts import mfa


class AuditedWebAuthnHelper(WebAuthnHelper):  # type: ignore[misc]  # untyped package
    def create_credential(self, user: Any, *args: Any, **kwargs: Any) -> Any:
        device = super().create_credential(user, *args, **kwargs)
        device.name = _("Passkey")
        return device

    def register_complete(self, user: Any, state: dict[str, Any], data: dict[str, Any]) -> Any:
        try:
            with transaction.atomic():
                device = super().register_complete(user=user, state=state, data=data)
                mfa.passkey_added_record(actor=user, device=device)
        except Exception:
            mfa.passkey_registration_failed_record(actor=user)
            raise
        return device

    def authenticate_complete(self, user: Any, state: dict[str, Any], data: dict[str, Any]) -> Any:
        try:
            with transaction.atomic():
                device = super().authenticate_complete(user=user, state=state, data=data)
                mfa.passkey_verification_record(actor=user, device=device)
        except Exception:
            mfa.passkey_verification_record(actor=user, device=None)
            raise
        return device
