"""Index the DICOM content of readable versions that have no index row yet.

    manage.py index_dicom              # index them now, in this process
    manage.py index_dicom --enqueue    # hand them to the workers instead
    manage.py index_dicom --limit 1000

Catches up what the ``post_save`` receiver could not: versions that became readable
before the imaging app existed, or whose task was lost (a broker outage at the verdict:
the receiver's enqueue is ``robust``). Only current versions of live files, with the
receiver's own filter (imaging/receivers.py). Idempotent: the task skips a version that
has its row, so running twice, or alongside the workers, is harmless.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from imaging import services, tasks
from imaging.selectors import versions_unindexed


class Command(BaseCommand):
    help = "Index the DICOM content of readable versions not indexed yet (catch-up)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--enqueue", action="store_true", help="Send one task per version to the workers."
        )
        parser.add_argument("--limit", type=int, default=0, help="At most this many versions.")

    def handle(self, *args: Any, **options: Any) -> None:
        version_ids = versions_unindexed(limit=max(0, options["limit"]))
        if options["enqueue"]:
            for version_id in version_ids:
                tasks.version_index.delay(str(version_id))
            self.stdout.write(f"{len(version_ids)} versions sent to the workers.")
            return
        kinds: Counter[str] = Counter()
        for done, version_id in enumerate(version_ids, start=1):
            kinds[services.version_index(version_id=version_id) or "skipped"] += 1
            self.stdout.write(f"\rindexed {done}/{len(version_ids)}", ending="")
            self.stdout.flush()
        if version_ids:
            self.stdout.write("")
        summary = ", ".join(f"{kind}: {count}" for kind, count in sorted(kinds.items()))
        self.stdout.write(f"{len(version_ids)} versions read. {summary}".strip())
