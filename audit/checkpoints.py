"""Signed checkpoints of the audit log, kept where the database administrator cannot
rewrite them, and the verification that compares the database against them.

A checkpoint (audit/note.py) commits to the Merkle root (audit/merkle.py) over the
first N events' chain hashes. Someone who can rewrite the database can rebuild a
consistent chain, or drop its newest events; they cannot re-sign old checkpoints, nor
(in production) overwrite objects under S3 Object Lock in compliance mode.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
)
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import send_mail
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from audit import merkle
from audit.actions import Action
from audit.chain import GENESIS_HASH, ChainReport, chain_verify
from audit.models import (
    AlertRule,
    AuditAlert,
    AuditEvent,
    ChainVerification,
    RetentionAnchor,
)
from audit.note import (
    Checkpoint,
    NoteError,
    checkpoint_open,
    checkpoint_sign,
    note_open,
    note_sign,
    verifier_key,
)
from audit.selectors import chain_rows
from audit.signing_key import signing_key_file_create

# --- The signing key -------------------------------------------------------------------


def signing_key() -> Ed25519PrivateKey:
    """The Ed25519 key signing checkpoints and exports (a file next to the keyring).

    Embedded mode creates it on first use (mode 0600); production requires it, because a
    key generated silently on a fresh container would make every old checkpoint
    unverifiable against the published public key.
    """
    path = Path(settings.AUDIT_SIGNING_KEY_FILE)
    if not path.exists():
        if settings.PRODUCTION:
            raise ImproperlyConfigured(
                f"audit signing key {path} is missing (SECUREDRIVE_AUDIT_SIGNING_KEY_FILE)"
            )
        signing_key_file_create(path)  # a concurrent creator's key is used as well
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"audit signing key {path} is not an Ed25519 key")
    return key


def public_key() -> Ed25519PublicKey:
    return signing_key().public_key()


def public_key_pem() -> bytes:
    return public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def log_origin() -> str:
    return str(settings.AUDIT_LOG_ORIGIN)


def log_verifier_key() -> str:
    return verifier_key(log_origin(), public_key())


# --- Where checkpoints live --------------------------------------------------------------


class CheckpointStore(Protocol):
    def sizes(self) -> list[int]: ...
    def read(self, tree_size: int) -> str: ...
    def write(self, tree_size: int, note: str) -> None: ...


_NAME = re.compile(r"^checkpoint-(\d{12})\.txt$")


def _name(tree_size: int) -> str:
    return f"checkpoint-{tree_size:012d}.txt"


@dataclass
class FolderCheckpointStore:
    """Embedded mode: one file per checkpoint in a folder outside the database.

    Append-only by convention: files are created with O_EXCL and never rewritten. Back
    the folder up apart from the database (or point it at WORM storage).
    """

    folder: Path

    def sizes(self) -> list[int]:
        if not self.folder.is_dir():
            return []
        return sorted(
            int(match.group(1))
            for path in self.folder.iterdir()
            if (match := _NAME.match(path.name))
        )

    def read(self, tree_size: int) -> str:
        return (self.folder / _name(tree_size)).read_text(encoding="utf-8")

    def write(self, tree_size: int, note: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(
            self.folder / _name(tree_size), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400
        )
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(note)


@dataclass
class S3CheckpointStore:
    """Production: objects under S3 Object Lock (compliance mode), which nobody, the
    bucket owner included, can delete or overwrite before the retention date."""

    client: Any
    bucket: str
    retention_days: int
    prefix: str = "audit-checkpoints/"

    def sizes(self) -> list[int]:
        found: list[int] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                if match := _NAME.match(item["Key"][len(self.prefix) :]):
                    found.append(int(match.group(1)))
        return sorted(found)

    def read(self, tree_size: int) -> str:
        body = self.client.get_object(Bucket=self.bucket, Key=self.prefix + _name(tree_size))
        return str(body["Body"].read().decode("utf-8"))

    def write(self, tree_size: int, note: str) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.prefix + _name(tree_size),
            Body=note.encode("utf-8"),
            ContentType="text/plain; charset=utf-8",
            ObjectLockMode="COMPLIANCE",
            ObjectLockRetainUntilDate=timezone.now() + dt.timedelta(days=self.retention_days),
        )


def checkpoint_bucket_client(*, probe: bool = False) -> Any:
    """The S3 client of the checkpoint bucket: its own credentials when set
    (SECUREDRIVE_AUDIT_CHECKPOINT_S3_ACCESS_KEY_ID and _SECRET_ACCESS_KEY), else the
    standard AWS chain (environment, profile, instance role).

    ``probe``: for /healthz, one attempt with short timeouts. boto3's defaults held a
    probe 180 s against a MinIO that accepted connections and never answered, a
    gunicorn thread each time (tests/test_health.py).
    """
    import boto3
    from botocore.config import Config

    config = (
        Config(connect_timeout=2, read_timeout=3, retries={"max_attempts": 1}) if probe else None
    )
    return boto3.client(
        "s3",
        endpoint_url=settings.AUDIT_CHECKPOINT_S3_ENDPOINT_URL or None,
        region_name=settings.AUDIT_CHECKPOINT_S3_REGION or None,
        aws_access_key_id=settings.AUDIT_CHECKPOINT_S3_ACCESS_KEY_ID or None,
        aws_secret_access_key=settings.AUDIT_CHECKPOINT_S3_SECRET_ACCESS_KEY or None,
        config=config,
    )


def checkpoint_bucket_problems(*, client: Any = None, bucket: str = "") -> list[str]:
    """Why the checkpoint bucket would not keep checkpoints safe, or nothing.

    Object Lock can only be switched on when a bucket is created: a bucket made
    without it takes every put (the lock headers are refused or, on some servers,
    ignored), so a mistake would only show the day someone rewrites the log and
    deletes the checkpoints that would have caught it. `manage.py bootstrap` and
    `check --deploy --database default` ask the bucket itself.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    bucket = bucket or settings.AUDIT_CHECKPOINT_S3_BUCKET
    if not bucket:
        return []
    client = client or checkpoint_bucket_client()
    try:
        answer = client.get_object_lock_configuration(Bucket=bucket)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code == "ObjectLockConfigurationNotFoundError":
            return [
                f"the audit checkpoint bucket {bucket!r} was created without Object Lock: "
                "create a new bucket with Object Lock (e.g. `mc mb --with-lock`) and point "
                "SECUREDRIVE_AUDIT_CHECKPOINT_S3_BUCKET at it"
            ]
        if code in {"NoSuchBucket", "404"}:
            return [f"the audit checkpoint bucket {bucket!r} does not exist"]
        return [f"the audit checkpoint bucket {bucket!r} cannot be checked: {code or error}"]
    except BotoCoreError as error:
        return [f"the audit checkpoint bucket {bucket!r} cannot be reached: {error}"]
    configuration = answer.get("ObjectLockConfiguration", {})
    if configuration.get("ObjectLockEnabled") != "Enabled":
        return [f"the audit checkpoint bucket {bucket!r} does not have Object Lock enabled"]
    return []


