"""Scanning of any size, still fail-closed (issue #16, docs/scanning.md).

A study ZIP is scanned member by member (an infected member quarantines the upload and
is named), a single file longer than clamd's single pass is scanned in overlapping
windows when the policy says so (a signature across a window boundary is still found)
and blocked with a clear message when it does not; the administrator chooses the policy
per site and per team, on a page showing clamd's limits as clamd states them.

The shared clamd (tests/services.sh: StreamMaxLength 64M, the repository's signatures)
answers; windows are made small by lowering SECUREDRIVE_SCAN_MAX_BYTES, never by
creating large files. One test starts a private clamd with its own StreamMaxLength to
show that the limit is read from clamd, not assumed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import shutil
import socket
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.test.utils import override_settings
from django.urls import reverse

from accounts.models import Team, User
from audit.actions import Action
from audit.models import AuditEvent
from files import scan_policy, services
from files.clamd import CLAMAV_SCAN_MAX_BYTES, ClamdClient, Verdict, parse_scan_reply
from files.crypto import BlobDecryptor
from files.models import Folder, ScanPolicyChoice, ScanStatus
from files.scan_windows import WindowedScan
from files.scanning import scan_limits
from files.signatures import signature_span
from tests.files_helpers import content_of, root_of, version_store
from tests.helpers import client_signed_in
from tests.test_scanning import EICAR, scan_events, upload

SIGNATURES = Path(__file__).parent / "clamav"
WINDOW = 20_000  # SECUREDRIVE_SCAN_MAX_BYTES in these stories: clamd's 64M is far above


def dicom_like(size: int, seed: str) -> bytes:
    """A DICOM Part 10 look-alike: 128-byte preamble, "DICM", then content."""
    return b"\0" * 128 + b"DICM" + content_of(size, seed=seed)


def study_zip(members: dict[str, bytes], *, stored: bool = True) -> bytes:
    buffer = io.BytesIO()
    method = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def straddling(size: int, boundary: int) -> bytes:
    """``size`` bytes with EICAR's signature across ``boundary`` (half on each side)."""
    data = bytearray(content_of(size, seed="windows"))
    start = boundary - len(EICAR) // 2
    data[start : start + len(EICAR)] = EICAR
    return bytes(data)


@pytest.fixture
def team_folder(team: Team) -> Folder:
    return services.space_root(services.space_team_get_or_create(team=team))


@pytest.fixture
def small_window(clamd: str) -> Iterator[None]:
    with override_settings(SCAN_MAX_BYTES=WINDOW):
        yield


# --- The overlap: measured from the signature databases --------------------------------


def test_the_overlap_is_measured_from_the_signatures_clamd_loads(tmp_path: Path) -> None:
    assert signature_span(SIGNATURES).longest == len(EICAR)  # 68 bytes

    (tmp_path / "a.ndb").write_text(
        "Fixed:0:*:41424344\n"
        "Gap:0:*:4142{10-20}4344\n"  # 2 + 20 + 2
        "Choice:0:*:41(4243|444546)47\n"  # 1 + 3 + 1
        "Star:0:*:4142*4344\n"
        "Open:0:*:4142{4-}4344\n"
    )
    (tmp_path / "b.ldb").write_text(
        "One;Engine:51-255,Target:0;0;41424344454647\nTwo;Target:0;0&1;4142;4344\n"
    )
    (tmp_path / "c.hdb").write_text("44d88612fea8a8f36de82e1278abb02f:68:Whole\n")
    span = signature_span(tmp_path)
    assert (span.longest, span.longest_name) == (24, "Gap")
    # What windows cannot promise is counted, never silently covered.
    assert (span.unbounded, span.whole_file) == (3, 1)


def test_a_signature_across_a_window_boundary_is_found_thanks_to_the_overlap(
    clamd: str,
) -> None:
    client = ClamdClient(clamd)
    data = straddling(3 * WINDOW, WINDOW)

    def scan(overlap: int) -> Any:
        windows = WindowedScan(client, size=WINDOW, overlap=overlap, total_size=len(data))
        for start in range(0, len(data), 4096):
            windows.feed(data[start : start + 4096])
        return windows.finish()

    overlap = signature_span(SIGNATURES).longest
    found = scan(overlap)
    assert found.verdict is Verdict.INFECTED
    assert found.offset == WINDOW - overlap  # the second window holds it whole
    # Without the overlap, each window holds half of it: nothing is found.
    assert scan(0).verdict is Verdict.CLEAN


# --- clamd's limit, read from clamd ------------------------------------------------------


