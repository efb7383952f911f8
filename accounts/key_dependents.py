"""What of the accounts app needs a key-encryption key, for ``rotate_keys --remove-key``.

Authenticator-app secrets are wrapped under a KEK: ``manage.py rotate_keys`` re-wraps
them, nothing else may (forcing the key out would leave the app unable to sign in).
Recovery codes are an HMAC under a key derived from the KEK current when they were made
(``accounts.mfa``); nobody holds the codes, so nothing can move them to another key:
only the person can replace them, by making new ones. A forced removal ends those sets
(no dead codes left on the Security page pretending to work) and tells each person.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django_otp.plugins.otp_static.models import StaticDevice

from accounts import security_notices
from accounts.models import RecoveryCodesKey, User
from accounts.totp import AuthenticatorApp
from audit import services as audit
from audit.actions import Action
from core.keys import KeyUse, keyring

# accounts.mfa: keyed hashes start with "k:"; the first release's unkeyed ones need no key.
_KEYED = "k:"


def recovery_code_kek_ids() -> set[str]:
    """KEKs recorded for recovery codes (the missing-keyring check, rotate_keys' report)."""
    return set(RecoveryCodesKey.objects.values_list("kek_id", flat=True).distinct())


def _recovery_code_sets_needing(key_id: str) -> QuerySet[StaticDevice]:
    """The sets hashed under ``key_id``, and the keyed sets made before SecureDrive
    recorded their key, unless ``key_id`` is the current key (then a set needing it is
    made under it, recorded): those may need any older key, so they count for each."""
    recorded = RecoveryCodesKey.objects.filter(kek_id=key_id).values("device_id")
    sets: QuerySet[StaticDevice] = StaticDevice.objects.filter(pk__in=recorded)
    if key_id != keyring().current_key_id:
        unrecorded = (
            StaticDevice.objects.exclude(pk__in=RecoveryCodesKey.objects.values("device_id"))
            .filter(token_set__token__startswith=_KEYED)
            .values("pk")
        )
        sets = sets | StaticDevice.objects.filter(pk__in=unrecorded)
    return sets.distinct()


class AuthenticatorAppSecrets:
    def uses(self, key_id: str) -> KeyUse | None:
        apps = AuthenticatorApp.objects.filter(kek_id=key_id)
        return KeyUse(
            what="authenticator-app secret(s)",
            count=apps.count(),
            people=frozenset(apps.values_list("user_id", flat=True)),
            remedy="run `manage.py rotate_keys` first: it re-wraps them under the current key",
        )

    def forget(self, key_id: str, *, actor_label: str) -> int:
        raise NotImplementedError("authenticator-app secrets are re-wrapped, never dropped")


class RecoveryCodes:
    def uses(self, key_id: str) -> KeyUse | None:
        people = frozenset(_recovery_code_sets_needing(key_id).values_list("user_id", flat=True))
        return KeyUse(
            what="recovery codes",
            count=len(people),
            people=people,
            remedy=(
                "nothing can re-wrap recovery codes: ask these people to make new ones on "
                "their Security page (/accounts/security/), then run this again; or run it "
                "with --force, which ends their codes and e-mails each of them to make new "
                "ones (until they do, a lost phone means asking an administrator)"
            ),
            forgettable=True,
        )

    def forget(self, key_id: str, *, actor_label: str) -> int:
        """End every set that needs ``key_id``, one audited event per person, each told
        by e-mail in their language once the removal commits."""
        sets = list(
            StaticDevice.objects.filter(
                pk__in=_recovery_code_sets_needing(key_id).values("pk")
            ).select_for_update()
        )
        people = User.objects.in_bulk({device.user_id for device in sets})
        for device in sets:
            person = people[device.user_id]
            unused = int(device.token_set.count())
            # The device goes, as when the person makes new codes: a session opened
            # with one of these codes is asked for its second factor again.
            device.delete()
            ended = audit.record(
                action=Action.ACCOUNTS_MFA_RECOVERY_CODES_INVALIDATE,
                actor_label=actor_label,
                target_type="accounts.user",
                target_id=person.pk,
                details={"email": person.email, "kek": key_id, "unused_codes": unused},
            )
            security_notices.security_notice_queue(event=ended)
        return len(sets)