def checkpoint_store() -> CheckpointStore:
    if settings.AUDIT_CHECKPOINT_S3_BUCKET:
        return S3CheckpointStore(
            client=checkpoint_bucket_client(),
            bucket=settings.AUDIT_CHECKPOINT_S3_BUCKET,
            retention_days=settings.AUDIT_CHECKPOINT_RETENTION_DAYS,
        )
    return FolderCheckpointStore(Path(settings.AUDIT_CHECKPOINT_DIR))


# --- Where the tree starts -------------------------------------------------------------


@dataclass(frozen=True)
class TreeStart:
    """The state of the log just before the first event a computation reads: the
    genesis (size 0), a retention anchor, or a verified resume point."""

    size: int
    frontier: list[bytes]
    last_hash: str

    @classmethod
    def genesis(cls) -> TreeStart:
        return cls(0, [], GENESIS_HASH)


def retention_anchor_latest() -> RetentionAnchor | None:
    return RetentionAnchor.objects.order_by("-tree_size").first()


def _purge_statement_text(
    *, tree_size: int, last_event_hash: str, purged_before: dt.datetime
) -> str:
    # The second line can never be a tree size: a statement is never read as a checkpoint.
    cutoff = purged_before.astimezone(dt.UTC).isoformat()
    return f"{log_origin()}\nretention-purge\n{tree_size}\n{last_event_hash}\n{cutoff}\n"


