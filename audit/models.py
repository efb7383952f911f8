from __future__ import annotations

from typing import Any, NoReturn

from django.db import models
from django.db.models import F, Q
from django.db.models.fields.json import KT
from django.db.models.functions import Lower, Upper
from django.utils.translation import gettext_lazy as _

from audit.actions import Action, action_catalogued
from audit.chain import ChainedFields


class AppendOnlyError(RuntimeError):
    """Raised when code tries to change or remove an audit event."""


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit events cannot be updated")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("audit events cannot be deleted")


class Outcome(models.TextChoices):
    SUCCESS = "success", _("success")
    DENIED = "denied", _("denied")
    ERROR = "error", _("error")


class AuditEvent(models.Model):
    """One security-relevant action. Append-only and hash-chained.

    The actor is kept as an id and a label (e-mail at the time), not a foreign key: the
    log must outlive the accounts it mentions, and must not depend on other apps.
    On PostgreSQL a trigger also refuses UPDATE, DELETE and TRUNCATE (migration 0002).
    """

    sequence = models.BigIntegerField(unique=True)
    previous_hash = models.CharField(max_length=64)
    event_hash = models.CharField(max_length=64, unique=True)
    occurred_at = models.DateTimeField(db_index=True)
    actor_id = models.CharField(max_length=64, blank=True, db_index=True)
    actor_label = models.CharField(max_length=320, blank=True)
    ip_address = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    action = models.CharField(max_length=100, db_index=True)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=100, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    details = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["sequence"]
        # The explorer asks "this filter, newest first, 50 at a time" (keyset on
        # sequence): each filter has an index ending in sequence, so PostgreSQL reads
        # the page in order instead of sorting every match. Measured by
        # bench/audit_query.py at 1,000,000 events (docs/audit.md).
        indexes = [
            models.Index(fields=["target_type", "target_id", "sequence"]),
            models.Index(fields=["actor_id", "sequence"], name="audit_event_actor_seq"),
            models.Index(Upper("actor_label"), F("sequence"), name="audit_event_actor_label_seq"),
            models.Index(fields=["ip_address", "sequence"], name="audit_event_ip_seq"),
            # Outside people by e-mail (audit.selectors.external_labels_of).
            models.Index(
                Lower(KT("details__recipient")),
                name="audit_event_recipient",
                condition=Q(details__recipient__isnull=False),
            ),
            # Who accessed this file: events naming it in their "file" detail
            # (audit.selectors._item_events), newest first.
            models.Index(
                KT("details__file"),
                F("sequence"),
                name="audit_event_file_seq",
                condition=Q(details__file__isnull=False),
            ),
            # What left a team's space (moves naming it as "left_team"), for its
            # managers' team page (audit.selectors.team_departures), newest first.
            models.Index(
                KT("details__left_team"),
                F("sequence"),
                name="audit_event_left_team_seq",
                condition=Q(details__left_team__isnull=False),
            ),
            # Renames (their "old_name" detail): the auditor finds a file or folder by a
            # name it had (audit.selectors.renamed_items) reading only these events.
            models.Index(
                F("sequence"),
                name="audit_event_renamed_seq",
                condition=Q(details__old_name__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} {self.outcome}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("audit events cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("audit events cannot be deleted")

    @property
    def catalogued_action(self) -> Action | None:
        """The catalogue entry of the stored code (None for a code it no longer knows)."""
        return action_catalogued(self.action)

    def chained_fields(self) -> ChainedFields:
        return ChainedFields(
            sequence=self.sequence,
            previous_hash=self.previous_hash,
            occurred_at=self.occurred_at,
            actor_id=self.actor_id,
            actor_label=self.actor_label,
            ip_address=self.ip_address,
            user_agent=self.user_agent,
            action=self.action,
            target_type=self.target_type,
            target_id=self.target_id,
            outcome=self.outcome,
            details=self.details,
        )


class ChainVerification(models.Model):
    """One run of the verification task: chain recomputed, checkpoints compared.

    Not part of the chain (it is about the chain); the console shows the latest.
    """

    verified_at = models.DateTimeField(db_index=True)
    intact = models.BooleanField()
    events_checked = models.BigIntegerField(default=0)
    head_sequence = models.BigIntegerField(default=0)
    head_hash = models.CharField(max_length=64, blank=True)
    checkpoint_size = models.BigIntegerField(default=0)
    message = models.TextField(blank=True)
    # A full run recomputes every event from the first (or the retention anchor); an
    # incremental run starts at the resume point of the last intact run (docs/audit.md).
    full = models.BooleanField(default=True)
    start_sequence = models.BigIntegerField(default=1)
    # Where the next incremental run may start: a signed checkpoint's size, the Merkle
    # frontier there (hex hashes, largest subtree first) and the chain hash of its last
    # event. The next run checks the frontier against the signed root before using it.
    resume_size = models.BigIntegerField(default=0)
    resume_frontier = models.JSONField(default=list, blank=True)
    resume_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-verified_at"]

    def __str__(self) -> str:
        return f"{self.verified_at:%Y-%m-%d %H:%M} {'intact' if self.intact else 'BROKEN'}"


class AlertRule(models.TextChoices):
    MANY_DOWNLOADS = "many_downloads", _("many downloads in a short time")
    OUTSIDE_HOURS = "outside_hours", _("downloads outside working hours")
    FAILED_LOGINS = "failed_logins", _("repeated failed sign-ins")
    QUARANTINED_ACCESS = "quarantined_access", _("access to a quarantined or blocked file")
    INTEGRITY = "integrity", _("audit log integrity check failed")
    REFUSAL_FLOOD = "refusal_flood", _("repeated attempts refused by a rate limit")


class AuditAlert(models.Model):
    """Something an auditor should look at, raised by a rule over the log (audit/alerts.py)."""

    raised_at = models.DateTimeField(db_index=True)
    rule = models.CharField(max_length=32, choices=AlertRule.choices)
    # Who or what it is about: an actor id/label, an IP address for sign-in failures, the
    # target of refused requests ("sharing.link:12", "endpoint:accounts.sign_in").
    subject = models.CharField(max_length=320, blank=True, db_index=True)
    first_sequence = models.BigIntegerField(default=0)
    last_sequence = models.BigIntegerField(default=0)
    last_occurred_at = models.DateTimeField(null=True, blank=True)
    event_count = models.IntegerField(default=0)
    summary = models.TextField()

    class Meta:
        ordering = ["-raised_at", "-pk"]
        indexes = [models.Index(fields=["rule", "subject", "last_occurred_at"])]

    def __str__(self) -> str:
        return f"{self.rule} {self.subject}"


class AlertCursor(models.Model):
    """How far the alert rules have read the log; claimed with SELECT ... FOR UPDATE so
    two workers never evaluate the same events twice."""

    name = models.CharField(max_length=32, primary_key=True)
    last_sequence = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} @ {self.last_sequence}"


class RetentionAnchor(models.Model):
    """Where the log starts after a retention purge: everything a verifier needs to
    check the remaining events without the purged ones.

    ``checkpoint_note`` is the signed checkpoint at ``tree_size`` (C2SP note, Ed25519):
    its root authenticates ``frontier`` (the Merkle frontier at that size), and
    ``last_event_proof`` (an RFC 9162 inclusion proof of leaf ``tree_size - 1``)
    authenticates ``last_event_hash``, the chain hash the next event links to.
    ``purge_statement`` is the purge's own signed note (size, last hash, cut-off): the
    checkpoint and the proofs can be recomputed by anyone who can read the events, so
    without it a database owner could write an anchor at yesterday's checkpoint, delete
    everything below it and have the log verify. Nothing here needs trusting the database.
    """

    tree_size = models.BigIntegerField(unique=True)
    root_hash = models.CharField(max_length=64)
    last_event_hash = models.CharField(max_length=64)
    frontier = models.JSONField(default=list)
    last_event_proof = models.JSONField(default=list)
    checkpoint_note = models.TextField()
    purged_before = models.DateTimeField()
    created_at = models.DateTimeField()
    events_purged = models.BigIntegerField(default=0)
    purge_statement = models.TextField(default="", db_default="")

    class Meta:
        ordering = ["-tree_size"]

    def __str__(self) -> str:
        return f"anchor at {self.tree_size}"


class RefusalFlood(models.Model):
    """One window of requests a rate limit refused, for one endpoint and one source
    (an address, a person) and target (a link, an account): ``audit.floods``.

    The first refusal of a window is recorded at once, in its endpoint's own event; the
    next ones only add one to ``refused`` here (no audit event, no lock on the chain);
    when the window ends, one ``ratelimit.flood`` event records how many were refused.
    Not part of the log: a working table, its rows deleted once summarised and old.
    """

    window_key = models.CharField(max_length=64)
    endpoint = models.CharField(max_length=100)
    source = models.CharField(max_length=64, blank=True)  # an address, ``user:<id>``
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=320, blank=True)
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=100, blank=True)
    target_name = models.CharField(max_length=300, blank=True)
    ip_address = models.CharField(max_length=45, blank=True)
    started_at = models.DateTimeField()
    ends_at = models.DateTimeField(db_index=True)
    refused = models.PositiveIntegerField(default=1)
    first_sequence = models.BigIntegerField(null=True)
    summarised_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One open window per key: a second request opening one at the same moment
            # counts in the first one's instead.
            models.UniqueConstraint(
                fields=["window_key"],
                condition=models.Q(summarised_at__isnull=True),
                name="audit_refusalflood_one_open_window",
            )
        ]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.source} x{self.refused}"
