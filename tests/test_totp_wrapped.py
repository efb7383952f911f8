"""Authenticator-app secrets are wrapped with the keyring: a database dump alone does
not generate codes.

django-otp's TOTPDevice stored each secret in clear: anyone with a copy of the database
(a backup, a replica) could compute every person's second factor. Now the secret is
wrapped under the keyring (outside the database), bound to its person, and unwrapped
only in memory; django-otp still does the verification, the throttling and the replay
protection. Real sign-in views, real PostgreSQL, real keyring files.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pyotp
import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.test.utils import override_settings

from accounts import mfa
from accounts.models import User
from accounts.totp import AuthenticatorApp
from audit.actions import Action
from audit.models import AuditEvent
from core.keyring import FileKeyring, keyring_file_create
from core.wrapping import EnvelopeError
from tests.conftest import PASSWORD
from tests.helpers import client_password_only, totp_code, totp_wrong_code

VERIFY = "/accounts/mfa/verify/"
TOTP_ADD = "/accounts/mfa/setup/authenticator-app/"
BEFORE = ("accounts", "0003_role_proposal_four_eyes")
AFTER = ("accounts", "0004_authenticator_app")
OTP_TOTP = ("otp_totp", "0003_add_timestamps")


def spellings(secret: bytes) -> list[bytes]:
    """Every way the secret could sit in a dump: raw, hex, base32 (the QR code's)."""
    b32 = base64.b32encode(secret)
    return [secret, secret.hex().encode(), secret.hex().upper().encode(), b32, b32.rstrip(b"=")]


def database_dump() -> bytes:
    """Every row of every table, as text and bytes: what a stolen backup holds."""
    dump = bytearray()
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608  (names from the catalog)
            for row in cursor.fetchall():
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        dump += bytes(value)
                    else:
                        dump += str(value).encode()
                    dump += b"\x00"
    return bytes(dump)


def enrolled_through_the_page(user: User) -> tuple[Client, bytes]:
    """A clinician scans the QR code and types the first code: the secret, as the phone has it."""
    browser = client_password_only(user)
    page = browser.get(TOTP_ADD)
    shown = "".join(page.context["secret_groups"])
    secret = base64.b32decode(shown)
    code = pyotp.TOTP(shown).now()
    added = browser.post(TOTP_ADD, {"code": code, "name": "Work phone"})
    assert added.status_code == 200, added.content.decode()[:2000]
    return browser, secret


@pytest.mark.django_db
def test_a_database_dump_holds_no_authenticator_secret(owner: User) -> None:
    _browser, secret = enrolled_through_the_page(owner)

    app = AuthenticatorApp.objects.get(user=owner, confirmed=True)
    assert app.bin_key == secret  # unwrapped in memory only
    dump = database_dump()
    assert bytes(app.wrapped_key) in dump  # the dump has the row...
    for spelling in spellings(secret):
        assert spelling not in dump  # ...but not the secret, in any spelling


@pytest.mark.django_db
def test_codes_from_the_phone_still_sign_in(owner: User) -> None:
    _browser, secret = enrolled_through_the_page(owner)
    phone = pyotp.TOTP(base64.b32encode(secret).decode())
    browser = Client()
    browser.post("/accounts/login/", {"username": owner.email, "password": PASSWORD})
    # The enrolment code was used in this 30-second step: the phone's next one.
    with time_machine.travel(dt.datetime.now(tz=dt.UTC) + dt.timedelta(seconds=30)):
        assert browser.post(VERIFY, {"code": phone.now()})["Location"] == "/"
    assert browser.get("/api/v1/me/").status_code == 200


@pytest.mark.django_db
def test_throttling_and_replay_protection_are_django_otps_still(owner: User) -> None:
    app = AuthenticatorApp.objects.create(user=owner, name="Phone", confirmed=True)
    browser = client_password_only(owner)
    with time_machine.travel(dt.datetime.now(tz=dt.UTC), tick=False):
        wrong = browser.post(VERIFY, {"code": totp_wrong_code(app)})
        assert "not valid" in wrong.content.decode()
        # At once the right code is refused too: django-otp's back-off (1 s, 2 s, 4 s...).
        throttled = browser.post(VERIFY, {"code": totp_code(app)})
        assert throttled.status_code == 429
    app.refresh_from_db()
    assert app.throttling_failure_count == 1

    with time_machine.travel(dt.datetime.now(tz=dt.UTC) + dt.timedelta(seconds=5)):
        code = totp_code(app)
        assert browser.post(VERIFY, {"code": code})["Location"] == "/"
        # The same code a second time, in another browser: replay refused (last_t).
        again = client_password_only(owner).post(VERIFY, {"code": code})
        assert "not valid" in again.content.decode()


@pytest.mark.django_db
def test_a_secret_copied_onto_someone_elses_app_does_not_unwrap(
    owner: User, outsider: User
) -> None:
    """Someone who can write the database moves their own (known) wrapped secret onto
    Alice's app to pass her second factor: the wrapping is bound to its person."""
    mine = AuthenticatorApp.objects.create(user=outsider, name="Mallory's phone")
    alices = AuthenticatorApp.objects.create(user=owner, name="Phone")
    AuthenticatorApp.objects.filter(pk=alices.pk).update(
        kek_id=mine.kek_id, wrapped_key=mine.wrapped_key
    )
    with pytest.raises(EnvelopeError, match="another authenticator app"):
        _ = AuthenticatorApp.objects.get(pk=alices.pk).bin_key


@pytest.mark.django_db
def test_without_the_keyring_the_row_generates_nothing(owner: User, tmp_path: Path) -> None:
    app = AuthenticatorApp.objects.create(user=owner, name="Phone")
    stolen = tmp_path / "another" / "keyring.json"
    keyring_file_create(stolen)  # an attacker's keyring, or a restored one without this KEK
    with (
        override_settings(KEYRING_FILE=stolen),
        pytest.raises(EnvelopeError, match="not in the keyring"),
    ):
        _ = AuthenticatorApp.objects.get(pk=app.pk).bin_key


@pytest.mark.django_db
def test_rotate_keys_rewraps_authenticator_secrets_too(owner: User, private_keyring: Path) -> None:
    app = AuthenticatorApp.objects.create(user=owner, name="Phone", confirmed=True)
    secret, old_kek = app.bin_key, app.kek_id

    out = StringIO()
    call_command("rotate_keys", "--new-key", stdout=out)

    app = AuthenticatorApp.objects.get(pk=app.pk)
    new_kek = FileKeyring.load(private_keyring).current_key_id
    assert (old_kek != new_kek, app.kek_id) == (True, new_kek)
    assert app.bin_key == secret
    assert "Authenticator apps: 1 secret(s) re-wrapped" in out.getvalue()
    event = AuditEvent.objects.get(action=Action.ACCOUNTS_MFA_KEYS_REWRAP)
    assert event.details["count"] == 1
    assert event.details["from_keks"] == {old_kek: 1}
    # The code from the phone still verifies after the rotation.
    assert mfa.totp_device_verify(actor=owner, device=app, code=totp_code(app)) is not None


# --- The migration --------------------------------------------------------------------------


@pytest.fixture
def accounts_before_wrapping(transactional_db: None) -> Iterator[MigrationExecutor]:
    """The schema as it was with django-otp's TOTPDevice, brought back afterwards."""
    executor = MigrationExecutor(connection)
    executor.migrate([BEFORE])
    executor.loader.build_graph()
    try:
        yield executor
    finally:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_the_migration_wraps_an_existing_clear_device(
    accounts_before_wrapping: MigrationExecutor,
) -> None:
    old_apps = accounts_before_wrapping.loader.project_state([BEFORE, OTP_TOTP]).apps
    person = old_apps.get_model("accounts", "User").objects.create(
        email="claire.durand@hopital.example", password="!"
    )
    secret = bytes(range(1, 21))
    old_apps.get_model("otp_totp", "TOTPDevice").objects.create(
        user_id=person.pk, name="Phone", confirmed=True, key=secret.hex(), last_t=41
    )
    assert secret.hex().encode() in database_dump()

    accounts_before_wrapping.loader.build_graph()
    accounts_before_wrapping.migrate([AFTER])

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM otp_totp_totpdevice")
        assert cursor.fetchone() == (0,)
    dump = database_dump()
    for spelling in spellings(secret):
        assert spelling not in dump
    app = AuthenticatorApp.objects.get(user_id=person.pk)
    assert (app.name, app.confirmed, app.last_t) == ("Phone", True, 41)
    assert app.bin_key == secret
    code = pyotp.TOTP(base64.b32encode(secret).decode()).at(time.time())
    assert app.verify_token(code)