def purge_statement_sign(
    *, tree_size: int, last_event_hash: str, purged_before: dt.datetime
) -> str:
    """The purge's own signed word that it cut the log at ``tree_size`` (audit/retention.py).

    Everything else in an anchor (the checkpoint note, the frontier, the proof) can be
    recomputed by whoever reads the events; this cannot without the signing key.
    """
    text = _purge_statement_text(
        tree_size=tree_size, last_event_hash=last_event_hash, purged_before=purged_before
    )
    return note_sign(text, name=log_origin(), key=signing_key())


def retention_anchor_check(anchor: RetentionAnchor) -> TreeStart:
    """Authenticate an anchor with the log's public key alone; raise NoteError otherwise."""
    statement = note_open(anchor.purge_statement, name=log_origin(), key=public_key())
    if statement != _purge_statement_text(
        tree_size=anchor.tree_size,
        last_event_hash=anchor.last_event_hash,
        purged_before=anchor.purged_before,
    ):
        raise NoteError(f"retention anchor {anchor.tree_size} is not the one the purge signed")
    checkpoint = checkpoint_open(anchor.checkpoint_note, name=log_origin(), key=public_key())
    if checkpoint.tree_size != anchor.tree_size or checkpoint.root_hash.hex() != anchor.root_hash:
        raise NoteError(f"retention anchor {anchor.tree_size} contradicts its signed checkpoint")
    try:
        frontier = [bytes.fromhex(value) for value in anchor.frontier]
        if merkle.PrunedLeaves(base_size=anchor.tree_size, frontier=frontier, leaves=[]).root() != (
            checkpoint.root_hash
        ):
            raise merkle.ProofError("frontier does not lead to the signed root")
        merkle.verify_inclusion(
            leaf_index=anchor.tree_size - 1,
            tree_size=anchor.tree_size,
            leaf=merkle.leaf_hash(bytes.fromhex(anchor.last_event_hash)),
            proof=[bytes.fromhex(value) for value in anchor.last_event_proof],
            root=checkpoint.root_hash,
        )
    except (ValueError, TypeError) as error:  # ProofError is a ValueError
        raise NoteError(f"retention anchor {anchor.tree_size} does not verify: {error}") from None
    return TreeStart(anchor.tree_size, frontier, anchor.last_event_hash)


def tree_start() -> TreeStart:
    """Where the log starts now: the newest retention anchor (authenticated), or genesis."""
    anchor = retention_anchor_latest()
    return TreeStart.genesis() if anchor is None else retention_anchor_check(anchor)


# --- Writing ---------------------------------------------------------------------------


def event_leaf_hashes(*, tree_size: int, after: int = 0, batch_size: int = 5000) -> Iterator[bytes]:
    rows = (
        AuditEvent.objects.filter(sequence__gt=after, sequence__lte=tree_size)
        .order_by("sequence")
        .values_list("event_hash", flat=True)
        .iterator(chunk_size=batch_size)
    )
    for event_hash in rows:
        yield merkle.leaf_hash(bytes.fromhex(event_hash))


def checkpoint_open_trusted(store: CheckpointStore, tree_size: int) -> Checkpoint:
    checkpoint = checkpoint_open(store.read(tree_size), name=log_origin(), key=public_key())
    if checkpoint.tree_size != tree_size or checkpoint.origin != log_origin():
        raise NoteError(f"checkpoint file for size {tree_size} says otherwise")
    return checkpoint


