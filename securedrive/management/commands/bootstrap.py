from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from accounts.management.commands.setup_link import setup_link_banner
from accounts.services import first_admin_ensure
from audit import services as audit
from audit.actions import Action
from audit.checkpoints import checkpoint_bucket_problems
from core.keyring import KeyringError
from core.keys import keyring_file_ensure_fresh
from securedrive import database_roles
from securedrive.checks import MAIL_FIX, MAIL_NOT_DELIVERED, mail_delivery_problem


class Command(BaseCommand):
    help = (
        "Prepare a SecureDrive instance: migrate (as the owner role when "
        "SECUREDRIVE_MIGRATION_DATABASE_URL is set), check the runtime role (production), "
        "create the keyring (embedded mode), collect static files and create the first "
        "administrator with a one-time link."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--admin-email",
            default=settings.ADMIN_EMAIL,
            help="E-mail address of the first administrator (only used on an empty instance).",
        )
        parser.add_argument(
            "--no-static",
            action="store_true",
            help="Skip collectstatic (each web container collects its own static files).",
        )
        parser.add_argument(
            "--no-setup-link",
            action="store_true",
            help="Do not print the first administrator's set-up link (the caller prints it "
            "last with `setup_link --if-pending`, once every process is up).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        owner_url = settings.SECUREDRIVE_MIGRATION_DATABASE_URL
        if owner_url:
            with database_roles.connected_as(owner_url):
                call_command("migrate", interactive=False, verbosity=0)
            self.stdout.write("Database migrated as the owner role.")
        else:
            call_command("migrate", interactive=False, verbosity=0)
            self.stdout.write("Database migrated.")
        if settings.PRODUCTION:
            # Fail here, with the fix, rather than in a restart loop of web and workers.
            try:
                database_roles.runtime_role_refuse_unsafe(connection)
            except ImproperlyConfigured as error:
                raise CommandError(str(error)) from error
            self.stdout.write("Runtime database role checked: it cannot alter the audit log.")
            # Object Lock is chosen when a bucket is created: a bucket made without it
            # would take checkpoints that anyone with its keys could later delete.
            problems = checkpoint_bucket_problems()
            if problems:
                raise CommandError(
                    "SecureDrive refuses to start: " + "; ".join(problems) + " (docs/audit.md)."
                )
            self.stdout.write(
                f"Audit checkpoint bucket checked: {settings.AUDIT_CHECKPOINT_S3_BUCKET} "
                "has Object Lock."
            )

        if settings.PRODUCTION:
            # Production never generates its own keyring: settings checked it exists.
            self.stdout.write(f"Keyring: {settings.KEYRING_FILE}")
        else:
            try:
                keyring, created = keyring_file_ensure_fresh(Path(settings.KEYRING_FILE))
            except KeyringError as error:
                raise CommandError(str(error)) from None
            if created:
                audit.record(
                    action=Action.KEYRING_CREATE,
                    actor_label="system",
                    details={"key_id": keyring.current_key_id},
                )
                self.stdout.write(
                    self.style.WARNING(
                        f"Created keyring {settings.KEYRING_FILE}. Back it up "
                        "apart from the data: without it no file can be decrypted."
                    )
                )

        if not options["no_static"]:
            call_command("collectstatic", interactive=False, verbosity=0)

        first_admin = first_admin_ensure(email=options["admin_email"])
        if not settings.CLAMD_ADDRESS:
            self.stdout.write(
                self.style.WARNING(
                    "Virus scanning is DISABLED (no SECUREDRIVE_CLAMD_ADDRESS): uploads will "
                    "stay pending until a scanner is configured. On Debian or Ubuntu: "
                    "sudo apt install clamav-daemon, then make run again."
                )
            )
        mail_problem = mail_delivery_problem()
        if mail_problem:  # `docker compose logs migrate` says it at every start
            self.stdout.write(
                self.style.WARNING(
                    f"E-mail will not be delivered: {mail_problem}. Lost with it: "
                    f"{MAIL_NOT_DELIVERED}. {MAIL_FIX}"
                )
            )
        self.stdout.write(f"SecureDrive is ready at {settings.SITE_URL}/")
        # The link comes last, framed, so that nothing scrolls it away (issue #15);
        # a supervisor that starts workers afterwards passes --no-setup-link and runs
        # `manage.py setup_link --if-pending` once every process is up.
        if first_admin.setup_url and not options["no_setup_link"]:
            headline = (
                "Created the first administrator"
                if first_admin.created
                else "Waiting for the first administrator"
            )
            banner = setup_link_banner(
                email=first_admin.user.email, url=first_admin.setup_url, headline=headline
            )
            self.stdout.write(self.style.SUCCESS(banner))
