"""SIEM forwarding: each committed audit event as one JSON line on a logger.

The logger "securedrive.audit" gets its handlers from settings (a file, syslog, or
both; docs/audit.md). Lines are sent from ``transaction.on_commit``: an event whose
transaction rolls back never existed, so it is never forwarded.
"""

from __future__ import annotations

import json
import logging

from django.conf import settings

from audit.chain import timestamp_canonical
from audit.models import AuditEvent

logger = logging.getLogger("securedrive.audit")
# Checkpoints are also written by the beat every AUDIT_CHECKPOINT_INTERVAL_S, so a
# missed "every N events" trigger only delays one.


def event_json_line(event: AuditEvent) -> str:
    return json.dumps(
        {
            "sequence": event.sequence,
            "event_hash": event.event_hash,
            "previous_hash": event.previous_hash,
            "ts": timestamp_canonical(event.occurred_at),
            "actor_id": event.actor_id,
            "actor": event.actor_label,
            "ip": event.ip_address,
            "ua": event.user_agent,
            "action": event.action,
            "target_type": event.target_type,
            "target_id": event.target_id,
            "outcome": event.outcome,
            "details": event.details,
        },
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )


def event_forward(event: AuditEvent) -> None:
    logger.info(event_json_line(event))
    every = settings.AUDIT_CHECKPOINT_EVERY_EVENTS
    if every > 0 and event.sequence % every == 0:
        from audit.tasks import checkpoint_write_due

        try:
            checkpoint_write_due.delay(force=False)
        except Exception:  # the action already committed: never fail it afterwards
            logging.getLogger(__name__).exception(
                "could not enqueue the audit checkpoint; the beat will write it"
            )