def checkpoint_write(*, store: CheckpointStore | None = None, force: bool = False) -> int | None:
    """Sign and store a checkpoint of the current head when one is due.

    Due when AUDIT_CHECKPOINT_EVERY_EVENTS events arrived since the last checkpoint, or
    when any did and the beat (every AUDIT_CHECKPOINT_INTERVAL_S) calls with force=True.
    Idempotent: a size already checkpointed is never written twice. The root is computed
    from the stored hashes (from the retention anchor on, if the log was purged); the
    verification task is what checks those hashes.
    """
    store = store or checkpoint_store()
    head = AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first()
    if not head:
        return None
    sizes = store.sizes()
    latest = sizes[-1] if sizes else 0
    if head <= latest or (not force and head - latest < settings.AUDIT_CHECKPOINT_EVERY_EVENTS):
        return None
    start = tree_start()
    # From the last verified checkpoint when there is one (its frontier is checked
    # against the signed root): at a million events a rebuild from the start took
    # 15-26 s every interval, the resumed one reads only the new events.
    resumed = _resume_point(store, start.size)
    if resumed is not None and resumed.size <= head:
        start = resumed
    builder = merkle.tree_builder_from_frontier(start.size, start.frontier)
    for leaf in event_leaf_hashes(tree_size=head, after=start.size):
        builder.append(leaf)
    if builder.size != head:
        return None  # a gap: the verification task reports it; never sign a broken log
    checkpoint = Checkpoint(origin=log_origin(), tree_size=head, root_hash=builder.root())
    try:
        store.write(head, checkpoint_sign(checkpoint, name=log_origin(), key=signing_key()))
    except FileExistsError:
        return None
    return head


# --- Proofs ----------------------------------------------------------------------------


def _tree(tree_size: int) -> merkle.PrunedLeaves:
    # 32 bytes per event: 32 MB for a million. Fine for on-demand proofs; a persisted
    # tile cache (C2SP tlog-tiles) would be the next step for much larger logs.
    start = tree_start()
    if tree_size < start.size:
        raise merkle.ProofError(f"events up to {start.size} were purged (retention)")
    leaves = list(event_leaf_hashes(tree_size=tree_size, after=start.size))
    if len(leaves) != tree_size - start.size:
        raise merkle.ProofError("the log has a gap: run the verification")
    return merkle.PrunedLeaves(base_size=start.size, frontier=start.frontier, leaves=leaves)


def inclusion_proof_document(*, sequence: int, tree_size: int) -> dict[str, Any]:
    """Raises ProofError when the event was purged or the log has a gap."""
    import base64

    tree = _tree(tree_size)
    event_hash = AuditEvent.objects.values_list("event_hash", flat=True).get(sequence=sequence)
    return {
        "type": "inclusion",
        "origin": log_origin(),
        "leaf_index": sequence - 1,
        "tree_size": tree_size,
        "event_hash": event_hash,
        "proof": [base64.b64encode(value).decode() for value in tree.inclusion_proof(sequence - 1)],
    }


def consistency_proof_document(*, first_size: int, second_size: int) -> dict[str, Any]:
    """Raises ProofError when the first size lies inside the purged part."""
    import base64

    tree = _tree(second_size)
    return {
        "type": "consistency",
        "origin": log_origin(),
        "first_size": first_size,
        "second_size": second_size,
        "proof": [base64.b64encode(value).decode() for value in tree.consistency_proof(first_size)],
    }


# --- Verification ----------------------------------------------------------------------

CHECKPOINTS_VERIFIED = 100


@dataclass(frozen=True)
class LogReport:
    chain: ChainReport
    checkpoint_size: int
    problem: str
    full: bool = True
    start_sequence: int = 1
    resume: TreeStart | None = None  # the newest verified checkpoint, for the next run

    @property
    def intact(self) -> bool:
        return not self.problem


