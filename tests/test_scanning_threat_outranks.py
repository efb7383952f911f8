"""A threat outranks any problem that is not one, wherever it sits in the file.

A ZIP member or a scan window that clamd could not fully scan (one of its limits, an
error, a member too long for one pass) keeps the file blocked, but it must not hide a
threat further on: the administrator and the uploader are told the threat's name and
member, and the upload is quarantined, not merely blocked (docs/scanning.md).

clamd's limit is reached for real with the shared clamd (tests/services.sh: MaxFileSize
64M, AlertExceedsMax yes): a 336-byte gzip of a gzip of 100 MiB of zeros, which clamd
unpacks past MaxFileSize and answers ``Heuristics.Limits.Exceeded.MaxFileSize``. Our
inspector sees only its 336 bytes (we unpack ZIP, not gzip, members), so it is a
problem of that member's scan, not of the archive.
"""

from __future__ import annotations

import gc
import gzip
import warnings
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from django.core import mail
from django.test.utils import override_settings
from django.urls import reverse

from accounts.models import User
from files import scan_policy, services
from files.models import FileVersion, ScanPolicyChoice, ScanStatus
from files.scanning import _ClamdMemberScanner
from tests.files_helpers import content_of, root_of, version_store
from tests.helpers import client_signed_in
from tests.test_scanning import EICAR, scan_events, upload
from tests.test_scanning_large import dicom_like, study_zip

SIGNATURE = "SecureDrive.Test.EICAR.UNOFFICIAL"  # tests/clamav/securedrive-test.ndb
LIMIT = "Heuristics.Limits.Exceeded.MaxFileSize"
WINDOW = 20_000  # SECUREDRIVE_SCAN_MAX_BYTES where windows are wanted
STEP = WINDOW - 1024  # windows start every 18,976 bytes (the overlap's 1 KiB floor)


def gzip_beyond_clamd_limits() -> bytes:
    """336 bytes that clamd unpacks to 100 MiB, beyond the test clamd's MaxFileSize."""
    inner = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    packed = bytearray()
    for _ in range(100):
        packed += inner.compress(b"\0" * 2**20)
    packed += inner.flush()
    return gzip.compress(bytes(packed), compresslevel=9, mtime=0)


def video_with_a_window_beyond_clamd_limits() -> bytearray:
    """60,000 bytes whose second window starts with what clamd cannot fully scan (a
    file starting with it would be a gzip, never cut in windows); the first window
    holds it too, but not at its start, where clamd does not unpack it."""
    content = bytearray(content_of(3 * WINDOW, seed="echo"))
    packed = gzip_beyond_clamd_limits()
    content[STEP : STEP + len(packed)] = packed
    return content


@pytest.fixture
def small_window(clamd: str) -> Iterator[None]:
    with override_settings(SCAN_MAX_BYTES=WINDOW):
        yield


def test_a_threat_after_a_member_clamd_cannot_fully_scan_quarantines_and_is_named(
    clamd: str, owner: User, teammate: User, django_capture_on_commit_callbacks: Any
) -> None:
    """The problem member comes first, the infected one after more clean members than
    clamd has in flight: it used to be reported as "could not be fully inspected"."""
    clean = {f"ETUDE/SERIE1/IM{index:04d}.dcm": dicom_like(3_000, str(index)) for index in range(6)}
    assert len(clean) > _ClamdMemberScanner.IN_FLIGHT
    members = {
        "ETUDE/export.gz": gzip_beyond_clamd_limits(),
        **clean,
        "ETUDE/SERIE2/IM0007.dcm": dicom_like(2_000, "x") + EICAR,
    }
    client = client_signed_in(owner)
    version = upload(
        client, root_of(owner), "irm.zip", study_zip(members), django_capture_on_commit_callbacks
    )

    assert version.scan_status == ScanStatus.QUARANTINED
    [event] = scan_events(version)
    assert (event.outcome, event.details["status"]) == ("denied", "quarantined")
    assert (event.details["signature"], event.details["member"]) == (
        SIGNATURE,
        "ETUDE/SERIE2/IM0007.dcm",
    )
    assert "reason" not in event.details
    page = client.get(reverse("files:file", args=[version.file_id])).content.decode()
    assert f"({SIGNATURE}) in “ETUDE/SERIE2/IM0007.dcm” inside this archive" in page
    [message] = mail.outbox
    assert "ETUDE/SERIE2/IM0007.dcm" in message.body
    assert client_signed_in(teammate).get(
        reverse("files:download", args=[version.file_id])
    ).status_code in (403, 404, 409)


