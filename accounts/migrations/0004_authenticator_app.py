"""Authenticator apps with wrapped secrets; existing django-otp TOTPDevice rows move in.

Each TOTPDevice's clear hex key is wrapped under the keyring's current key-encryption
key (core.wrapping) and the TOTPDevice row is deleted, so the live database no longer
holds a secret that generates codes. Backups taken before this migration still do:
see docs/mfa.md. Sessions verified with an old device are asked for a code again (the
device id changed). Reversible: the reverse unwraps the secrets back into TOTPDevice.
"""

import uuid
from typing import Any

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from core.keys import keyring
from core.wrapping import WRAP_OVERHEAD, WrappedKey, secret_unwrap, secret_wrap

# Copied from django-otp's TOTPDevice, field by field, with the secret aside.
_SAME_FIELDS = (
    "user_id",
    "name",
    "confirmed",
    "throttling_failure_timestamp",
    "throttling_failure_count",
    "created_at",
    "last_used_at",
    "step",
    "t0",
    "digits",
    "tolerance",
    "drift",
    "last_t",
)


def _associated_data(user_id: int, secret_id: uuid.UUID) -> bytes:
    # Must stay equal to accounts.totp.associated_data (a migration keeps its own copy).
    return f"authenticator-app:{user_id}:{secret_id}".encode("ascii")


def wrap_existing_devices(apps: Any, schema_editor: Any) -> None:
    old_model = apps.get_model("otp_totp", "TOTPDevice")
    new_model = apps.get_model("accounts", "AuthenticatorApp")
    devices = list(old_model.objects.all())
    if not devices:
        return
    ring = keyring()
    for device in devices:
        secret_id = uuid.uuid4()
        wrapped = secret_wrap(
            ring, bytes.fromhex(device.key), _associated_data(device.user_id, secret_id)
        )
        app = new_model.objects.create(
            secret_id=secret_id,
            kek_id=wrapped.kek_id,
            wrapped_key=wrapped.wrapped,
            **{field: getattr(device, field) for field in _SAME_FIELDS},
        )
        # created_at is auto_now_add: keep when the person really set the app up.
        new_model.objects.filter(pk=app.pk).update(created_at=device.created_at)
        device.delete()


def unwrap_back(apps: Any, schema_editor: Any) -> None:
    old_model = apps.get_model("otp_totp", "TOTPDevice")
    new_model = apps.get_model("accounts", "AuthenticatorApp")
    apps_now = list(new_model.objects.all())
    if not apps_now:
        return
    ring = keyring()
    for app in apps_now:
        wrapped = bytes(app.wrapped_key)
        secret = secret_unwrap(
            ring,
            WrappedKey(app.kek_id, wrapped),
            _associated_data(app.user_id, app.secret_id),
            secret_size=len(wrapped) - WRAP_OVERHEAD,
        )
        device = old_model.objects.create(
            key=secret.hex(), **{field: getattr(app, field) for field in _SAME_FIELDS}
        )
        old_model.objects.filter(pk=device.pk).update(created_at=app.created_at)
        app.delete()


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0003_role_proposal_four_eyes"),
        ("otp_totp", "0003_add_timestamps"),
    ]

    operations = [
        migrations.CreateModel(
            name='AuthenticatorApp',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(help_text='The human-readable name of this device.', max_length=64)),
                ('confirmed', models.BooleanField(default=True, help_text='Is this device ready for use?')),
                ('throttling_failure_timestamp', models.DateTimeField(blank=True, default=None, help_text='A timestamp of the last failed verification attempt. Null if last attempt succeeded.', null=True)),
                ('throttling_failure_count', models.PositiveIntegerField(default=0, help_text='Number of successive failed attempts.')),
                ('created_at', models.DateTimeField(auto_now_add=True, help_text='The date and time when this device was initially created in the system.', null=True)),
                ('last_used_at', models.DateTimeField(blank=True, help_text='The most recent date and time this device was used.', null=True)),
                ('secret_id', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ('kek_id', models.CharField(max_length=64)),
                ('wrapped_key', models.BinaryField()),
                ('step', models.PositiveSmallIntegerField(default=30)),
                ('t0', models.BigIntegerField(default=0)),
                ('digits', models.PositiveSmallIntegerField(choices=[(6, 6), (8, 8)], default=6)),
                ('tolerance', models.PositiveSmallIntegerField(default=1)),
                ('drift', models.SmallIntegerField(default=0)),
                ('last_t', models.BigIntegerField(default=-1)),
                ('user', models.ForeignKey(help_text='The user that this device belongs to.', on_delete=django.db.models.deletion.CASCADE, to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'authenticator app',
                'abstract': False,
            },
        ),
        migrations.RunPython(wrap_existing_devices, unwrap_back),
    ]