def test_clamd_states_its_stream_limit_when_probed_without_sending_content(clamd: str) -> None:
    assert ClamdClient(clamd).stream_max_length() == 64 * 2**20  # tests/services.sh


def test_a_limit_clamd_reached_inside_the_content_is_not_called_a_threat() -> None:
    """With AlertExceedsMax, clamd reports its own limits as "FOUND": not fully
    scanned (policy), never quarantined as if a virus had been seen."""
    reply = parse_scan_reply("stream: Heuristics.Limits.Exceeded.MaxFileSize FOUND")
    assert reply.verdict is Verdict.ERROR
    assert parse_scan_reply("stream: Win.Test.EICAR_HDB-1 FOUND").verdict is Verdict.INFECTED


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# What production configures (docker-compose.yml): 4000M, clamd's own maximum.
PRODUCTION_LIMITS = "StreamMaxLength 4000M\nMaxFileSize 4000M\nMaxScanSize 4000M\n"


@contextlib.contextmanager
def clamd_private(folder: Path, limits: str) -> Iterator[str]:
    """A clamd of our own on a free port (the shared one is never touched), with the
    repository's signatures and ``limits`` (clamd.conf lines); its address while it
    runs."""
    program = shutil.which("clamd") or "/usr/sbin/clamd"
    if not Path(program).exists():
        pytest.fail("clamd is not installed")
    port = _free_port()
    database = folder / "db"
    database.mkdir()
    shutil.copy(SIGNATURES / "securedrive-test.ndb", database)
    (folder / "clamd.conf").write_text(
        f"TCPSocket {port}\nTCPAddr 127.0.0.1\nDatabaseDirectory {database}\n"
        f"Foreground yes\n{limits}AlertExceedsMax yes\n"
    )
    process = subprocess.Popen(
        [program, f"--config-file={folder / 'clamd.conf'}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    address = f"tcp://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not ClamdClient(address, timeout_s=2).ping():
            assert process.poll() is None, "the private clamd stopped"
            assert time.monotonic() < deadline, "the private clamd did not answer"
            time.sleep(0.1)
        yield address
    finally:
        process.kill()
        process.wait(timeout=15)


@pytest.fixture
def private_clamd(tmp_path: Path, clamd: str) -> Iterator[str]:
    """A clamd of our own with StreamMaxLength 1M."""
    with clamd_private(tmp_path, "StreamMaxLength 1M\nMaxFileSize 1M\nMaxScanSize 4M\n") as address:
        yield address


def test_windows_follow_the_limit_a_private_clamd_is_configured_with(
    private_clamd: str, owner: User, site_admin: User
) -> None:
    assert ClamdClient(private_clamd).stream_max_length() == 2**20
    scan_policy.site_scan_policy_set(actor=site_admin, policy=ScanPolicyChoice.WINDOWED)
    content = straddling(3 * 2**20, 2**20)  # across the first window's end
    with override_settings(CLAMD_ADDRESS=private_clamd, FILES_UPLOAD_MAX_BYTES=8 * 2**20):
        version = version_store(
            actor=owner, folder=root_of(owner), name="echo.mp4", content=content, clean=False
        )
        assert services.version_finalize(version_id=version.pk) == "quarantined"
    details = scan_events(version)[0].details
    assert details["window_bytes"] == 2**20
    assert details["scan_windows"] >= 2


def test_a_clamd_configured_for_4000m_gets_passes_clamav_can_really_scan(
    tmp_path: Path, clamd: str, site_admin: User, owner: User
) -> None:
    """clamd takes a 4000M stream but ClamAV cannot scan 2 GB or more of one file: with
    production's limits a 5 GiB file must still be cut into windows ClamAV can scan,
    and the administrator and the uploader are told the limit really used. Nothing of
    2 GB is sent: StreamMaxLength is probed with headers only."""
    with (
        clamd_private(tmp_path, PRODUCTION_LIMITS) as address,
        override_settings(CLAMD_ADDRESS=address, SCAN_MAX_BYTES=4000 * 2**20),
    ):
        limits = scan_limits(ClamdClient(address), fresh=True)
        assert limits.stream_max_length == 4000 * 2**20  # what clamd accepts...
        assert limits.window_bytes == CLAMAV_SCAN_MAX_BYTES < 2**31  # ...and what it scans
        assert limits.limited_by == "clamav"
        windows = WindowedScan(
            ClamdClient(address), size=limits.window_bytes, overlap=limits.overlap_bytes
        )
        assert -(-5 * 2**30 // windows.step) == 3  # a 5 GiB file: three windows

        page = client_signed_in(site_admin).get(reverse("files:scan_policy")).content.decode()
        assert f"({CLAMAV_SCAN_MAX_BYTES} B)" in page
        assert "set by ClamAV itself, which cannot scan 2 GB or more in one file" in page
        folder = client_signed_in(owner).get(reverse("files:folder", args=[root_of(owner).pk]))
        assert f'data-scan-max-bytes="{CLAMAV_SCAN_MAX_BYTES}"' in folder.content.decode()


def test_a_window_or_member_clamd_cannot_fully_scan_is_blocked_never_clean_nor_a_threat(
    tmp_path: Path, clamd: str, owner: User, site_admin: User
) -> None:
    """The 2 GB case in miniature: a clamd whose stream limit is above what it scans in
    one file (MaxFileSize) answers Heuristics.Limits.Exceeded for a window or a member:
    "not fully scanned", blocked under the windowed policy, not quarantined."""
    scan_policy.site_scan_policy_set(actor=site_admin, policy=ScanPolicyChoice.WINDOWED)
    limits = "StreamMaxLength 2M\nMaxFileSize 1M\nMaxScanSize 8M\n"
    with (
        clamd_private(tmp_path, limits) as address,
        override_settings(CLAMD_ADDRESS=address, FILES_UPLOAD_MAX_BYTES=8 * 2**20),
    ):
        single = version_store(
            actor=owner, folder=root_of(owner), name="echo.mp4",
            content=content_of(3 * 2**20), clean=False,
        )  # fmt: skip
        assert services.version_finalize(version_id=single.pk) == "blocked"
        study = version_store(
            actor=owner, folder=root_of(owner), name="irm.zip",
            content=study_zip({"IM1.dcm": dicom_like(3 * 2**19, "1")}), clean=False,
        )  # fmt: skip
        assert services.version_finalize(version_id=study.pk) == "blocked"
    single_details = scan_events(single)[0].details
    assert single_details["reason"] == "scanner_limit"
    assert "Limits.Exceeded.MaxFileSize" in single_details["scanner"]
    study_details = scan_events(study)[0].details
    assert (study_details["reason"], study_details["member"]) == ("scanner_limit", "IM1.dcm")


# --- Study ZIPs, member by member --------------------------------------------------------


def test_an_eicar_member_in_a_study_zip_quarantines_the_upload_and_is_named(
    small_window: None,
    owner: User,
    teammate: User,
    team_folder: Folder,
    django_capture_on_commit_callbacks: Any,
) -> None:
    members = {
        "DICOMDIR": b"\0" * 128 + b"DICM" + b"directory",
        **{f"ETUDE/SERIE1/IM{index:04d}.dcm": dicom_like(15_000, str(index)) for index in range(6)},
        "ETUDE/SERIE2/IM0003.dcm": dicom_like(4_000, "x") + EICAR,
    }
    client = client_signed_in(owner)
    version = upload(
        client, team_folder, "scanner-thorax.zip", study_zip(members),
        django_capture_on_commit_callbacks,
    )  # fmt: skip

    assert version.size > WINDOW  # larger than one pass: scanned member by member
    assert version.scan_status == ScanStatus.QUARANTINED
    [event] = scan_events(version)
    assert event.details["member"] == "ETUDE/SERIE2/IM0003.dcm"
    page = client.get(reverse("files:file", args=[version.file_id])).content.decode()
    assert "“ETUDE/SERIE2/IM0003.dcm” inside this archive" in page
    [message] = mail.outbox
    assert "ETUDE/SERIE2/IM0003.dcm" in message.body
    assert client_signed_in(teammate).get(
        reverse("files:download", args=[version.file_id])
    ).status_code in (403, 409)


def test_a_threat_in_a_member_outranks_a_bomb_found_later_in_the_same_zip(
    small_window: None, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    """The infected member's verdict may still be on its way when a later member trips
    the bomb limit: the upload is quarantined naming it, not merely blocked."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("SERIE/IM0001.dcm", dicom_like(2_000, "a") + EICAR)
        with archive.open("SERIE/IM0002.dcm", mode="w") as entry:
            for _ in range(16):
                entry.write(b"\0" * (1 << 20))
    version = upload(
        client_signed_in(owner), root_of(owner), "etude.zip", buffer.getvalue(),
        django_capture_on_commit_callbacks,
    )  # fmt: skip
    assert version.scan_status == ScanStatus.QUARANTINED
    assert scan_events(version)[0].details["member"] == "SERIE/IM0001.dcm"


def test_a_study_zip_larger_than_one_pass_is_fully_scanned_under_the_block_policy(
    small_window: None, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    members = {f"SERIE/IM{index:04d}.dcm": dicom_like(12_000, str(index)) for index in range(8)}
    version = upload(
        client_signed_in(owner), root_of(owner), "irm.zip", study_zip(members),
        django_capture_on_commit_callbacks,
    )  # fmt: skip
    assert version.size > 4 * WINDOW
    assert version.scan_status == ScanStatus.AVAILABLE
    details = scan_events(version)[0].details
    assert details["archive_members_scanned"] == 8
    assert details["archive_problem"] == ""


def test_a_study_zip_is_decrypted_once_to_hash_it_and_scan_its_members(
    clamd: str, owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hashing and unpacking share one pass over the ZIP's segments (the bench's ZIP
    cost went to decrypting it two to three times): the hash is still the uploaded
    file's, and every member is still scanned."""
    members = {f"SERIE/IM{index:04d}.dcm": dicom_like(300_000, str(index)) for index in range(12)}
    data = study_zip(members)
    version = version_store(
        actor=owner, folder=root_of(owner), name="irm.zip", content=data, clean=False
    )
    decrypted: list[int] = []
    segment_decrypt = BlobDecryptor.decrypt_segment

    def counted(self: BlobDecryptor, index: int) -> bytes:
        decrypted.append(index)
        return segment_decrypt(self, index)

    monkeypatch.setattr(BlobDecryptor, "decrypt_segment", counted)
    assert services.version_finalize(version_id=version.pk) == "available"
    segments = -(-len(data) // 2**20)
    assert segments == 4
    # The first segment (file type) and the central directory's (read first) twice.
    assert len(decrypted) <= segments + 2
    assert sorted(set(decrypted)) == list(range(segments))
    details = scan_events(version)[0].details
    assert details["archive_members_scanned"] == 12
    version.refresh_from_db()
    assert version.sha256 == hashlib.sha256(data).hexdigest()


def test_a_zip_member_beyond_one_pass_is_blocked_and_named_under_the_block_policy(
    small_window: None, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    members = {"compte-rendu.txt": b"lettre", "video/echo.mp4": content_of(3 * WINDOW)}
    version = upload(
        client_signed_in(owner), root_of(owner), "echo.zip", study_zip(members),
        django_capture_on_commit_callbacks,
    )  # fmt: skip
    assert version.scan_status == ScanStatus.BLOCKED
    details = scan_events(version)[0].details
    assert (details["reason"], details["member"]) == ("too_big", "video/echo.mp4")


def test_data_hidden_between_zip_entries_makes_the_archive_not_inspectable(
    small_window: None, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    """Bytes no entry accounts for might be read by a local-header reader and not by
    us: never clean."""
    data = study_zip({"a.txt": b"premier", "b.txt": b"second"})
    second = data.index(b"PK\x03\x04", 4)
    padding = b"\0" * 100
    tampered = bytearray(data[:second] + padding + data[second:])
    # Shift the central directory's offsets of the second entry and of the directory.
    end = tampered.rindex(b"PK\x05\x06")
    directory = int.from_bytes(tampered[end + 16 : end + 20], "little")
    tampered[end + 16 : end + 20] = (directory + len(padding)).to_bytes(4, "little")
    entry = tampered.index(b"PK\x01\x02", directory + len(padding) + 4)
    offset = int.from_bytes(tampered[entry + 42 : entry + 46], "little")
    tampered[entry + 42 : entry + 46] = (offset + len(padding)).to_bytes(4, "little")
    version = upload(
        client_signed_in(owner), root_of(owner), "cache.zip", bytes(tampered),
        django_capture_on_commit_callbacks,
    )  # fmt: skip
    assert version.scan_status == ScanStatus.BLOCKED
    details = scan_events(version)[0].details
    assert (details["reason"], details["member"]) == ("hidden_data", "a.txt")


# --- A single file beyond one pass: the policy --------------------------------------------


def test_beyond_one_pass_the_block_policy_blocks_with_a_clear_message_in_both_languages(
    small_window: None, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    client = client_signed_in(owner)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"  # reads SecureDrive in French
    version = upload(
        client, root_of(owner), "echo.mp4", content_of(3 * WINDOW),
        django_capture_on_commit_callbacks,
    )  # fmt: skip
    assert version.scan_status == ScanStatus.BLOCKED
    assert scan_events(version)[0].details["policy"] == "block"

    [message] = mail.outbox
    assert "Bloqué par la politique d\u2019analyse du site\xa0: aucune menace" in message.body
    assert "en une passe (20,0\u00a0ko)" in message.body
    assert "Ce que vous pouvez faire\xa0: le mettre dans une archive ZIP" in message.body

    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.get(reverse("files:file", args=[version.file_id])).content.decode()
    assert "Blocked by the site&#x27;s scanning policy: no threat was found" in page
    assert "larger than the virus scanner can check in one pass (20.0\u00a0kB)" in page
    assert "What you can do: put it in a ZIP archive" in page


def test_beyond_one_pass_the_windowed_policy_scans_in_windows_and_says_so(
    small_window: None,
    owner: User,
    site_admin: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    scan_policy.site_scan_policy_set(actor=site_admin, policy=ScanPolicyChoice.WINDOWED)
    client = client_signed_in(owner)
    clean = upload(
        client, root_of(owner), "echo.mp4", content_of(3 * WINDOW),
        django_capture_on_commit_callbacks,
    )  # fmt: skip
    assert clean.scan_status == ScanStatus.AVAILABLE
    details = scan_events(clean)[0].details
    assert details["scan_windows"] == 4  # 60,000 bytes, windows of 20,000 every 18,976
    assert details["window_overlap"] == 1024  # the floor; the signatures need 68
    page = client.get(reverse("files:file", args=[clean.file_id])).content.decode()
    assert "Scanned in 4 overlapping windows" in page

    infected = upload(
        client, root_of(owner), "video.mp4", straddling(3 * WINDOW, WINDOW),
        django_capture_on_commit_callbacks,
    )  # fmt: skip
    assert infected.scan_status == ScanStatus.QUARANTINED


def test_a_team_may_choose_otherwise_than_the_site(
    small_window: None,
    owner: User,
    site_admin: User,
    team: Team,
    team_folder: Folder,
    django_capture_on_commit_callbacks: Any,
) -> None:
    scan_policy.team_scan_policy_set(actor=site_admin, team=team, policy=ScanPolicyChoice.WINDOWED)
    client = client_signed_in(owner)
    in_team = upload(
        client, team_folder, "echo.mp4", content_of(3 * WINDOW),
        django_capture_on_commit_callbacks,
    )  # fmt: skip
    personal = upload(
        client, root_of(owner), "echo-perso.mp4", content_of(3 * WINDOW),
        django_capture_on_commit_callbacks,
    )  # fmt: skip
    assert (in_team.scan_status, personal.scan_status) == (
        ScanStatus.AVAILABLE,
        ScanStatus.BLOCKED,
    )


# --- The administrator's page --------------------------------------------------------------


def test_the_scanning_page_shows_clamds_limits_and_policy_changes_are_audited(
    clamd: str, site_admin: User, team: Team
) -> None:
    client = client_signed_in(site_admin)
    url = reverse("files:scan_policy")
    page = client.get(url).content.decode()
    assert "ClamAV" in page  # VERSION, from clamd
    assert "67108864 B" in page  # StreamMaxLength, measured from clamd
    assert "68 bytes" in page  # the longest signature of the loaded databases
    assert "POOLS" in page  # STATS

    response = client.post(url, {"site": "windowed", f"team-{team.pk}": "allow"})
    assert response.status_code == 302
    assert scan_policy.site_scan_policy() == ScanPolicyChoice.WINDOWED
    assert scan_policy.scan_policy_for_team(team.pk) == ScanPolicyChoice.ALLOW
    site_event = AuditEvent.objects.get(action=Action.FILES_SCAN_POLICY_SITE_UPDATE)
    assert site_event.details["changed"]["policy"] == {"before": "block", "after": "windowed"}
    team_event = AuditEvent.objects.get(action=Action.FILES_SCAN_POLICY_TEAM_UPDATE)
    assert team_event.details["changed"]["policy"] == {"before": "site", "after": "allow"}

    client.post(url, {"site": "windowed", f"team-{team.pk}": "site"})
    assert scan_policy.scan_policy_for_team(team.pk) == ScanPolicyChoice.WINDOWED
    assert AuditEvent.objects.filter(action=Action.FILES_SCAN_POLICY_TEAM_UPDATE).count() == 2
    assert client.post(url, {"site": "everything"}).status_code == 400


def test_the_uploader_is_given_the_limit_and_the_policy_before_it_starts(
    small_window: None, owner: User
) -> None:
    page = client_signed_in(owner).get(reverse("files:folder", args=[root_of(owner).pk]))
    html = page.content.decode()
    assert f'data-scan-max-bytes="{WINDOW}"' in html
    assert 'data-scan-policy="block"' in html
