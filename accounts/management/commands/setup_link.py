from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from accounts.services import setup_link_issue


def setup_link_banner(*, email: str, url: str, headline: str) -> str:
    """The framed block that a person starting SecureDrive must not miss (``make run``
    prints it last, after the workers' start-up banners)."""
    frame = "=" * 78
    return (
        f"\n{frame}\n{headline}: {email}\n"
        "Choose its password within 24 h at this one-time link:\n\n"
        f"    {url}\n\n"
        "Lost it? Print a fresh one: .venv/bin/python manage.py setup_link\n"
        f"{frame}\n"
    )


class Command(BaseCommand):
    help = (
        "Print a fresh one-time set-up link (choose a password) for the first site "
        "administrator, or for the active account whose e-mail address is given."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", nargs="?", help="E-mail address of the account.")
        parser.add_argument(
            "--if-pending",
            action="store_true",
            help="Print nothing once the account has a password (for `make run`, which "
            "calls this last, when every process is up).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user, url = setup_link_issue(
                email=options["email"], only_without_password=options["if_pending"]
            )
        except User.DoesNotExist as error:
            if options["if_pending"]:
                return
            who = options["email"] or "the site administrator"
            raise CommandError(f"No active account for {who}.") from error
        headline = "New password for" if user.has_usable_password() else "First administrator"
        banner = setup_link_banner(email=user.email, url=url, headline=headline)
        self.stdout.write(self.style.SUCCESS(banner))
