"""The finalize pipeline against a real clamd: uploads through the browser's multipart
view are decrypted, hashed, sniffed and scanned; only a clean verdict is downloadable.

clamd runs with the repository's test signatures (tests/clamav/securedrive-test.ndb) and
StreamMaxLength 64M (tests/services.sh). Tasks run eagerly (tests/settings.py); the
after-commit hand-off is executed with ``django_capture_on_commit_callbacks``.
"""

from __future__ import annotations

import datetime as dt
import zlib
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.test.utils import override_settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import Team, User
from audit.actions import Action
from audit.models import AuditEvent
from files import services, tasks
from files.clamd import ClamdError
from files.models import File, FileVersion, Folder, ScanStatus
from files.services import finalize
from tests.files_helpers import (
    Backend,
    content_of,
    latest_version,
    root_of,
    upload_through_view,
    version_store,
)
from tests.helpers import client_signed_in
from tests.test_scanning_archives import zip_bomb, zip_of

# Assembled at run time so that the repository never holds the EICAR string itself.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
UNREACHABLE = "tcp://127.0.0.1:9"


@pytest.fixture
def team_folder(team: Team) -> Folder:
    return services.space_root(services.space_team_get_or_create(team=team))


def upload(client: Client, folder: Folder, name: str, content: bytes, capture: Any) -> FileVersion:
    """Upload through the browser's view; the finalize task runs after the commit."""
    with capture(execute=True):
        response = upload_through_view(client, folder, name, content)
    assert response.status_code == 302, response.content[:500]
    return latest_version(name)


def refresh(version: FileVersion) -> FileVersion:
    return FileVersion.objects.get(pk=version.pk)


def scan_events(version: FileVersion) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(
            action=Action.FILES_VERSION_SCAN, target_id=str(version.pk)
        ).order_by("sequence")
    )


def download(client: Client, version: FileVersion) -> Any:
    return client.get(reverse("files:download", args=[version.file_id]))


def zipped(content: bytes, *, force_zip64: bool = False) -> bytes:
    return zip_of({"scans/compte-rendu.txt": content}, force_zip64=force_zip64)


# --- Verdicts ---------------------------------------------------------------------------


