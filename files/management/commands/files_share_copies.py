"""Link copies made before content was shared to their source's content (issue #14).

    manage.py files_share_copies            # dry run: say what would be linked
    manage.py files_share_copies --apply    # link them and delete the duplicate blobs

Until then a copy or a restored version was a full re-encryption: its own blob and data
key. Now it shares its source's (``FileVersion.content_holder``). This finds the live
copies whose size and SHA-256 equal their source's, checks the source's blob in full
(every segment authenticated, the SHA-256 compared), then, one copy per transaction
with its ``files.version.content_link`` audit event, points the copy at the source's
content, destroys the copy's own key and deletes its blob after the commit. A copy of
a damaged or purged source is left as it is. Idempotent: run it again, nothing is left
to do. A database migration cannot do this: it needs the storage and the keyring.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from core.sizes import size_text
from files.lifecycle import copies_share_content


class Command(BaseCommand):
    help = (
        "Link copies made before content was shared to their source's content and "
        "delete their duplicate blobs (dry run unless --apply)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--apply",
            action="store_true",
            help="Link the copies and delete their duplicate blobs (default: dry run).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        apply = bool(options["apply"])
        report = copies_share_content(apply=apply, actor_label="manage.py files_share_copies")
        if not apply:
            self.stdout.write(
                f"Dry run: {report.candidates} copies can share their source's content "
                f"({len(report.skipped)} cannot). Run again with --apply to link them."
            )
            return
        self.stdout.write(
            f"Linked {report.linked} of {report.candidates} copies to their source's content, "
            f"{size_text(report.bytes_freed)} of duplicate blobs deleted; "
            f"{len(report.skipped)} left as they are."
        )
