from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from audit import checkpoints


class Command(BaseCommand):
    help = (
        "Recompute the audit hash chain and the Merkle roots at the signed checkpoints "
        "(the newest 100). Exits 0 when intact; otherwise exits 1 and names the first bad "
        "sequence number, or the checkpoint the log no longer matches (truncated tail, "
        "rewritten log)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        # The chain alone cannot see the newest events removed (the head just moves
        # back): the signed checkpoint, kept where the database owner cannot rewrite it,
        # can. Always a full run, as the beat's daily one (audit_log_verify).
        store = checkpoints.checkpoint_store()
        report = checkpoints.audit_log_verify(store=store)
        chain = report.chain
        if chain.first_break is not None:
            raise CommandError(
                f"Audit chain broken at sequence {chain.first_break.sequence}: "
                f"{chain.first_break.reason}. "
                f"{chain.events_checked} event(s) before it verified.",
                returncode=1,
            )
        if report.problem:
            problem = report.problem[0].upper() + report.problem[1:]
            where = (
                f" Latest signed checkpoint: size {report.checkpoint_size}."
                if report.checkpoint_size
                else ""
            )
            raise CommandError(f"{problem}.{where}", returncode=1)
        self.stdout.write(
            self.style.SUCCESS(
                f"Audit chain intact: {chain.events_checked} event(s), "
                f"head sequence {chain.head_sequence}, head hash {chain.head_hash}."
            )
        )
        if not report.checkpoint_size:
            self.stdout.write(
                self.style.WARNING(
                    "No signed checkpoint yet: the removal of the most recent events would "
                    "not show. The beat writes one every AUDIT_CHECKPOINT_INTERVAL_S."
                )
            )
            return
        latest = checkpoints.checkpoint_open_trusted(store, report.checkpoint_size)
        self.stdout.write(
            self.style.SUCCESS(
                f"Latest signed checkpoint: size {latest.tree_size}, root "
                f"{latest.root_hash.hex()}: verified against the table (origin "
                f"{latest.origin})."
            )
        )