def test_a_clean_upload_becomes_available_and_downloadable(
    clamd: str, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_signed_in(owner)
    content = b"%PDF-1.7\nCompte rendu de consultation.\n" + content_of(300_000)
    version = upload(
        client, root_of(owner), "Compte rendu.pdf", content, django_capture_on_commit_callbacks
    )

    assert version.scan_status == ScanStatus.AVAILABLE
    response = download(client, version)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == content
    [event] = scan_events(version)
    assert event.outcome == "success"
    assert event.details["status"] == "available"
    assert event.details["sha256"] == version.sha256
    assert event.details["sniffed_type"] == "application/pdf"
    # Recorded while the scan decrypts every byte, for ZIP archives (issue #18).
    assert version.plaintext_crc32 == zlib.crc32(content)


def test_eicar_is_quarantined_and_nobody_can_download_it(
    clamd: str,
    owner: User,
    teammate: User,
    team_folder: Folder,
    django_capture_on_commit_callbacks: Any,
) -> None:
    version = upload(
        client_signed_in(owner),
        team_folder,
        "facture.com",
        EICAR,
        django_capture_on_commit_callbacks,
    )

    assert version.scan_status == ScanStatus.QUARANTINED
    assert not version.is_downloadable
    [event] = scan_events(version)
    assert event.outcome == "denied"
    assert "Eicar" in event.details["signature"] or "EICAR" in event.details["signature"].upper()
    for person in (owner, teammate):
        client = client_signed_in(person)
        response = download(client, version)
        assert response.status_code == 409
        assert EICAR not in response.content
        response = client.get(reverse("files:version_download", args=[version.file_id, version.pk]))
        assert response.status_code == 409
    refusals = AuditEvent.objects.filter(
        action=Action.FILES_VERSION_DOWNLOAD, target_id=str(version.pk), outcome="denied"
    )
    assert refusals.count() == 4
    assert {event.details["reason"] for event in refusals} == {"quarantined"}


def test_the_owner_is_told_by_email_and_in_the_file_list(
    clamd: str, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_signed_in(owner)
    upload(client, root_of(owner), "resultats.txt", EICAR, django_capture_on_commit_callbacks)

    [message] = mail.outbox
    assert message.to == [owner.email]
    assert "quarantined" in message.subject
    assert "resultats.txt" in message.body
    assert EICAR not in message.body.encode()
    page = client.get(reverse("files:folder", args=[root_of(owner).pk]))
    assert "quarantined" in page.content.decode()


def test_a_zipped_eicar_is_quarantined(
    clamd: str, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    version = upload(
        client_signed_in(owner),
        root_of(owner),
        "examens.zip",
        zipped(b"padding " * 100 + EICAR),
        django_capture_on_commit_callbacks,
    )
    assert version.scan_status == ScanStatus.QUARANTINED
    assert scan_events(version)[0].details["sniffed_type"] == "application/zip"


def test_a_clean_zip_is_inspected_and_available(
    clamd: str, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    version = upload(
        client_signed_in(owner),
        root_of(owner),
        "lettres.zip",
        zipped(content_of(100_000)),
        django_capture_on_commit_callbacks,
    )
    assert version.scan_status == ScanStatus.AVAILABLE
    details = scan_events(version)[0].details
    assert details["archive"] == "zip"
    assert details["archive_entries"] == 1
    assert details["archive_problem"] == ""


def test_eicar_inside_a_zip64_entry_is_found_member_by_member_and_quarantined(
    clamd: str, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    """ClamAV answers OK for EICAR in a ZIP64 entry when it unpacks the archive itself;
    we unpack the members and show each to clamd: the threat is found and named."""
    version = upload(
        client_signed_in(owner),
        root_of(owner),
        "etude.zip",
        zipped(EICAR, force_zip64=True),
        django_capture_on_commit_callbacks,
    )
    assert version.scan_status == ScanStatus.QUARANTINED
    [event] = scan_events(version)
    assert event.outcome == "denied"
    assert event.details["member"] == "scans/compte-rendu.txt"


def test_a_zip_bomb_is_not_scanned_and_blocked(
    clamd: str, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    version = upload(
        client_signed_in(owner),
        root_of(owner),
        "irm.zip",
        zip_bomb(200),
        django_capture_on_commit_callbacks,
    )
    assert version.scan_status == ScanStatus.BLOCKED
    assert scan_events(version)[0].details["reason"] == "ratio"


def test_too_deeply_nested_archives_are_not_scanned(
    clamd: str, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    data = zipped(b"lettre")
    for level in range(4):
        data = zip_of({f"niveau-{level}.zip": data})
    version = upload(
        client_signed_in(owner),
        root_of(owner),
        "poupees.zip",
        data,
        django_capture_on_commit_callbacks,
    )
    assert version.scan_status == ScanStatus.BLOCKED
    assert scan_events(version)[0].details["reason"] == "nested_too_deep"


# --- The oversize policy ----------------------------------------------------------------


def test_a_file_beyond_the_scanner_limit_is_blocked_by_policy_not_called_a_threat(
    clamd: str, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_signed_in(owner)
    with override_settings(SCAN_MAX_BYTES=10_000):
        version = upload(
            client,
            root_of(owner),
            "scanner.dcm",
            content_of(50_000),
            django_capture_on_commit_callbacks,
        )
    assert version.scan_status == ScanStatus.BLOCKED
    assert not version.is_downloadable
    [event] = scan_events(version)
    assert event.outcome == "denied"
    assert event.details["status"] == "blocked"
    assert (event.details["reason"], event.details["policy"]) == ("too_big", "block")
    assert event.details["sha256"] == version.sha256  # hashed all the same

    response = download(client, version)
    assert response.status_code == 409
    assert "scanning policy" in response.content.decode()
    assert "threat" not in response.content.decode()
    refusal = AuditEvent.objects.get(
        action=Action.FILES_VERSION_DOWNLOAD, target_id=str(version.pk), outcome="denied"
    )
    assert refusal.details["reason"] == "blocked"
    [message] = mail.outbox
    assert "blocked by policy" in message.subject
    assert "larger than the virus scanner can check" in message.body
    page = client.get(reverse("files:folder", args=[root_of(owner).pk])).content.decode()
    assert "blocked by policy" in page
    assert "quarantined" not in page


def test_with_the_allow_policy_it_is_downloadable_flagged_not_scanned(
    clamd: str, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    content = content_of(50_000)
    client = client_signed_in(owner)
    with override_settings(SCAN_MAX_BYTES=10_000, SCAN_OVERSIZE_POLICY="allow"):
        version = upload(
            client, root_of(owner), "scanner.dcm", content, django_capture_on_commit_callbacks
        )
    assert version.scan_status == ScanStatus.NOT_SCANNED
    assert version.is_downloadable
    page = client.get(reverse("files:folder", args=[root_of(owner).pk])).content.decode()
    assert "not fully scanned" in page
    response = download(client, version)
    assert response.status_code == 200
    assert response["X-SecureDrive-Scan-Status"] == "not-scanned"
    assert b"".join(response.streaming_content) == content
    downloaded = AuditEvent.objects.get(
        action=Action.FILES_VERSION_DOWNLOAD, target_id=str(version.pk)
    )
    assert downloaded.details["scan_status"] == "not_scanned"


def test_a_stream_longer_than_clamd_takes_is_never_clean(
    clamd: str, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    """Our limit set above clamd's (64M in tests): clamd's own limit, read from clamd,
    decides, fail closed."""
    big = b"\x7fELF" + content_of(1 << 20) * 66
    with override_settings(FILES_UPLOAD_MAX_BYTES=200 * 2**20):
        version = version_store(
            actor=owner, folder=root_of(owner), name="big.bin", content=big, clean=False
        )
    assert services.version_finalize(version_id=version.pk) == "blocked"
    details = scan_events(version)[0].details
    assert details["reason"] == "too_big"
    assert details["scan_max_bytes"] == 64 * 2**20


# --- Fail closed, idempotent, recoverable -----------------------------------------------


def test_with_clamd_down_uploads_wait_and_complete_when_it_is_back(
    clamd: str, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_signed_in(owner)
    with override_settings(CLAMD_ADDRESS=UNREACHABLE, SCAN_MAX_RETRIES=2):
        version = upload(
            client,
            root_of(owner),
            "bilan.txt",
            b"bilan sanguin",
            django_capture_on_commit_callbacks,
        )
        # Every eager retry failed: never available, never served.
        assert version.scan_status in {ScanStatus.PENDING, ScanStatus.SCAN_FAILED}
        assert download(client, version).status_code == 409
        # A direct run leaves it waiting, not judged.
        with pytest.raises(ClamdError):
            services.version_finalize(version_id=version.pk)
        assert refresh(version).scan_status == ScanStatus.PENDING
        assert download(client, version).status_code == 409

    # clamd is back: the sweeper picks up what waited.
    with override_settings(SCAN_STUCK_MINUTES=0):
        assert tasks.versions_stuck_requeue.delay().get() == 1
    assert refresh(version).scan_status == ScanStatus.AVAILABLE
    assert download(client, version).status_code == 200


def test_retries_exhausted_mark_the_version_scan_failed_and_audited(
    clamd: str, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    with override_settings(CLAMD_ADDRESS=UNREACHABLE):
        version = version_store(
            actor=owner, folder=root_of(owner), name="ecg.txt", content=b"ecg", clean=False
        )
        # The last allowed attempt (earlier ones raised Retry and left it pending).
        last = tasks.version_finalize.max_retries
        result = tasks.version_finalize.apply(args=(str(version.pk),), retries=last, throw=False)
    assert isinstance(result.result, ClamdError)
    assert refresh(version).scan_status == ScanStatus.SCAN_FAILED
    [event] = scan_events(version)
    assert (event.outcome, event.details["status"]) == ("error", "scan_failed")


def test_running_finalize_twice_records_one_verdict(
    clamd: str, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    version = version_store(
        actor=owner, folder=root_of(owner), name="a.txt", content=b"a", clean=False
    )
    assert services.version_finalize(version_id=version.pk) == "available"
    assert services.version_finalize(version_id=version.pk) is None
    assert tasks.version_finalize.delay(str(version.pk)).get() is None
    assert len(scan_events(version)) == 1


def test_without_a_scanner_versions_wait_and_the_sweeper_leaves_them(
    owner: User,
    folder_backend: Backend,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Embedded mode without clamd: "waiting for virus scan", never available."""
    client = client_signed_in(owner)
    version = upload(
        client, root_of(owner), "note.txt", b"note", django_capture_on_commit_callbacks
    )
    assert version.scan_status == ScanStatus.PENDING
    with override_settings(SCAN_STUCK_MINUTES=0):
        assert tasks.versions_stuck_requeue.delay().get() == 0
    assert refresh(version).scan_status == ScanStatus.PENDING
    page = client.get(reverse("files:folder", args=[root_of(owner).pk])).content.decode()
    assert "waiting for virus scan" in page
    assert download(client, version).status_code == 409


def test_a_tampered_blob_fails_its_scan_and_is_flagged(
    clamd: str,
    owner: User,
    folder_backend: Backend,
) -> None:
    version = version_store(
        actor=owner, folder=root_of(owner), name="t.txt", content=content_of(5000), clean=False
    )
    raw = bytearray(folder_backend.raw(version.blob_key))
    raw[-20] ^= 1
    folder_backend.replace(version.blob_key, bytes(raw))
    assert services.version_finalize(version_id=version.pk) == "scan_failed"
    version = refresh(version)
    assert version.integrity_failed
    assert not version.is_downloadable
    # The sweeper does not retry what can never be read.
    with override_settings(SCAN_STUCK_MINUTES=0):
        assert services.versions_stuck_select(older_than_minutes=0) == []


def test_a_copy_of_a_clean_file_keeps_its_verdict_without_a_new_scan(
    clamd: str, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_signed_in(owner)
    version = upload(client, root_of(owner), "c.txt", b"copie", django_capture_on_commit_callbacks)
    destination = services.folder_create(actor=owner, parent=root_of(owner), name="Archive")
    with django_capture_on_commit_callbacks(execute=True):
        copy = services.file_copy(actor=owner, file=version.file, destination=destination)
    assert isinstance(copy, File)
    assert copy.current_version is not None
    assert copy.current_version.scan_status == ScanStatus.AVAILABLE
    assert scan_events(copy.current_version) == []


def test_a_long_scan_renewing_its_lease_is_never_swept_nor_claimed_twice(
    owner: User,
) -> None:
    """Three hours of scanning: the run renews its lease as segments go by, so the
    sweeper never hands the version to a second run, and a duplicate task waits."""
    version = version_store(
        actor=owner, folder=root_of(owner), name="long.dcm", content=b"dicom", clean=False
    )
    with time_machine.travel(timezone.now(), tick=False) as clock:
        claim = finalize._claim(version.pk)
        assert claim is not None
        for _minute in range(180):
            clock.shift(dt.timedelta(seconds=30))  # a quarter of the 2-minute lease
            claim.renew_if_due()
            assert services.versions_stuck_select(older_than_minutes=15) == []
            with pytest.raises(finalize.ScanClaimHeld):
                finalize._claim(version.pk)
    assert refresh(version).scan_status == ScanStatus.SCANNING


def test_a_killed_scan_is_taken_back_by_the_sweeper_within_minutes_with_one_verdict(
    clamd: str, owner: User
) -> None:
    version = version_store(
        actor=owner, folder=root_of(owner), name="kill9.dcm", content=b"dicom", clean=False
    )
    with time_machine.travel(timezone.now(), tick=False) as clock:
        dead = finalize._claim(version.pk)  # then kill -9: no renewal ever again
        assert dead is not None
        clock.shift(dt.timedelta(seconds=119))
        assert services.versions_stuck_select(older_than_minutes=15) == []
        clock.shift(dt.timedelta(seconds=2))  # the lease has run out
        assert services.versions_stuck_select(older_than_minutes=15) == [str(version.pk)]
        assert tasks.versions_stuck_requeue.delay().get() == 1  # eager: scanned now
    assert refresh(version).scan_status == ScanStatus.AVAILABLE
    # The dead run, should it wake up, finds its claim gone and writes nothing.
    dead.next_renewal = timezone.now()
    with pytest.raises(finalize.ScanClaimLost):
        dead.renew_if_due()
    assert [event.details["status"] for event in scan_events(version)] == ["available"]


def test_a_duplicate_run_giving_up_leaves_the_live_scan_and_its_verdict_alone(
    clamd: str, owner: User
) -> None:
    version = version_store(
        actor=owner, folder=root_of(owner), name="duo.dcm", content=b"dicom", clean=False
    )
    live = finalize._claim(version.pk)
    assert live is not None
    # A second task for the same version fails for good (a bug, retries used up).
    finalize.version_scan_give_up(version_id=version.pk, error=RuntimeError("duplicate"))
    assert refresh(version).scan_status == ScanStatus.SCANNING
    assert scan_events(version) == []
