"""Authenticator apps (TOTP, RFC 6238) whose secrets are stored wrapped.

django-otp's ``TOTPDevice`` keeps its secret in clear in ``key``: a database dump (a
backup, a replica, a stolen laptop's test copy) would be enough to generate every
person's codes. ``AuthenticatorApp`` stores the secret wrapped under the keyring
(``core.wrapping``, as file data keys are), bound to the person and to a random id of
its own, and unwraps it only in memory, for ``bin_key``. Everything else is django-otp's
own code, not a copy: ``verify_token`` (with its replay protection, ``last_t``, and the
drift), the throttling of ``ThrottlingMixin`` and the ``config_url`` of the QR code are
``TOTPDevice``'s methods.

Migration ``accounts/0004_authenticator_app`` moved existing ``TOTPDevice`` rows here,
wrapping their secrets, and deleted them. ``manage.py rotate_keys`` re-wraps these
secrets along with the file data keys (``authenticator_app_keys_rewrap``).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.db import models, transaction
from django_otp.models import Device, ThrottlingMixin, TimestampMixin
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit import services as audit
from audit.actions import Action
from audit.models import Outcome
from core.keys import keyring
from core.wrapping import (
    WRAP_OVERHEAD,
    EnvelopeError,
    WrappedKey,
    secret_rewrap,
    secret_unwrap,
    secret_wrap,
)

# What django-otp generates (``random_hex(20)``) and RFC 4226 recommends: 160 bits.
# Devices moved from TOTPDevice keep their length (django-otp allowed up to 40 bytes).
SECRET_SIZE = 20
SECRET_SIZES = range(16, 41)
_BOUND_TO = "authenticator app"


def associated_data(*, user_id: int, secret_id: uuid.UUID) -> bytes:
    """Binds a wrapped secret to its person and its row: copied onto someone else's
    authenticator app (by someone who can write the database), it does not unwrap."""
    return f"authenticator-app:{user_id}:{secret_id}".encode("ascii")


class AuthenticatorAppManager(models.Manager["AuthenticatorApp"]):
    """django-otp's ``DeviceManager`` (what ``django_otp.devices_for_user`` calls), typed."""

    def devices_for_user(
        self, user: Any, confirmed: bool | None = None
    ) -> models.QuerySet[AuthenticatorApp]:
        devices = self.filter(user=user)
        if confirmed is not None:
            devices = devices.filter(confirmed=bool(confirmed))
        return devices


