from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.retention import (
    RetentionRefused,
    audit_retention_purge,
    retention_boundary,
    retention_cutoff,
)


class Command(BaseCommand):
    help = (
        "Delete audit events older than AUDIT_RETENTION_DAYS, up to the newest signed "
        "checkpoint they fill, after verifying the whole log. The log stays verifiable "
        "from the retention anchor. Exits 1 (and deletes nothing) if the log does not verify."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="say what would be purged; delete nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        cutoff = retention_cutoff()
        if options["dry_run"]:
            boundary = retention_boundary(cutoff=cutoff)
            if boundary:
                self.stdout.write(
                    f"Would purge events up to #{boundary} (all older than {cutoff:%Y-%m-%d})."
                )
            else:
                self.stdout.write("Nothing to purge.")
            return
        try:
            anchor = audit_retention_purge()
        except RetentionRefused as error:
            raise CommandError(f"Purge refused: {error}", returncode=1) from None
        if anchor is None:
            self.stdout.write("Nothing to purge.")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Purged {anchor.events_purged} event(s) up to #{anchor.tree_size} "
                f"(older than {anchor.purged_before:%Y-%m-%d}); the log is verifiable "
                "from that signed checkpoint."
            )
        )
