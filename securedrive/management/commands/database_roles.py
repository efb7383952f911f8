from __future__ import annotations

from typing import Any

import environ
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from securedrive import database_roles


def _url_user(url: str) -> tuple[str, str]:
    if not url:
        return "", ""
    config = environ.Env.db_url_config(url)
    return str(config.get("USER") or ""), str(config.get("PASSWORD") or "")


class Command(BaseCommand):
    help = (
        "PostgreSQL roles (docs/production.md, 'Database roles'). Without options: print "
        "the SQL a superuser runs in SecureDrive's database to create (or repair) the "
        "owner role, which migrates, and the runtime role, which web, worker and beat use; "
        "it is idempotent. With --check: say whether DATABASE_URL's role is a proper "
        "runtime role (exit 1 if not)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        owner, _ = _url_user(settings.SECUREDRIVE_MIGRATION_DATABASE_URL)
        runtime = str(settings.DATABASES["default"].get("USER") or "")
        parser.add_argument(
            "--owner",
            default=owner or "securedrive_owner",
            help="Owner role name (default: the user of SECUREDRIVE_MIGRATION_DATABASE_URL, "
            "else securedrive_owner).",
        )
        parser.add_argument(
            "--runtime",
            default=runtime or "securedrive_app",
            help="Runtime role name (default: the user of DATABASE_URL, else securedrive_app).",
        )
        parser.add_argument(
            "--with-passwords",
            action="store_true",
            help="Also set the roles' passwords, taken from DATABASE_URL and "
            "SECUREDRIVE_MIGRATION_DATABASE_URL (otherwise set them with psql's \\password).",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="Check the runtime role of DATABASE_URL instead of printing SQL.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["check"]:
            problems = database_roles.runtime_role_problems(connection)
            if problems:
                raise CommandError(
                    "DATABASE_URL's role could switch off or rewrite the audit log:\n  - "
                    + "\n  - ".join(problems)
                )
            self.stdout.write(
                "DATABASE_URL's role is a runtime role: it cannot alter the audit log."
            )
            return
        owner_password = runtime_password = ""
        if options["with_passwords"]:
            _, owner_password = _url_user(settings.SECUREDRIVE_MIGRATION_DATABASE_URL)
            runtime_password = str(settings.DATABASES["default"].get("PASSWORD") or "")
        try:
            script = database_roles.roles_script(
                owner_role=options["owner"],
                runtime_role=options["runtime"],
                owner_password=owner_password,
                runtime_password=runtime_password,
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(script, ending="")