def _resume_point(store: CheckpointStore, floor: int) -> TreeStart | None:
    """The last run's resume point, if that run was intact and the point still checks
    out against its signed checkpoint and the event it ends on; None means "verify in
    full". After a failure every run is full until one passes: an incremental run from
    an older point would not see the problem and would hide it."""
    last = ChainVerification.objects.order_by("-verified_at", "-pk").first()
    if last is None or not last.intact or last.resume_size <= floor:
        return None
    try:
        frontier = [bytes.fromhex(value) for value in last.resume_frontier]
        checkpoint = checkpoint_open_trusted(store, last.resume_size)
        tree = merkle.PrunedLeaves(base_size=last.resume_size, frontier=frontier, leaves=[])
        if tree.root() != checkpoint.root_hash:
            return None
    except (NoteError, OSError, ValueError, TypeError):
        return None
    stored = (
        AuditEvent.objects.filter(sequence=last.resume_size)
        .values_list("event_hash", flat=True)
        .first()
    )
    if stored != last.resume_hash:
        return None  # the event moved or changed: the full run will say how
    return TreeStart(last.resume_size, frontier, last.resume_hash)


def audit_log_verify(
    *, store: CheckpointStore | None = None, incremental: bool = False
) -> LogReport:
    """Recompute the chain and the Merkle roots at every checkpointed size, in one pass.

    Detects: an edited, deleted, inserted or reordered event (the chain), a rewritten
    log (a root that no longer matches a signed checkpoint) and truncation (a signed
    checkpoint larger than the log). A full run starts at the first event, or at the
    retention anchor after a purge (checked against its signature). An incremental run
    starts at the last intact run's newest verified checkpoint: it reads only the events
    after it, so at a million events it takes a fraction of a second instead of a
    minute. It cannot see an edit to an older event that leaves the stored hashes alone;
    the full run (daily, AUDIT_VERIFY_FULL_INTERVAL_S) does.
    """
    store = store or checkpoint_store()
    all_sizes = store.sizes()
    latest = all_sizes[-1] if all_sizes else 0
    try:
        start = tree_start()
    except NoteError as error:
        empty = ChainReport(0, 0, "", None)
        return LogReport(empty, latest, f"retention anchor cannot be trusted: {error}")
    full = True
    if incremental and (resume := _resume_point(store, start.size)) is not None:
        start, full = resume, False
    # The newest checkpoint's root commits to every earlier event; older ones are kept
    # for consistency proofs. Checking the newest 100 bounds the cost of a run.
    sizes = [size for size in all_sizes if size > start.size][-CHECKPOINTS_VERIFIED:]
    wanted = set(sizes)
    builder = merkle.tree_builder_from_frontier(start.size, start.frontier)
    roots: dict[int, bytes] = {}
    frontiers: dict[int, tuple[list[bytes], str]] = {}

    events = AuditEvent.objects.order_by("sequence")
    if not full:
        events = events.filter(sequence__gt=start.size)

    def rows() -> Iterator[Any]:
        for fields, stored_hash in chain_rows(events):
            if fields.sequence > start.size:
                builder.append(merkle.leaf_hash(bytes.fromhex(stored_hash)))
                if builder.size in wanted:
                    roots[builder.size] = builder.root()
                    frontiers[builder.size] = (builder.frontier(), stored_hash)
            yield fields, stored_hash

    chain = chain_verify(rows(), start_sequence=start.size + 1, start_previous_hash=start.last_hash)

    def report(problem: str) -> LogReport:
        verified = [size for size in sizes if size <= chain.head_sequence and size in roots]
        resume = start
        if verified and not problem:
            frontier, last_hash = frontiers[verified[-1]]
            resume = TreeStart(verified[-1], frontier, last_hash)
        return LogReport(chain, latest, problem, full, start.size + 1, resume)

    if chain.first_break is not None:
        return report(
            f"chain broken at sequence {chain.first_break.sequence}: {chain.first_break.reason}"
        )
    # Checkpoints are never deleted (Object Lock, O_EXCL files): a store whose newest one
    # is older than what an earlier run verified lost them (a container recreated without
    # its volume, or someone covering a truncation), and the chain alone cannot tell.
    seen = (
        ChainVerification.objects.filter(intact=True)
        .order_by("-checkpoint_size")
        .values_list("checkpoint_size", "verified_at")
        .first()
    )
    if seen is not None and seen[0] > latest:
        return report(
            f"signed checkpoints missing: the verification of {seen[1]:%Y-%m-%d %H:%M} UTC "
            f"checked one covering {seen[0]} events, the newest stored now covers {latest}"
        )
    for size in sizes:
        try:
            checkpoint = checkpoint_open_trusted(store, size)
        except (NoteError, OSError) as error:
            return report(f"checkpoint {size} cannot be trusted: {error}")
        if size > chain.head_sequence:
            return report(
                f"log truncated: signed checkpoint covers {size} events, "
                f"the log holds {chain.head_sequence}"
            )
        if roots.get(size) != checkpoint.root_hash:
            return report(f"log rewritten: root at size {size} differs from its checkpoint")
    if latest and latest > chain.head_sequence:
        return report(
            f"log truncated: signed checkpoint covers {latest} events, "
            f"the log holds {chain.head_sequence}"
        )
    return report("")


