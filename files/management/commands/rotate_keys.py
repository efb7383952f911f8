"""Re-wrap every data key and authenticator-app secret under the current KEK.

    manage.py rotate_keys              # re-wrap what is not under the current KEK
    manage.py rotate_keys --new-key    # first add a fresh KEK to the keyring file
    manage.py rotate_keys --remove-key KEK [--force]   # take an old KEK out

``--remove-key`` re-wraps nothing: it refuses while anything still needs the key
(files/key_retirement.py says what and why); ``--force`` ends only people's recovery
codes made under it, and e-mails each person to make new ones.

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

from accounts.totp import authenticator_app_keys_rewrap
from core.keyring import FileKeyring, KeyringError
from core.keys import kek_ids_in_use
from files.key_retirement import KeyRetirementRefused, kek_retire
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
        parser.add_argument(
            "--remove-key",
            metavar="KEK",
            help=(
                "Remove this old key-encryption key from the keyring, only if nothing needs "
                "it any more (nothing is re-wrapped)."
            ),
        )
        parser.add_argument(
            "--force",
            action="store_true",
            help=(
                "With --remove-key: also when people's recovery codes need the key; their "
                "codes end and each is e-mailed to make new ones. Never for file data keys "
                "or authenticator apps."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["force"] and not options["remove_key"]:
            raise CommandError("--force goes with --remove-key.")
        if options["remove_key"]:
            self._remove(options["remove_key"], force=options["force"])
            return
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
        in_use = kek_ids_in_use()  # data keys, app secrets, recovery codes
        older = sorted(in_use - {report.current_kek_id})
        if older:
            self.stdout.write("Older key-encryption keys still in use: " + ", ".join(older))
            self.stdout.write(
                "(recovery codes cannot be re-wrapped: `--remove-key KEK` says who must "
                "make new ones)"
            )
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

    def _remove(self, key_id: str, *, force: bool) -> None:
        try:
            done = kek_retire(
                key_id=key_id, force=force, actor_label="manage.py rotate_keys --remove-key"
            )
        except (KeyRetirementRefused, KeyringError) as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Removed {done.key_id} from the keyring.")
        for use in done.ended:
            self.stdout.write(
                f"Ended the {use.what} of {len(use.people)} people; each was e-mailed to make "
                "new ones."
            )
        self.stdout.write(
            "Keep the key in the keyring's backups as long as database backups taken "
            "before now: they still name it."
        )
