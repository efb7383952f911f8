"""Withdraw what people opened to outsiders where they no longer may, left standing by
departures and auditor grants from before those withdrew it (sharing/services/
withdrawals_backfill.py).

    manage.py withdrawals_backfill                    # dry run: say what, whose, why
    manage.py withdrawals_backfill --apply            # withdraw it, audited
    manage.py withdrawals_backfill --apply --notify   # and e-mail each person her list

Idempotent: run it again, nothing is left to withdraw.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from sharing.services.withdrawals import Opened, item_name
from sharing.services.withdrawals_backfill import Leftover, leftover_withdraw, leftovers_find


def _day(moment: dt.datetime | None) -> str:
    return timezone.localtime(moment).date().isoformat() if moment else "not sent"


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def _lines(opened: Opened) -> list[str]:
    lines = []
    for link, name in opened.links:
        recipient = f", for {link.recipient_email}" if link.recipient_email else ""
        lines.append(f"  - link to “{name}”{recipient}, made {_day(link.created_at)}")
    for transfer, files in opened.transfers:
        lines.append(
            f"  - transfer “{transfer.subject}”, sent {_day(transfer.sent_at)}, "
            f"withdrawn whole (files concerned: {', '.join(files)})"
        )
    for request in opened.requests:
        lines.append(
            f"  - file request “{request.title}” into the folder “{item_name(request.folder)}”, "
            f"made {_day(request.created_at)}"
        )
    return lines


def _why(leftover: Leftover) -> str:
    person = leftover.person
    who = f"{person.get_full_name() or person.email} <{person.email}>"
    inactive = "" if person.is_active else " (account deactivated)"
    if leftover.team is None:
        return f"{who}{inactive} is an auditor (an auditor reads no file content), but still has:"
    if leftover.moved:
        return (
            f"{who}{inactive} is not a member of {leftover.team.name}, into whose space what "
            "follows was moved after it was opened (an older move), but still has:"
        )
    return f"{who}{inactive} is no longer a member of {leftover.team.name}, but still has:"


class Command(BaseCommand):
    help = (
        "Withdraw the links, transfers and file requests people opened to outsiders on "
        "a team's files after leaving the team (or on colleagues' files as auditors, or "
        "on files moved since into a team's space they are not of), "
        "left standing by departures from before they were withdrawn (dry run unless "
        "--apply)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--apply",
            action="store_true",
            help="Withdraw them, each audited (default: dry run, nothing changes).",
        )
        parser.add_argument(
            "--notify",
            action="store_true",
            help=(
                "With --apply: e-mail each person who left a team the list withdrawn, in "
                "her language (default: not; the recipients of a transfer are told anyway)."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        apply, notify = bool(options["apply"]), bool(options["notify"])
        if notify and not apply:
            raise CommandError("--notify e-mails what --apply withdraws: give both.")
        links = transfers = requests = 0
        people: set[int] = set()
        for found in leftovers_find():
            done = leftover_withdraw(found, notify=notify) if apply else found.opened
            if done is None:
                continue
            self.stdout.write(_why(found))
            self.stdout.write("\n".join(_lines(done)))
            links, transfers = links + len(done.links), transfers + len(done.transfers)
            requests += len(done.requests)
            people.add(found.person.pk)
        if not people:
            self.stdout.write("Nothing left to withdraw.")
            return
        what = (
            f"{_count(links, 'link', 'links')}, {_count(transfers, 'transfer', 'transfers')} "
            f"and {_count(requests, 'file request', 'file requests')} "
            f"held by {_count(len(people), 'person', 'people')}"
        )
        if not apply:
            self.stdout.write(
                f"Dry run: {what} would be withdrawn. Run again with --apply to withdraw "
                "them (and --notify to e-mail each person who left a team her list)."
            )
            return
        told = (
            "each person who left a team was e-mailed her list"
            if notify
            else "the people were not e-mailed"
        )
        self.stdout.write(
            f"Withdrawn: {what}, each in the audit log; the transfers' recipients are told, {told}."
        )
