from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit.selectors import audit_chain_verify


class Command(BaseCommand):
    help = (
        "Recompute the audit hash chain. Exits 0 when intact; otherwise exits 1 and names "
        "the first bad sequence number."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = audit_chain_verify()
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