def test_a_member_clamd_cannot_fully_scan_still_blocks_after_every_member_is_scanned(
    clamd: str, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    """Without a threat the problem stays what is reported, naming its member and
    clamd's words; the members after it were scanned all the same."""
    members = {
        "ETUDE/export.gz": gzip_beyond_clamd_limits(),
        **{f"ETUDE/IM{index:04d}.dcm": dicom_like(3_000, str(index)) for index in range(7)},
    }
    version = upload(
        client_signed_in(owner), root_of(owner), "irm.zip", study_zip(members),
        django_capture_on_commit_callbacks,
    )  # fmt: skip

    assert version.scan_status == ScanStatus.BLOCKED
    assert not version.is_downloadable
    details = scan_events(version)[0].details
    assert (details["reason"], details["member"]) == ("scanner_limit", "ETUDE/export.gz")
    assert details["scanner"] == LIMIT
    assert details["archive_members_scanned"] == 8
    assert "signature" not in details


def test_a_threat_in_a_window_after_one_clamd_cannot_fully_scan_quarantines(
    small_window: None, owner: User, site_admin: User, django_capture_on_commit_callbacks: Any
) -> None:
    """Windowed policy: clamd cannot fully scan the second window; the third (and only
    it) holds the threat."""
    scan_policy.site_scan_policy_set(actor=site_admin, policy=ScanPolicyChoice.WINDOWED)
    content = video_with_a_window_beyond_clamd_limits()
    threat_at = 2 * WINDOW  # in the third window only: past the second, before the fourth
    assert threat_at >= STEP + WINDOW
    assert threat_at + len(EICAR) <= 3 * STEP
    content[threat_at : threat_at + len(EICAR)] = EICAR
    version = upload(
        client_signed_in(owner), root_of(owner), "echo.mp4", bytes(content),
        django_capture_on_commit_callbacks,
    )  # fmt: skip

    assert version.scan_status == ScanStatus.QUARANTINED
    details = scan_events(version)[0].details
    assert details["signature"] == SIGNATURE
    assert details["window_offset"] == 2 * STEP
    assert "reason" not in details


def test_a_window_clamd_cannot_fully_scan_still_blocks_the_file_under_the_windowed_policy(
    small_window: None, owner: User, site_admin: User, django_capture_on_commit_callbacks: Any
) -> None:
    """The windows after it are scanned (and counted); the file stays blocked."""
    scan_policy.site_scan_policy_set(actor=site_admin, policy=ScanPolicyChoice.WINDOWED)
    content = video_with_a_window_beyond_clamd_limits()
    version = upload(
        client_signed_in(owner), root_of(owner), "echo.mp4", bytes(content),
        django_capture_on_commit_callbacks,
    )  # fmt: skip

    assert version.scan_status == ScanStatus.BLOCKED
    details = scan_events(version)[0].details
    assert (details["reason"], details["scanner"]) == ("scanner_limit", LIMIT)
    assert details["scan_windows"] == 4  # 60,000 bytes, windows of 20,000 every 18,976


def test_a_threat_at_the_start_of_a_member_too_long_for_one_pass_is_named(
    small_window: None, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    """Block policy: the member's first pass is sent before it is found too long; what
    clamd saw in it is still read, and a threat there outranks "too big"."""
    members = {"compte-rendu.txt": b"lettre", "video/echo.mp4": EICAR + content_of(3 * WINDOW)}
    version = upload(
        client_signed_in(owner), root_of(owner), "echo.zip", study_zip(members),
        django_capture_on_commit_callbacks,
    )  # fmt: skip

    assert version.scan_status == ScanStatus.QUARANTINED
    details = scan_events(version)[0].details
    assert (details["signature"], details["member"]) == (SIGNATURE, "video/echo.mp4")


def test_a_member_cut_short_by_an_archive_limit_leaves_no_clamd_connection_open(
    clamd: str, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    """A bomb member stops the walk halfway through (the ratio limit): the clamd stream
    it was being sent to is closed there and then, not left for the garbage collector
    (an open INSTREAM holds one of clamd's threads until its read timeout)."""
    members = {
        "ETUDE/compte-rendu.txt": b"Compte rendu\n" * 100,
        "ETUDE/zeros.bin": b"\0" * (64 * 2**20),  # deflates ~1000:1, past the 100:1 limit
    }
    client = client_signed_in(owner)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        version = upload(
            client,
            root_of(owner),
            "export.zip",
            study_zip(members, stored=False),
            django_capture_on_commit_callbacks,
        )
        gc.collect()
    assert version.scan_status == ScanStatus.BLOCKED
    assert scan_events(version)[-1].details["reason"] == "ratio"
    unclosed = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not [message for message in unclosed if "socket" in message], unclosed


def test_the_scan_covers_every_decrypted_byte_whatever_size_the_row_records(
    clamd: str, owner: User, small_window: None
) -> None:
    """Defence in depth: the bytes clamd sees are those the blob decrypts to, not the size
    recorded on the version. A row saying one window (a bug, a hand edit) used to make the
    scan stop there and pass a threat further on; the SHA-256 check could not see it,
    since every byte was still hashed."""
    content = bytes(content_of(3 * WINDOW, seed="foxtrot")) + EICAR
    version = version_store(
        actor=owner, folder=root_of(owner), name="export.bin", content=content, clean=False
    )
    FileVersion.objects.filter(pk=version.pk).update(size=WINDOW)
    assert services.version_finalize(version_id=version.pk) != "available"
    assert FileVersion.objects.get(pk=version.pk).scan_status != ScanStatus.AVAILABLE
