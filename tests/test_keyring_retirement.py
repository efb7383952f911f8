"""An old key-encryption key leaves the keyring only when nothing needs it any more.

Recovery codes are stored as an HMAC under a key derived from the KEK that was current
when they were made (accounts/mfa.py): they cannot be re-wrapped like data keys, since
nobody holds the codes. Before, taking a KEK out of the keyring silently turned those
codes into dead paper: the clinician who lost her phone found out at the worst moment.
``manage.py rotate_keys --remove-key`` now refuses while anything still depends on the
key, says how many people and what to do; ``--force`` drops only what people can
replace themselves (their recovery codes), records it, and tells each person, in their
language, to make new codes.

People: Alice (owner, reads SecureDrive in French) and Tom (teammate, in English).
Real keyring file, real devices and codes, e-mails as Django's mail backend got them.
"""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.core.management import CommandError, call_command

from accounts import mfa
from accounts.models import RecoveryCodesKey, User
from audit.actions import Action
from audit.models import AuditEvent
from core.keyring import FileKeyring
from tests.files_helpers import root_of, version_store
from tests.helpers import client_password_only, totp_device_confirmed

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("folder_backend")]

RECOVERY = "/accounts/mfa/verify/recovery-code/"


def rotate(*arguments: str) -> str:
    out = io.StringIO()
    call_command("rotate_keys", *arguments, stdout=out)
    return out.getvalue()


def signs_in_with(person: User, code: str) -> bool:
    response = client_password_only(person).post(RECOVERY, {"code": code})
    return response.status_code == 302 and response["Location"] == "/"


def codes_made_before_a_rotation(private_keyring: Path, *people: User) -> tuple[str, list[str]]:
    """Each person gets an authenticator app and recovery codes under the first KEK; then
    the operator rotates: data keys and app secrets move to the new KEK, the codes cannot."""
    codes = []
    for person in people:
        totp_device_confirmed(person)
        codes.append(mfa.recovery_codes_generate(actor=person)[0])
    old = FileKeyring.load(private_keyring).current_key_id
    rotate("--new-key")
    return old, codes


def test_a_key_that_recovery_codes_need_is_not_removed_and_the_operator_is_told_why(
    owner: User, teammate: User, private_keyring: Path
) -> None:
    old, [alices_code, toms_code] = codes_made_before_a_rotation(private_keyring, owner, teammate)

    with pytest.raises(CommandError) as refused:
        rotate("--remove-key", old)

    message = str(refused.value)
    assert f"{old} was not removed" in message
    assert "recovery codes of 2 people" in message
    assert "Security page" in message
    assert "--force" in message
    assert old in FileKeyring.load(private_keyring).key_ids()
    assert signs_in_with(owner, alices_code)
    assert signs_in_with(teammate, toms_code)
    [denied] = AuditEvent.objects.filter(action=Action.KEYRING_KEY_REMOVE)
    assert denied.outcome == "denied"
    assert denied.details["kek"] == old
    assert denied.details["recovery_code_people"] == 2


def test_codes_made_under_the_current_key_do_not_hold_an_old_key_back(
    owner: User, private_keyring: Path
) -> None:
    """Alice made new codes after the rotation, as the refusal told her to: the old key
    can go, and her new codes keep working."""
    old, _codes = codes_made_before_a_rotation(private_keyring, owner)
    fresh = mfa.recovery_codes_generate(actor=owner)

    out = rotate("--remove-key", old)

    assert f"Removed {old}" in out
    assert old not in FileKeyring.load(private_keyring).key_ids()
    assert signs_in_with(owner, fresh[0])
    [removed] = AuditEvent.objects.filter(action=Action.KEYRING_KEY_REMOVE)
    assert (removed.outcome, removed.details["forced"]) == ("success", False)
    assert mail.outbox == []


def test_a_forced_removal_ends_the_codes_it_breaks_and_tells_each_person_in_their_language(
    owner: User, teammate: User, private_keyring: Path, django_capture_on_commit_callbacks: Any
) -> None:
    User.objects.filter(pk=owner.pk).update(language="fr")
    old, [alices_code, toms_code] = codes_made_before_a_rotation(private_keyring, owner, teammate)
    # Tom's codes were made before SecureDrive recorded which key a set was made under:
    # they may need the old key, so they count (and go) with it.
    RecoveryCodesKey.objects.filter(device__user=teammate).delete()
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        out = rotate("--remove-key", old, "--force")

    assert f"Removed {old}" in out
    assert "2 people" in out
    assert old not in FileKeyring.load(private_keyring).key_ids()
    # No dead codes left pretending to work: the Security page says "none, make some".
    assert mfa.recovery_codes_remaining(user=owner) is None
    assert mfa.recovery_codes_remaining(user=teammate) is None
    assert not signs_in_with(owner, alices_code)
    assert not signs_in_with(teammate, toms_code)
    notices = {message.to[0]: message for message in mail.outbox}
    assert set(notices) == {owner.email, teammate.email}
    assert notices[owner.email].subject == "Vos moyens de connexion à SecureDrive ont changé"
    assert "codes de secours" in notices[owner.email].body
    assert "/accounts/security/" in notices[owner.email].body
    assert "recovery codes no longer work" in notices[teammate.email].body
    assert "/accounts/security/" in notices[teammate.email].body
    [removed] = AuditEvent.objects.filter(action=Action.KEYRING_KEY_REMOVE)
    assert (removed.outcome, removed.details["forced"]) == ("success", True)
    assert removed.details["recovery_code_people"] == 2
    ended = AuditEvent.objects.filter(action=Action.ACCOUNTS_MFA_RECOVERY_CODES_INVALIDATE)
    assert {event.target_id for event in ended} == {str(owner.pk), str(teammate.pk)}
    assert {event.details["kek"] for event in ended} == {old}


def test_force_never_removes_a_key_that_patient_files_need(
    owner: User, private_keyring: Path
) -> None:
    """A file's data key wrapped under the old key would be lost with it (and the file
    with it): no option allows that; the operator is told to re-wrap first."""
    version_store(actor=owner, folder=root_of(owner), name="Compte rendu.pdf", content=b"cr")
    ring = FileKeyring.load(private_keyring)
    ring.with_new_current_key().save(private_keyring)  # a new key, nothing re-wrapped yet

    with pytest.raises(CommandError) as refused:
        rotate("--remove-key", ring.current_key_id, "--force")

    message = str(refused.value)
    assert "1 file data key" in message
    assert "manage.py rotate_keys" in message
    assert ring.current_key_id in FileKeyring.load(private_keyring).key_ids()


def test_the_current_key_and_an_unknown_key_are_refused(owner: User, private_keyring: Path) -> None:
    totp_device_confirmed(owner)
    current = FileKeyring.load(private_keyring).current_key_id

    with pytest.raises(CommandError, match="current key"):
        rotate("--remove-key", current, "--force")
    with pytest.raises(CommandError, match="not in the keyring"):
        rotate("--remove-key", "kek-20200101-00000000")

    assert FileKeyring.load(private_keyring).key_ids() == [current]
    assert [
        event.outcome for event in AuditEvent.objects.filter(action=Action.KEYRING_KEY_REMOVE)
    ] == [
        "denied",
        "denied",
    ]
