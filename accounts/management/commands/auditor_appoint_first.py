"""Name the first auditor: the operator's step, once (docs/accounts.md, "Roles")."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.errors import AccountRuleError
from accounts.roles import auditor_appoint_first


class Command(BaseCommand):
    help = (
        "Make an existing, active account the first auditor. Refused once an active "
        "auditor exists: later auditors are proposed by an administrator and approved "
        "by a second person in the administration pages. Audited."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="E-mail address of the account to appoint.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user = auditor_appoint_first(email=options["email"])
        except AccountRuleError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(self.style.SUCCESS(f"{user.email} is now the first auditor."))
