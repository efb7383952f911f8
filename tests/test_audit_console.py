"""The auditor's console: who opened this file, what did this person do, were logs altered.

People: Alice (a clinician whose file is read), Audrey (an auditor), Sam (a site
administrator without the auditor role: separation of duties), Oscar (an outsider).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.db import transaction
from django.test import Client

from accounts.models import User
from audit import checkpoints, merkle
from audit import services as audit
from audit.actions import Action
from audit.models import AlertRule, AuditAlert, AuditEvent, ChainVerification, Outcome
from audit.note import checkpoint_open, verifier_key_parse
from audit.tasks import audit_log_verify_and_alert, checkpoint_write_due
from audit.tlog import inclusion_check
from tests.checkpoint_buckets import checkpoint_bucket_create, s3_client
from tests.conftest import user_create
from tests.helpers import client_signed_in
from tests.test_audit_chain import tamper

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def auditor(db: None) -> User:
    return user_create(
        "audrey.auditor@hopital.example", full_name="Audrey Auditor", is_auditor=True
    )


@pytest.fixture(autouse=True)
def audit_folders(settings: Any, tmp_path: Path) -> Path:
    """Checkpoints and the signing key of this test only (the database rolls back; files
    would otherwise outlive it)."""
    settings.AUDIT_CHECKPOINT_DIR = tmp_path / "checkpoints"
    settings.AUDIT_SIGNING_KEY_FILE = tmp_path / "secrets" / "audit_signing_key.pem"
    settings.AUDIT_CHECKPOINT_S3_BUCKET = ""
    return tmp_path


def downloads_record(person: User, *, file_id: int, count: int) -> list[AuditEvent]:
    return [
        audit.record(
            action=Action.FILES_VERSION_DOWNLOAD,
            actor=person,
            target_type="files.file",
            target_id=file_id,
            details={"name": f"echo-{file_id}.pdf", "path": "/Cardiologie/"},
        )
        for _ in range(count)
    ]


def streamed(response: Any) -> bytes:
    assert response.streaming, "exports must stream"
    return b"".join(response.streaming_content)


# --- Separation of duties ----------------------------------------------------------------

CONSOLE_PATHS = [
    "/audit/",
    "/audit/events/1/",
    "/audit/target/files.file/7/",
    "/audit/actor/1/",
    "/audit/export.csv",
    "/audit/export.jsonl",
    "/audit/integrity/",
    "/audit/keys/securedrive-audit.pem",
]


@pytest.mark.parametrize("path", CONSOLE_PATHS)
def test_site_admin_without_auditor_role_is_refused_and_audited(
    site_admin: User, path: str
) -> None:
    audit.record(action=Action.ACCOUNTS_LOGIN, actor=site_admin)
    response = client_signed_in(site_admin).get(path)
    assert response.status_code == 403
    denied = AuditEvent.objects.get(action=Action.AUDIT_CONSOLE_ACCESS)
    assert (denied.outcome, denied.actor_id, denied.details) == (
        Outcome.DENIED,
        str(site_admin.pk),
        {"path": path},
    )


def test_clinician_is_refused_and_anonymous_sent_to_sign_in(owner: User) -> None:
    assert client_signed_in(owner).get("/audit/").status_code == 403
    response = Client().get("/audit/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_admin_who_is_also_auditor_gets_the_console(site_admin: User) -> None:
    site_admin.is_auditor = True
    site_admin.save(update_fields=["is_auditor"])
    assert client_signed_in(site_admin).get("/audit/").status_code == 200


def test_audit_link_shown_to_auditors_only(auditor: User, site_admin: User) -> None:
    assert 'href="/audit/"' in client_signed_in(auditor).get("/").content.decode()
    assert 'href="/audit/"' not in client_signed_in(site_admin).get("/").content.decode()


# --- Explorer ----------------------------------------------------------------------------


def test_auditor_filters_one_files_downloads_newest_first(
    auditor: User, owner: User, outsider: User
) -> None:
    mine = downloads_record(owner, file_id=7, count=3)
    downloads_record(outsider, file_id=8, count=2)
    response = client_signed_in(auditor).get(
        "/audit/", {"target_type": "files.file", "target_id": "7", "action": "files.version."}
    )
    assert response.status_code == 200
    assert [event.sequence for event in response.context["events"]] == [
        event.sequence for event in reversed(mine)
    ]
    viewed = AuditEvent.objects.filter(action=Action.AUDIT_CONSOLE_VIEW).get()
    assert viewed.actor_id == str(auditor.pk)
    assert viewed.details["target_id"] == "7"


def test_filters_by_person_outcome_ip_and_time(auditor: User, owner: User, outsider: User) -> None:
    downloads_record(owner, file_id=7, count=2)
    refused = audit.record(
        action=Action.FILES_VERSION_DOWNLOAD,
        actor=outsider,
        outcome=Outcome.DENIED,
        target_type="files.file",
        target_id=7,
    )
    client = client_signed_in(auditor)
    events = client.get("/audit/", {"actor": outsider.email}).context["events"]
    assert [event.pk for event in events] == [refused.pk]
    events = client.get("/audit/", {"outcome": "denied", "action": "files."}).context["events"]
    assert [event.pk for event in events] == [refused.pk]
    assert client.get("/audit/", {"ip_address": "203.0.113.9"}).context["events"] == []
    later = refused.occurred_at.replace(year=refused.occurred_at.year + 1).strftime(
        "%Y-%m-%dT%H:%M"
    )
    assert client.get("/audit/", {"since": later}).context["events"] == []
    assert client.get("/audit/", {"outcome": "maybe"}).status_code == 400


def test_the_folded_filters_name_those_in_force_and_unfold_on_a_refused_one(
    auditor: User,
) -> None:
    """The explorer's filters are folded (on a phone the events come first): their
    summary says what the events are filtered by, in words. A refused filter unfolds
    them, so that its error is in view next to the field."""
    client = client_signed_in(auditor)
    page = client.get("/audit/explore/", {"outcome": "denied", "console": "on"})
    html = page.content.decode()
    [details] = re.findall(r"<details [^>]*id=\"audit-filters\"[^>]*>", html)
    assert " open" not in details
    summary = html.split('id="audit-filters-active">', 1)[1].split("</span>", 1)[0]
    assert summary == "Outcome: denied · Show the auditors&#x27; own browsing"
    refused = client.get("/audit/explore/", {"outcome": "maybe"})
    assert refused.status_code == 400
    [details] = re.findall(r"<details [^>]*id=\"audit-filters\"[^>]*>", refused.content.decode())
    assert " open" in details
    unfiltered = client.get("/audit/explore/").content.decode()
    assert 'id="audit-filters-active">None: every event is shown.</span>' in unfiltered


def test_an_outside_recipient_is_found_by_e_mail(auditor: User, owner: User) -> None:
    """What did dr.radio@clinique.example get? Outside people have no account: they act
    through a link ("link:<id>") or a file request ("request:<id>"), their address in
    the events. The person filter finds them by that address, and only them."""

    def external(label: str, recipient: str, action: Action) -> AuditEvent:
        return audit.record(
            action=action, actor_label=label, details={"outcome": "ok", "recipient": recipient}
        )

    created = audit.record(
        action=Action.SHARING_LINK_CREATE,
        actor=owner,
        details={"recipient": "dr.radio@clinique.example"},
    )
    opened = external("link:41", "dr.radio@clinique.example", Action.SHARING_LINK_ACCESS)
    downloaded = external("link:41", "dr.radio@clinique.example", Action.SHARING_LINK_DOWNLOAD)
    uploaded = external("request:7", "Dr.Radio@Clinique.example", Action.SHARING_REQUEST_UPLOAD)
    external("link:42", "someone.else@clinique.example", Action.SHARING_LINK_DOWNLOAD)
    client = client_signed_in(auditor)
    events = client.get("/audit/", {"actor": "DR.RADIO@clinique.example"}).context["events"]
    assert [event.pk for event in events] == [uploaded.pk, downloaded.pk, opened.pk]
    assert created.pk not in [event.pk for event in events]  # Alice's, not the recipient's


def test_pages_are_keyset_paginated(auditor: User, owner: User) -> None:
    events = downloads_record(owner, file_id=7, count=120)
    client = client_signed_in(auditor)
    first = client.get("/audit/target/files.file/7/")
    assert len(first.context["events"]) == 50
    seen = [event.sequence for event in first.context["events"]]
    query = first.context["next_query"]
    while query:
        page = client.get(f"/audit/target/files.file/7/?{query}")
        seen += [event.sequence for event in page.context["events"]]
        query = page.context["next_query"]
    assert seen == [event.sequence for event in reversed(events)]


def test_event_detail_target_history_and_person_activity(
    auditor: User, owner: User, outsider: User
) -> None:
    event = downloads_record(owner, file_id=7, count=1)[0]
    downloads_record(outsider, file_id=7, count=1)
    client = client_signed_in(auditor)
    detail = client.get(f"/audit/events/{event.sequence}/")
    assert detail.status_code == 200
    assert event.event_hash in detail.content.decode()
    assert client.get("/audit/events/999999/").status_code == 404
    history = client.get("/audit/target/files.file/7/").context["events"]
    assert {e.actor_label for e in history} == {owner.email, outsider.email}
    activity = client.get(f"/audit/actor/{owner.pk}/").context["events"]
    assert all(e.actor_id == str(owner.pk) for e in activity)
    assert event.pk in {e.pk for e in activity}
    pages = list(
        AuditEvent.objects.filter(action=Action.AUDIT_CONSOLE_VIEW).values_list(
            "details__page", flat=True
        )
    )
    assert pages == ["event", "target", "actor"]


# --- Exports -----------------------------------------------------------------------------


def test_csv_export_streams_the_filter_and_is_audited(
    auditor: User, owner: User, outsider: User
) -> None:
    mine = downloads_record(owner, file_id=7, count=3)
    downloads_record(outsider, file_id=8, count=1)
    response = client_signed_in(auditor).get("/audit/export.csv", {"target_id": "7"})
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(streamed(response).decode("utf-8-sig"))))
    assert [int(row["sequence"]) for row in rows] == [event.sequence for event in mine]
    assert rows[0]["event_hash"] == mine[0].event_hash
    assert json.loads(rows[0]["details"])["name"] == "echo-7.pdf"
    exported = AuditEvent.objects.get(action=Action.AUDIT_EXPORT)
    assert exported.details["format"] == "csv"
    assert exported.details["target_id"] == "7"


def test_csv_cells_cannot_become_spreadsheet_formulas(auditor: User) -> None:
    audit.record(
        action=Action.ACCOUNTS_LOGIN,
        actor_label='=HYPERLINK("http://evil")',
        outcome=Outcome.DENIED,
    )
    response = client_signed_in(auditor).get("/audit/export.csv", {"action": Action.ACCOUNTS_LOGIN})
    body = streamed(response).decode()
    assert "'=HYPERLINK" in body


def test_jsonl_export_has_one_event_per_line(auditor: User, owner: User) -> None:
    mine = downloads_record(owner, file_id=7, count=2)
    response = client_signed_in(auditor).get("/audit/export.jsonl", {"target_id": "7"})
    lines = streamed(response).decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["sequence"] for r in records] == [e.sequence for e in mine]
    assert records[0]["details"] == {"name": "echo-7.pdf", "path": "/Cardiologie/"}


def run_module(module: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """As an auditor runs it offline: a fresh Python without Django settings."""
    return subprocess.run(
        [sys.executable, "-m", module, *arguments],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},
    )


@pytest.mark.parametrize("export_format", ["csv", "jsonl"])
def test_signed_export_verifies_offline_and_tampering_shows(
    auditor: User, owner: User, tmp_path: Path, export_format: str
) -> None:
    downloads_record(owner, file_id=7, count=3)
    client = client_signed_in(auditor)
    page = client.get("/audit/", {"target_id": "7"})
    query = page.context["export_query"]
    export = streamed(client.get(f"/audit/export.{export_format}?{query}"))
    downloads_record(owner, file_id=7, count=1)  # the log moves on: the pinned export does not
    signature = client.get(f"/audit/export.{export_format}.sig?{query}")
    assert signature.status_code == 200
    (tmp_path / "export").write_bytes(export)
    (tmp_path / "export.sig").write_bytes(signature.content)
    (tmp_path / "key.pub").write_bytes(client.get("/audit/keys/securedrive-audit.pem").content)
    arguments = [
        str(tmp_path / "export"),
        str(tmp_path / "export.sig"),
        "--public-key",
        str(tmp_path / "key.pub"),
    ]
    result = run_module("audit.verify_export", *arguments)
    assert result.returncode == 0, result.stderr
    (tmp_path / "export").write_bytes(export.replace(b"echo-7", b"echo-9", 1))
    result = run_module("audit.verify_export", *arguments)
    assert result.returncode == 1
    assert "does not match" in result.stderr
    assert AuditEvent.objects.filter(action=Action.AUDIT_EXPORT_SIGN).count() == 1


def test_signing_key_is_created_once_private(settings: Any) -> None:
    first = checkpoints.public_key_pem()
    assert checkpoints.public_key_pem() == first
    assert Path(settings.AUDIT_SIGNING_KEY_FILE).stat().st_mode & 0o777 == 0o600


def test_production_requires_the_signing_key(settings: Any) -> None:
    from django.core.exceptions import ImproperlyConfigured

    settings.PRODUCTION = True
    with pytest.raises(ImproperlyConfigured):
        checkpoints.signing_key()


# --- Checkpoints, proofs and verification ------------------------------------------------


def test_checkpoints_every_n_events_and_on_the_beat(owner: User, settings: Any) -> None:
    settings.AUDIT_CHECKPOINT_EVERY_EVENTS = 5
    store = checkpoints.checkpoint_store()
    downloads_record(owner, file_id=7, count=4)
    assert checkpoints.checkpoint_write() is None  # not due yet
    downloads_record(owner, file_id=7, count=1)
    assert checkpoints.checkpoint_write() == 5
    assert checkpoints.checkpoint_write() is None  # idempotent
    downloads_record(owner, file_id=7, count=2)
    checkpoint_write_due.delay()  # the beat: forced when anything arrived
    assert store.sizes() == [5, 7]
    name, key = verifier_key_parse(checkpoints.log_verifier_key())
    opened = checkpoint_open(store.read(7), name=name, key=key)
    leaves = [
        merkle.leaf_hash(bytes.fromhex(h))
        for h in AuditEvent.objects.order_by("sequence").values_list("event_hash", flat=True)
    ]
    assert opened.root_hash == merkle.root_from_leaf_hashes(leaves)


def test_inclusion_and_consistency_proofs_from_the_console(
    auditor: User, owner: User, tmp_path: Path
) -> None:
    downloads_record(owner, file_id=7, count=6)
    checkpoints.checkpoint_write(force=True)
    downloads_record(owner, file_id=7, count=5)
    checkpoints.checkpoint_write(force=True)
    client = client_signed_in(auditor)
    key_line = client.get("/audit/keys/securedrive-audit.vkey").content.decode()
    (tmp_path / "11.txt").write_bytes(client.get("/audit/checkpoints/11.txt").content)
    (tmp_path / "6.txt").write_bytes(client.get("/audit/checkpoints/6.txt").content)
    proof = client.get("/audit/events/3/inclusion.json", {"size": 11}).json()
    assert inclusion_check(
        key_line=key_line, checkpoint_path=str(tmp_path / "11.txt"), proof_document=proof
    ).startswith("OK")
    (tmp_path / "vkey").write_text(key_line)
    (tmp_path / "consistency.json").write_bytes(
        client.get("/audit/consistency.json", {"first": 6, "second": 11}).content
    )
    result = run_module(
        "audit.tlog",
        "verify-consistency",
        "--key",
        str(tmp_path / "vkey"),
        "--old",
        str(tmp_path / "6.txt"),
        "--new",
        str(tmp_path / "11.txt"),
        "--proof",
        str(tmp_path / "consistency.json"),
    )
    assert result.returncode == 0, result.stderr


def test_intact_log_verifies_without_alert(auditor: User, owner: User) -> None:
    downloads_record(owner, file_id=7, count=4)
    checkpoints.checkpoint_write(force=True)
    audit_log_verify_and_alert.delay()
    verification = ChainVerification.objects.get()
    assert (verification.intact, verification.checkpoint_size, verification.events_checked) == (
        True,
        4,
        4,
    )
    assert mail.outbox == []
    page = client_signed_in(auditor).get("/audit/integrity/").content.decode()
    assert "Log intact" in page
    assert "Checkpoint at 4 events" in page


TAMPERING: dict[str, Callable[[], None]] = {
    "edit": lambda: tamper(
        "UPDATE audit_auditevent SET actor_label = %s WHERE sequence = 3", ["mallory@x"]
    ),
    "delete": lambda: tamper("DELETE FROM audit_auditevent WHERE sequence = 2"),
    "truncate-tail": lambda: tamper("DELETE FROM audit_auditevent WHERE sequence > 4"),
    "truncate-all": lambda: tamper("DELETE FROM audit_auditevent"),
}


@pytest.mark.parametrize("how", list(TAMPERING))
def test_tampering_is_detected_alerted_and_shown(
    how: str, auditor: User, site_admin: User, owner: User, outsider: User
) -> None:
    downloads_record(owner, file_id=7, count=6)
    checkpoints.checkpoint_write(force=True)
    TAMPERING[how]()
    audit_log_verify_and_alert.delay()
    verification = ChainVerification.objects.get()
    assert not verification.intact
    expected = {
        "edit": "sequence 3",
        "delete": "sequence 2",
        "truncate-tail": "truncated",
        "truncate-all": "truncated",
    }
    assert expected[how] in verification.message
    assert len(mail.outbox) == 1
    assert set(mail.outbox[0].to) == {auditor.email, site_admin.email}
    assert verification.message in mail.outbox[0].body
    assert AuditEvent.objects.filter(
        action=Action.AUDIT_VERIFICATION_FAILED, outcome=Outcome.ERROR
    ).exists()
    page = client_signed_in(auditor).get("/audit/").content.decode()
    assert "Integrity check FAILED" in page
    integrity_alert = AuditAlert.objects.get(rule=AlertRule.INTEGRITY)
    assert integrity_alert.summary == verification.message


def test_a_rewritten_but_consistent_log_contradicts_its_checkpoint(owner: User) -> None:
    """The database owner rebuilds a valid chain without event 6: only the checkpoint shows it."""
    downloads_record(owner, file_id=7, count=6)
    checkpoints.checkpoint_write(force=True)
    tamper("DELETE FROM audit_auditevent WHERE sequence = 6")
    audit.record(
        action=Action.FILES_VERSION_DOWNLOAD, actor=owner, target_type="files.file", target_id=8
    )
    report = checkpoints.audit_log_verify()
    assert report.chain.intact
    assert "rewritten" in report.problem


def test_forged_checkpoint_is_not_trusted(owner: User, settings: Any) -> None:
    downloads_record(owner, file_id=7, count=3)
    checkpoints.checkpoint_write(force=True)
    path = Path(settings.AUDIT_CHECKPOINT_DIR) / "checkpoint-000000000003.txt"
    path.chmod(0o600)
    path.write_text(path.read_text().replace("\n3\n", "\n2\n", 1))
    assert "cannot be trusted" in checkpoints.audit_log_verify().problem


def test_checkpoints_go_to_an_object_locked_bucket(
    owner: User, service_url: Callable[[str], str]
) -> None:
    import datetime as dt
    import secrets

    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=service_url("s3"),
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    bucket = f"audit-{secrets.token_hex(6)}"
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    store = checkpoints.S3CheckpointStore(client=client, bucket=bucket, retention_days=30)
    downloads_record(owner, file_id=7, count=3)
    assert checkpoints.checkpoint_write(store=store, force=True) == 3
    assert store.sizes() == [3]
    key = "audit-checkpoints/checkpoint-000000000003.txt"
    # moto's GetObjectRetention answers 500; HEAD carries the same lock headers.
    head = client.head_object(Bucket=bucket, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] > dt.datetime.now(dt.UTC) + dt.timedelta(days=29)
    version = head["VersionId"]
    with pytest.raises(client.exceptions.ClientError):
        client.delete_object(Bucket=bucket, Key=key, VersionId=version)
    assert checkpoints.audit_log_verify(store=store).intact


def test_a_checkpoint_bucket_is_accepted_only_with_object_lock(
    service_url: Callable[[str], str],
) -> None:
    """What bootstrap and the deploy check ask the bucket before production starts."""
    endpoint = service_url("s3")
    client = s3_client(endpoint)
    locked = checkpoint_bucket_create(endpoint)
    unlocked = checkpoint_bucket_create(endpoint, locked=False)
    assert checkpoints.checkpoint_bucket_problems(client=client, bucket=locked) == []
    (problem,) = checkpoints.checkpoint_bucket_problems(client=client, bucket=unlocked)
    assert f"'{unlocked}' was created without Object Lock" in problem
    (problem,) = checkpoints.checkpoint_bucket_problems(client=client, bucket="audit-never-made")
    assert "'audit-never-made' does not exist" in problem


# --- Forwarding to a SIEM ----------------------------------------------------------------


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def forwarded() -> Iterator[list[str]]:
    handler = Lines()
    logger = logging.getLogger("securedrive.audit")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield handler.lines
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_committed_events_are_forwarded_as_json_lines(
    owner: User, forwarded: list[str], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            event = audit.record(
                action=Action.FILES_VERSION_DOWNLOAD,
                actor=owner,
                target_type="files.file",
                target_id=7,
            )
        assert forwarded == []  # not before commit
    assert len(forwarded) == 1
    line = json.loads(forwarded[0])
    assert (line["sequence"], line["event_hash"], line["actor"]) == (
        event.sequence,
        event.event_hash,
        owner.email,
    )


def test_rolled_back_events_are_never_forwarded(
    owner: User, forwarded: list[str], django_capture_on_commit_callbacks: Any
) -> None:
    def delete_that_fails() -> None:
        with transaction.atomic():
            audit.record(action=Action.FILES_FILE_DELETE, actor=owner)
            raise RuntimeError("the action failed")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        delete_that_fails()
    assert forwarded == []


def test_a_persons_own_sign_in_reads_as_a_sentence_not_naming_her_twice(
    auditor: User, owner: User, site_admin: User
) -> None:
    """On a phone each event is a sentence: "Signed in", by Alice Martin; not "Signed in
    Alice Martin (alice.martin@…)" above "Alice Martin". Done to someone else (an
    administrator deactivating her), the account is still named."""
    audit.record(
        action=Action.ACCOUNTS_LOGIN, actor=owner, target_type="accounts.user", target_id=owner.pk
    )
    audit.record(
        action=Action.ACCOUNTS_USER_DEACTIVATE,
        actor=site_admin,
        target_type="accounts.user",
        target_id=owner.pk,
    )
    page = client_signed_in(auditor).get("/audit/", {"target_id": str(owner.pk)})
    html = page.content.decode()
    compact = html[html.index('id="audit-events-compact"') :]
    sentences = re.findall(r'<p class="mb-1 audit-compact-sentence">(.*?)</p>', compact, re.S)
    signed_in = next(sentence for sentence in sentences if "signed in" in sentence.lower())
    assert owner.email not in signed_in
    deactivated = next(sentence for sentence in sentences if "deactivat" in sentence.lower())
    assert owner.email in deactivated
