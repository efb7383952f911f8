from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from accounts.services import first_admin_ensure
from audit import services as audit
from core.keyring import keyring_file_ensure


class Command(BaseCommand):
    help = (
        "Prepare a SecureDrive instance: migrate, create the keyring (embedded mode), "
        "collect static files and create the first administrator with a one-time link."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--admin-email",
            default=settings.SECUREDRIVE_ADMIN_EMAIL,
            help="E-mail address of the first administrator (only used on an empty instance).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database migrated.")

        if settings.PRODUCTION:
            # Production never generates its own keyring: settings checked it exists.
            self.stdout.write(f"Keyring: {settings.SECUREDRIVE_KEYRING_FILE}")
        else:
            keyring, created = keyring_file_ensure(settings.SECUREDRIVE_KEYRING_FILE)
            if created:
                audit.record(
                    action="keyring.create",
                    actor_label="system",
                    details={"key_id": keyring.current_key_id},
                )
                self.stdout.write(
                    self.style.WARNING(
                        f"Created keyring {settings.SECUREDRIVE_KEYRING_FILE}. Back it up "
                        "apart from the data: without it no file can be decrypted."
                    )
                )

        call_command("collectstatic", interactive=False, verbosity=0)

        first_admin = first_admin_ensure(email=options["admin_email"])
        if first_admin.setup_url:
            verb = "Created" if first_admin.created else "Waiting for"
            banner = "=" * 78
            self.stdout.write(
                self.style.SUCCESS(
                    f"\n{banner}\n{verb} the first administrator: {first_admin.user.email}\n"
                    f"Choose its password within 24 h at this one-time link:\n\n"
                    f"    {first_admin.setup_url}\n{banner}\n"
                )
            )
        if not settings.SECUREDRIVE_CLAMD_ADDRESS:
            self.stdout.write(
                self.style.WARNING(
                    "Virus scanning is DISABLED (no SECUREDRIVE_CLAMD_ADDRESS): uploads will "
                    "stay pending until a scanner is configured."
                )
            )
        self.stdout.write(f"SecureDrive is ready at {settings.SITE_URL}/")