def audit_log_verify_and_alert(*, full: bool = False) -> ChainVerification:
    """The beat task's work: verify (incrementally unless ``full``), keep the result,
    e-mail admins and auditors on failure."""
    from audit import services as audit

    report = audit_log_verify(incremental=not full)
    resume = report.resume if report.intact else None
    verification = ChainVerification.objects.create(
        verified_at=timezone.now(),
        intact=report.intact,
        events_checked=report.chain.events_checked,
        head_sequence=report.chain.head_sequence,
        head_hash=report.chain.head_hash,
        checkpoint_size=report.checkpoint_size,
        message=report.problem,
        full=report.full,
        start_sequence=report.start_sequence,
        resume_size=resume.size if resume else 0,
        resume_frontier=[value.hex() for value in resume.frontier] if resume else [],
        resume_hash=resume.last_hash if resume else "",
    )
    if not report.intact:
        AuditAlert.objects.create(
            raised_at=verification.verified_at,
            rule=AlertRule.INTEGRITY,
            subject="audit log",
            first_sequence=report.chain.head_sequence,
            last_sequence=report.chain.head_sequence,
            summary=report.problem,
        )
        audit.record(
            action=Action.AUDIT_VERIFICATION_FAILED,
            outcome="error",
            actor_label="system",
            details={"problem": report.problem},
        )
        for language, recipients in oversight_recipients().items():
            with translation.override(language):
                subject = _("[SecureDrive] Audit log integrity check FAILED")
                message = _(
                    "The audit log verification failed:\n\n%(problem)s\n\n"
                    "Events verified before the problem: %(checked)s.\n"
                    "Latest signed checkpoint: size %(size)s.\n"
                    "Console: %(url)s\n"
                ) % {
                    "problem": report.problem,
                    "checked": report.chain.events_checked,
                    "size": report.checkpoint_size,
                    "url": f"{settings.SITE_URL}/audit/",
                }
            send_mail(subject=subject, message=message, from_email=None, recipient_list=recipients)
    return verification


def oversight_recipients(*, auditors: bool | None = None) -> dict[str, list[str]]:
    """Active site administrators and auditors, by the language to write to them in
    (read by field name: no accounts import). ``auditors``: True for the auditors only,
    False for the site administrators who are not auditors (what names files is not
    theirs to read: audit/alerts.py), None for both."""
    people = get_user_model().objects.filter(
        Q(is_site_admin=True) | Q(is_auditor=True), is_active=True
    )
    if auditors is not None:
        people = people.filter(is_auditor=auditors)
    by_language: dict[str, set[str]] = {}
    for email, language in people.values_list("email", "language"):
        if email:
            by_language.setdefault(language or settings.LANGUAGE_CODE, set()).add(str(email))
    return {language: sorted(emails) for language, emails in sorted(by_language.items())}
