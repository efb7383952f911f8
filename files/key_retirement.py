"""Taking an old key-encryption key out of the keyring (``rotate_keys --remove-key``).

A KEK may leave the keyring only once nothing stored needs it: file data keys and
authenticator-app secrets (``rotate_keys`` re-wraps them under the current key) and
recovery codes, hashed under a key derived from the KEK current when they were made,
which nothing can move since nobody holds the codes. Before, the key was taken out by
editing the keyring file, and every recovery code made under it silently stopped
working: people found out the day they lost their phone.

So the removal refuses, naming what needs the key, how many people, and what to do.
``force`` ends only what people can replace themselves (their recovery codes: each is
told by e-mail, in their language, to make new ones); a file's data key is never forced
out, since the file would be lost with it. Refused or done, the attempt is audited
(``keyring.key.remove``). Database backups taken before the removal still name the key:
keep it in the keyring's backups as long as those database backups.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from audit import services as audit
from audit.actions import Action
from audit.models import Outcome
from core.keyring import FileKeyring
from core.keys import KekDependent, KeyUse, kek_uses


class KeyRetirementRefused(Exception):
    """The key stays: the message says why and what to do."""


@dataclass(frozen=True)
class KeyRetirement:
    key_id: str
    forced: bool
    ended: list[KeyUse]  # what the force ended (empty when nothing needed the key)
    people_told: int


def _people(uses: list[KeyUse]) -> int:
    return len(frozenset().union(*(use.people for use in uses)))


def _in_words(use: KeyUse) -> str:
    if use.people:
        return f"{use.what} of {len(use.people)} people"
    return f"{use.count} {use.what}"


def _details(key_id: str, uses: list[KeyUse], *, forced: bool) -> dict[str, object]:
    return {
        "kek": key_id,
        "forced": forced,
        "needed_by": [_in_words(use) for use in uses],
        "people": _people(uses),
        # Recovery codes are the only thing people renew themselves (forgettable).
        "recovery_code_people": _people([use for use in uses if use.forgettable]),
    }


def kek_retire(*, key_id: str, force: bool = False, actor_label: str) -> KeyRetirement:
    """Remove ``key_id`` from the keyring file, or raise ``KeyRetirementRefused``."""
    path = Path(settings.KEYRING_FILE)
    ring = FileKeyring.load(path)
    refusal = ""
    found: list[tuple[KekDependent, KeyUse]] = []
    uses: list[KeyUse] = []
    with transaction.atomic():
        if key_id not in ring.key_ids():
            refusal = f"{key_id} is not in the keyring (its keys: {', '.join(ring.key_ids())})."
        elif key_id == ring.current_key_id:
            refusal = (
                f"{key_id} is the current key: it wraps every new key. Add a new one first "
                "(manage.py rotate_keys --new-key), then remove this one."
            )
        else:
            found = kek_uses(key_id)
            uses = [use for _dependent, use in found]
            blocking = [use for use in uses if not (force and use.forgettable)]
            if blocking:
                refusal = f"{key_id} was not removed: " + "; ".join(
                    f"{_in_words(use)} still need it ({use.remedy})" for use in blocking
                )
                if force and any(not use.forgettable for use in blocking):
                    refusal += ". --force never ends what only this key can open."
        if refusal:
            audit.record(
                action=Action.KEYRING_KEY_REMOVE,
                outcome=Outcome.DENIED,
                actor_label=actor_label,
                details={**_details(key_id, uses, forced=force), "reason": refusal},
            )
        else:
            people_told = 0
            for dependent, use in found:
                if use.forgettable:  # (anything else refused above)
                    people_told += dependent.forget(key_id, actor_label=actor_label)
            audit.record(
                action=Action.KEYRING_KEY_REMOVE,
                actor_label=actor_label,
                details=_details(key_id, uses, forced=force),
            )
            # Last, inside the transaction: if the file cannot be written, the codes
            # ended above come back and nobody is e-mailed (on_commit).
            ring.without_key(key_id).save(path)
    if refusal:
        raise KeyRetirementRefused(refusal)
    return KeyRetirement(key_id=key_id, forced=force, ended=uses, people_told=people_told)
