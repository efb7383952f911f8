"""Re-wrap every data key and authenticator-app secret under the current KEK.

    manage.py rotate_keys              # re-wrap what is not under the current KEK
    manage.py rotate_keys --new-key    # first add a fresh KEK to the keyring file

Blobs are not touched: only the 61-byte wrapped keys in the database change, and the
wrapped secrets of authenticator apps (``accounts.totp``), thumbnails' keys and those of
unfinished uploads. It ends by naming the older KEKs still in use (none: they may leave
the keyring once no backup to restore needs them). The run is resumable and
idempotent (each batch commits on its own; a key already under the current KEK is left
alone) and audited (``files.keys.rotation`` at start and finish, ``files.keys.rewrap``
and ``accounts.mfa.keys.rewrap`` per batch). Exit status 1 if a wrapped key failed to
unwrap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.totp import AuthenticatorApp, authenticator_app_keys_rewrap
from core.keyring import FileKeyring, KeyringError
from files import lifecycle
from files.lifecycle import RewrapReport, data_keys_rewrap


class Command(BaseCommand):
    help = (
        "Re-wrap every file data key and authenticator-app secret under the current "
        "key-encryption key (blobs untouched)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--new-key",
            action="store_true",
            help="Add a new key-encryption key to the keyring file and make it current first.",
        )
        parser.add_argument("--batch-size", type=int, default=500, help="Keys per transaction.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["new_key"]:
            path = Path(settings.KEYRING_FILE)
            try:
                rotated = FileKeyring.load(path).with_new_current_key()
                rotated.save(path)
            except KeyringError as error:
                raise CommandError(str(error)) from None
            self.stdout.write(f"New current key-encryption key: {rotated.current_key_id}")
            self.stdout.write(
                "Back the keyring up now: old keys stay in it until nothing uses them."
            )

        def progress(report: RewrapReport) -> None:
            done = report.rewrapped + len(report.failed)
            percent = 100 * done // report.total if report.total else 100
            self.stdout.write(f"\rre-wrapped {done}/{report.total} ({percent}%)", ending="")
            self.stdout.flush()

        report = data_keys_rewrap(batch_size=max(1, options["batch_size"]), progress=progress)
        if report.total:
            self.stdout.write("")  # end the progress line
            self.stdout.write(
                f"Done: {report.rewrapped} data key(s) re-wrapped under {report.current_kek_id}."
            )
        else:
            self.stdout.write(f"Nothing to do: every data key is under {report.current_kek_id}.")
        apps = authenticator_app_keys_rewrap(batch_size=max(1, options["batch_size"]))
        self.stdout.write(
            f"Authenticator apps: {apps.rewrapped} secret(s) re-wrapped under "
            f"{apps.current_kek_id}."
        )
        in_use = lifecycle.kek_ids_in_use() | set(
            AuthenticatorApp.objects.values_list("kek_id", flat=True).distinct()
        )
        older = sorted(in_use - {report.current_kek_id})
        if older:
            self.stdout.write("Older key-encryption keys still in use: " + ", ".join(older))
        else:
            self.stdout.write(
                "No data key or secret names an older key-encryption key any more "
                "(database backups taken before this run still do)."
            )
        problems = []
        if report.failed:
            problems.append(
                f"{len(report.failed)} wrapped key(s) failed to unwrap and were flagged: "
                + ", ".join(report.failed)
            )
        if apps.failed:
            problems.append(
                f"{len(apps.failed)} authenticator app(s) whose secret failed to unwrap "
                "(their owners set them up again): " + ", ".join(map(str, apps.failed))
            )
        if problems:
            raise CommandError(" ".join(problems))
