from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.note import NoteError
from audit.selectors import audit_chain_verify


class Command(BaseCommand):
    help = (
        "Recompute the audit hash chain. Exits 0 when intact; otherwise exits 1 and names "
        "the first bad sequence number."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = audit_chain_verify()
        except NoteError as error:
            raise CommandError(
                f"Retention anchor cannot be trusted: {error}", returncode=1
            ) from None
        if report.first_break is not None:
            raise CommandError(
                f"Audit chain broken at sequence {report.first_break.sequence}: "
                f"{report.first_break.reason}. "
                f"{report.events_checked} event(s) before it verified.",
                returncode=1,
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Audit chain intact: {report.events_checked} event(s), "
                f"head sequence {report.head_sequence}, head hash {report.head_hash}."
            )
        )