class AuthenticatorApp(TimestampMixin, ThrottlingMixin, Device):  # type: ignore[misc]
    """A person's authenticator app; the secret is wrapped, never stored in clear."""

    secret_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kek_id = models.CharField(max_length=64)
    wrapped_key = models.BinaryField()
    # The rest as in django-otp's TOTPDevice, whose verification reads them.
    step = models.PositiveSmallIntegerField(default=30)
    t0 = models.BigIntegerField(default=0)
    digits = models.PositiveSmallIntegerField(choices=[(6, 6), (8, 8)], default=6)
    tolerance = models.PositiveSmallIntegerField(default=1)
    drift = models.SmallIntegerField(default=0)
    last_t = models.BigIntegerField(default=-1)

    objects: ClassVar[AuthenticatorAppManager] = AuthenticatorAppManager()

    class Meta(Device.Meta):  # type: ignore[misc]
        verbose_name = "authenticator app"

    # django-otp's own verification, throttle factor and QR-code URL, unchanged.
    verify_token = TOTPDevice.verify_token
    get_throttle_factor = TOTPDevice.get_throttle_factor
    config_url = TOTPDevice.config_url
    _read_str_from_settings = TOTPDevice._read_str_from_settings

    def secret_set(self, secret: bytes) -> None:
        """Wrap ``secret`` (not saved yet): the only way a secret enters the row."""
        if len(secret) not in SECRET_SIZES:
            raise ValueError("an authenticator-app secret is 16 to 40 bytes long")
        if self.user_id is None:
            raise ValueError("an authenticator app's secret is bound to its person: set user")
        wrapped = secret_wrap(keyring(), secret, self._associated_data())
        self.kek_id, self.wrapped_key = wrapped.kek_id, wrapped.wrapped
        self.__dict__["_secret"] = secret

    @property
    def bin_key(self) -> bytes:
        """The secret, unwrapped in memory for django-otp's ``verify_token``."""
        cached = self.__dict__.get("_secret")
        if cached is None:
            cached = secret_unwrap(
                keyring(),
                self.wrapped,
                self._associated_data(),
                secret_size=self._secret_size(),
                bound_to=_BOUND_TO,
            )
            self.__dict__["_secret"] = cached
        return bytes(cached)

    @property
    def wrapped(self) -> WrappedKey:
        return WrappedKey(self.kek_id, bytes(self.wrapped_key))

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Safe by construction: a new app gets a fresh random secret, as TOTPDevice's
        # default key does, and never a row without one.
        if not self.wrapped_key:
            self.secret_set(secrets.token_bytes(SECRET_SIZE))
        super().save(*args, **kwargs)

    def refresh_from_db(self, *args: Any, **kwargs: Any) -> None:
        self.__dict__.pop("_secret", None)
        super().refresh_from_db(*args, **kwargs)

    def _secret_size(self) -> int:
        return len(self.wrapped_key) - WRAP_OVERHEAD

    def _associated_data(self) -> bytes:
        return associated_data(user_id=self.user_id, secret_id=self.secret_id)


# --- Key rotation -----------------------------------------------------------------------


@dataclass
class AppRewrapReport:
    current_kek_id: str
    total: int = 0
    rewrapped: int = 0
    failed: list[int] = field(default_factory=list)


def authenticator_app_keys_rewrap(
    *,
    batch_size: int = 500,
    progress: Callable[[AppRewrapReport], None] | None = None,
    actor_label: str = "manage.py rotate_keys",
) -> AppRewrapReport:
    """Re-wrap every authenticator-app secret not under the current KEK.

    As the file data keys' rotation: each batch commits with its audit event, a run
    stopped anywhere carries on where it was, and a secret that does not unwrap (a
    tampered row) is reported and left alone; its owner signs in with another device
    or a recovery code and sets the app up again.
    """
    ring = keyring()
    current = ring.current_key_id
    report = AppRewrapReport(current_kek_id=current)
    pending = AuthenticatorApp.objects.exclude(kek_id=current)
    report.total = pending.count()
    while True:
        with transaction.atomic():
            batch = list(
                pending.select_for_update()
                .exclude(pk__in=report.failed)
                .order_by("pk")[:batch_size]
            )
            if not batch:
                break
            from_keks: dict[str, int] = {}
            failed: list[int] = []
            for app in batch:
                try:
                    rewrapped = secret_rewrap(
                        ring,
                        app.wrapped,
                        app._associated_data(),
                        secret_size=app._secret_size(),
                        bound_to=_BOUND_TO,
                    )
                except EnvelopeError:
                    failed.append(app.pk)
                    continue
                from_keks[app.kek_id] = from_keks.get(app.kek_id, 0) + 1
                app.kek_id, app.wrapped_key = rewrapped.kek_id, rewrapped.wrapped
                app.save(update_fields=["kek_id", "wrapped_key"])
                report.rewrapped += 1
            report.failed.extend(failed)
            audit.record(
                action=Action.ACCOUNTS_MFA_KEYS_REWRAP,
                outcome=Outcome.ERROR if failed else Outcome.SUCCESS,
                actor_label=actor_label,
                details={
                    "current_kek": current,
                    "from_keks": from_keks,
                    "count": sum(from_keks.values()),
                    "failed": failed,
                },
            )
        if progress is not None:
            progress(report)
    return report
