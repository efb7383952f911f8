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
from django.utils import timezone

from audit import merkle
from audit.chain import ChainReport, chain_verify
from audit.models import AlertRule, AuditAlert, AuditEvent, ChainVerification
from audit.note import Checkpoint, NoteError, checkpoint_open, checkpoint_sign, verifier_key
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


def checkpoint_store() -> CheckpointStore:
    if settings.AUDIT_CHECKPOINT_S3_BUCKET:
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=settings.AUDIT_CHECKPOINT_S3_ENDPOINT_URL or None,
            region_name=settings.AUDIT_CHECKPOINT_S3_REGION or None,
        )
        return S3CheckpointStore(
            client=client,
            bucket=settings.AUDIT_CHECKPOINT_S3_BUCKET,
            retention_days=settings.AUDIT_CHECKPOINT_RETENTION_DAYS,
        )
    return FolderCheckpointStore(Path(settings.AUDIT_CHECKPOINT_DIR))


# --- Writing ---------------------------------------------------------------------------


def event_leaf_hashes(*, tree_size: int, batch_size: int = 5000) -> Iterator[bytes]:
    rows = (
        AuditEvent.objects.filter(sequence__lte=tree_size)
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
    from the stored hashes; the verification task is what checks those hashes.
    """
    store = store or checkpoint_store()
    head = AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first()
    if not head:
        return None
    sizes = store.sizes()
    latest = sizes[-1] if sizes else 0
    if head <= latest or (not force and head - latest < settings.AUDIT_CHECKPOINT_EVERY_EVENTS):
        return None
    builder = merkle.TreeBuilder()
    for leaf in event_leaf_hashes(tree_size=head):
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


def _leaves(tree_size: int) -> list[bytes]:
    # 32 bytes per event: 32 MB for a million. Fine for on-demand proofs; a persisted
    # tile cache (C2SP tlog-tiles) would be the next step for much larger logs.
    return list(event_leaf_hashes(tree_size=tree_size))


def inclusion_proof_document(*, sequence: int, tree_size: int) -> dict[str, Any]:
    import base64

    leaves = _leaves(tree_size)
    event_hash = AuditEvent.objects.values_list("event_hash", flat=True).get(sequence=sequence)
    return {
        "type": "inclusion",
        "origin": log_origin(),
        "leaf_index": sequence - 1,
        "tree_size": tree_size,
        "event_hash": event_hash,
        "proof": [
            base64.b64encode(value).decode()
            for value in merkle.inclusion_proof(sequence - 1, leaves)
        ],
    }


def consistency_proof_document(*, first_size: int, second_size: int) -> dict[str, Any]:
    import base64

    leaves = _leaves(second_size)
    return {
        "type": "consistency",
        "origin": log_origin(),
        "first_size": first_size,
        "second_size": second_size,
        "proof": [
            base64.b64encode(value).decode()
            for value in merkle.consistency_proof(first_size, leaves)
        ],
    }


# --- Verification ----------------------------------------------------------------------

CHECKPOINTS_VERIFIED = 100


@dataclass(frozen=True)
class LogReport:
    chain: ChainReport
    checkpoint_size: int
    problem: str

    @property
    def intact(self) -> bool:
        return not self.problem


def audit_log_verify(*, store: CheckpointStore | None = None) -> LogReport:
    """Recompute the chain and the Merkle roots at every checkpointed size, in one pass.

    Detects an edited, deleted, inserted or reordered event (the chain), a rewritten
    log (a root that no longer matches a signed checkpoint) and truncation (a signed
    checkpoint larger than the log).
    """
    store = store or checkpoint_store()
    # The newest checkpoint's root commits to every earlier event; older ones are kept
    # for consistency proofs. Checking the newest 100 bounds the cost of a run.
    sizes = store.sizes()[-CHECKPOINTS_VERIFIED:]
    wanted = set(sizes)
    builder = merkle.TreeBuilder()
    roots: dict[int, bytes] = {}

    def rows() -> Iterator[Any]:
        for event in AuditEvent.objects.order_by("sequence").iterator(chunk_size=2000):
            builder.append(merkle.leaf_hash(bytes.fromhex(event.event_hash)))
            if builder.size in wanted:
                roots[builder.size] = builder.root()
            yield event.chained_fields(), event.event_hash

    chain = chain_verify(rows())
    latest = sizes[-1] if sizes else 0
    if chain.first_break is not None:
        problem = (
            f"chain broken at sequence {chain.first_break.sequence}: {chain.first_break.reason}"
        )
        return LogReport(chain, latest, problem)
    for size in sizes:
        try:
            checkpoint = checkpoint_open_trusted(store, size)
        except (NoteError, OSError) as error:
            return LogReport(chain, latest, f"checkpoint {size} cannot be trusted: {error}")
        if size > chain.head_sequence:
            return LogReport(
                chain,
                latest,
                f"log truncated: signed checkpoint covers {size} events, "
                f"the log holds {chain.head_sequence}",
            )
        if roots.get(size) != checkpoint.root_hash:
            return LogReport(
                chain, latest, f"log rewritten: root at size {size} differs from its checkpoint"
            )
    return LogReport(chain, latest, "")


def audit_log_verify_and_alert() -> ChainVerification:
    """The beat task's work: verify, keep the result, e-mail admins and auditors on failure."""
    from audit import services as audit

    report = audit_log_verify()
    verification = ChainVerification.objects.create(
        verified_at=timezone.now(),
        intact=report.intact,
        events_checked=report.chain.events_checked,
        head_sequence=report.chain.head_sequence,
        head_hash=report.chain.head_hash,
        checkpoint_size=report.checkpoint_size,
        message=report.problem,
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
            action="audit.verification.failed",
            outcome="error",
            actor_label="system",
            details={"problem": report.problem},
        )
        send_mail(
            subject="[SecureDrive] Audit log integrity check FAILED",
            message=(
                "The audit log verification failed:\n\n"
                f"{report.problem}\n\n"
                f"Events verified before the problem: {report.chain.events_checked}.\n"
                f"Latest signed checkpoint: size {report.checkpoint_size}.\n"
                f"Console: {settings.SITE_URL}/audit/\n"
            ),
            from_email=None,
            recipient_list=oversight_recipients(),
        )
    return verification


def oversight_recipients() -> list[str]:
    """Active site administrators and auditors (read by field name: no accounts import)."""
    people = get_user_model().objects.filter(
        Q(is_site_admin=True) | Q(is_auditor=True), is_active=True
    )
    return sorted({str(email) for email in people.values_list("email", flat=True) if email})
