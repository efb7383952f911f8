"""A folder or a transfer downloaded as one ZIP, streamed while it is decrypted.

Each story builds a folder tree through the real services (encrypted blobs in storage,
tiny segments so every boundary is crossed), asks sharing.services.archives for the response a
link or transfer view would return, reads its body the way the WSGI server would, and
opens what arrived with Python's own zipfile: names, bytes and CRCs must all match,
and ``Content-Length`` must be exactly what was sent.
"""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections
from django.http import StreamingHttpResponse
from django.test import RequestFactory

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from files import services
from files.crypto import BlobIntegrityError, segment_offset
from files.models import FileVersion, Folder, ScanStatus
from sharing.services import zip_stored
from sharing.services.archives import (
    ArchiveEntry,
    ArchiveEntryUnavailable,
    archive_entries_for_folder,
    archive_path_clean,
    archive_paths_unique,
    archive_response,
)
from tests.files_helpers import (
    SEGMENT,
    Backend,
    blob_files_open,
    chunks_of,
    content_of,
    root_of,
    version_store,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("small_segments")]

BROWSER = "Thunderbird-free radiologist/1.0"


class Finished:
    """Records the ``on_finished`` calls (the caller's audit and receipt hook)."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, bool]] = []

    def __call__(self, bytes_sent: int, completed: bool) -> None:
        self.calls.append((bytes_sent, completed))


def get_request(method: str = "GET") -> Any:
    factory = RequestFactory(REMOTE_ADDR="127.0.0.1", HTTP_USER_AGENT=BROWSER)
    return factory.generic(method, "/s/some-link/archive/")


def response_close(response: StreamingHttpResponse) -> None:
    """What the WSGI server does when it is done (sent all, error, or client gone),
    minus the request_finished signal, which would close the test's database
    connection (Django's test client does the same)."""
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def received_until_stopped(response: StreamingHttpResponse) -> tuple[bytes, Exception | None]:
    """What the WSGI server would have sent, and the exception that cut it (if any)."""
    received = bytearray()
    try:
        for chunk in chunks_of(response):
            received += chunk
    except Exception as error:  # the server drops the connection
        return bytes(received), error
    finally:
        response_close(response)
    return bytes(received), None


def drain(chunks: Iterator[bytes], *, into: bytearray) -> None:
    for chunk in chunks:
        into += chunk


def study_tree(owner: User) -> tuple[Folder, dict[str, bytes]]:
    """ "IRM Dupont" with a sub-folder and a sub-sub-folder; sizes cross segment limits."""
    root = root_of(owner)
    study = services.folder_create(actor=owner, parent=root, name="IRM Dupont")
    series = services.folder_create(actor=owner, parent=study, name="Série 1")
    deeper = services.folder_create(actor=owner, parent=series, name="coupes")
    files = {
        "IRM Dupont/compte-rendu.pdf": (study, 5 * SEGMENT + 7),
        "IRM Dupont/vide.txt": (study, 0),
        "IRM Dupont/Série 1/image-001.dcm": (series, SEGMENT),
        "IRM Dupont/Série 1/image-002.dcm": (series, 3 * SEGMENT),
        "IRM Dupont/Série 1/coupes/axial.dcm": (deeper, 2 * SEGMENT + 1),
    }
    contents = {}
    for path, (folder, size) in files.items():
        content = content_of(size, seed=path)
        version_store(actor=owner, folder=folder, name=path.rsplit("/", 1)[1], content=content)
        contents[path] = content
    return study, contents


def assert_zip_holds(body: bytes, expected: dict[str, bytes]) -> zipfile.ZipFile:
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None  # every entry's CRC-32 checks out
    assert sorted(archive.namelist()) == sorted(expected)
    for info in archive.infolist():
        assert info.compress_type == zipfile.ZIP_STORED
        assert zlib.crc32(expected[info.filename]) == info.CRC
        assert archive.read(info) == expected[info.filename]
    return archive


# --- The whole folder arrives ---------------------------------------------------------------


def test_recipient_gets_the_whole_folder_tree_in_one_zip(owner: User, backend: Backend) -> None:
    study, contents = study_tree(owner)
    finished = Finished()

    entries, left_out = archive_entries_for_folder(study)
    response = archive_response(
        request=get_request(),
        entries=entries,
        archive_name="IRM Dupont",
        on_finished=finished,
    )
    body, stopped = received_until_stopped(response)

    assert stopped is None
    assert left_out == []
    assert [entry.path for entry in entries] == sorted(contents, key=str.casefold)
    assert_zip_holds(body, contents)
    assert int(response["Content-Length"]) == len(body)
    assert finished.calls == [(len(body), True)]


def test_archive_headers_name_the_file_and_forbid_caching(
    owner: User, folder_backend: Backend
) -> None:
    study, _contents = study_tree(owner)
    entries, _left_out = archive_entries_for_folder(study)

    response = archive_response(request=get_request(), entries=entries, archive_name="Étude IRM")
    response_close(response)

    assert response["Content-Type"] == "application/zip"
    # RFC 6266: an ASCII fallback and the exact UTF-8 name.
    assert response["Content-Disposition"] == (
        "attachment; filename=\"Etude IRM.zip\"; filename*=UTF-8''%C3%89tude%20IRM.zip"
    )
    assert response["Cache-Control"] == "private, no-store"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_head_announces_the_size_without_sending_or_counting_a_download(
    owner: User, folder_backend: Backend
) -> None:
    study, _contents = study_tree(owner)
    entries, _left_out = archive_entries_for_folder(study)
    finished = Finished()
    head = archive_response(
        request=get_request("HEAD"), entries=entries, archive_name="IRM", on_finished=finished
    )
    head_body, _stopped = received_until_stopped(head)
    full = archive_response(request=get_request(), entries=entries, archive_name="IRM")
    full_body, _stopped = received_until_stopped(full)

    assert head_body == b""
    assert int(head["Content-Length"]) == len(full_body)
    assert finished.calls == []


def test_a_folder_downloaded_from_its_root_has_no_top_directory(
    owner: User, folder_backend: Backend
) -> None:
    study, contents = study_tree(owner)

    entries, _left_out = archive_entries_for_folder(study, include_folder_name=False)

    assert {entry.path for entry in entries} == {
        path.removeprefix("IRM Dupont/") for path in contents
    }


def test_trashed_files_and_folders_are_not_in_the_archive(
    owner: User, folder_backend: Backend
) -> None:
    study, _contents = study_tree(owner)
    series = Folder.objects.get(name="Série 1")
    services.folder_delete(actor=owner, folder=series)
    report = FileVersion.objects.get(file__name="compte-rendu.pdf").file
    services.file_delete(actor=owner, file=report)

    entries, left_out = archive_entries_for_folder(study)

    assert [entry.path for entry in entries] == ["IRM Dupont/vide.txt"]
    assert left_out == []


# --- What must not be sent ----------------------------------------------------------------


def test_unscanned_and_quarantined_files_are_left_out_and_reported(
    owner: User, folder_backend: Backend
) -> None:
    study, contents = study_tree(owner)
    pending = version_store(
        actor=owner, folder=study, name="en-attente.dcm", content=b"not scanned yet", clean=False
    )
    infected = version_store(
        actor=owner, folder=study, name="virus.exe", content=b"EICAR-ish", clean=False
    )
    services.version_mark_scanned(version=infected, status=ScanStatus.QUARANTINED)

    entries, left_out = archive_entries_for_folder(study)
    body, _stopped = received_until_stopped(
        archive_response(request=get_request(), entries=entries, archive_name="IRM")
    )

    assert {file.name for file in left_out} == {"en-attente.dcm", "virus.exe"}
    assert {file.pk for file in left_out} == {pending.file_id, infected.file_id}
    assert_zip_holds(body, contents)


def test_a_file_quarantined_after_the_listing_is_not_sent(
    owner: User, folder_backend: Backend
) -> None:
    study, contents = study_tree(owner)
    entries, _left_out = archive_entries_for_folder(study)
    rescanned = next(entry.version for entry in entries if entry.path.endswith("axial.dcm"))
    services.version_mark_scanned(version=rescanned, status=ScanStatus.QUARANTINED)

    body, stopped = received_until_stopped(
        archive_response(request=get_request(), entries=entries, archive_name="IRM")
    )

    assert stopped is None
    del contents["IRM Dupont/Série 1/coupes/axial.dcm"]
    assert_zip_holds(body, contents)


def test_a_file_quarantined_while_the_archive_streams_cuts_the_download(
    owner: User, folder_backend: Backend
) -> None:
    study, _contents = study_tree(owner)
    entries, _left_out = archive_entries_for_folder(study)
    last = entries[-1].version  # "IRM Dupont/vide.txt"
    finished = Finished()
    response = archive_response(
        request=get_request(), entries=entries, archive_name="IRM", on_finished=finished
    )
    chunks = chunks_of(response)
    received = bytearray(next(chunks))  # the download has started...
    services.version_mark_scanned(version=last, status=ScanStatus.QUARANTINED)  # ...re-scan

    with pytest.raises(ArchiveEntryUnavailable):
        drain(chunks, into=received)
    response_close(response)

    assert len(received) < int(response["Content-Length"])
    with pytest.raises(zipfile.BadZipFile):  # no central directory: visibly broken
        zipfile.ZipFile(io.BytesIO(bytes(received)))
    assert finished.calls == [(len(received), False)]


def test_a_damaged_blob_mid_archive_aborts_it_and_is_recorded(
    owner: User, backend: Backend
) -> None:
    study, contents = study_tree(owner)
    entries, _left_out = archive_entries_for_folder(study)
    damaged = next(entry.version for entry in entries if entry.path.endswith("image-002.dcm"))
    blob = backend.raw(damaged.blob_key)
    offset = segment_offset(1, SEGMENT) + 5
    backend.replace(
        damaged.blob_key, blob[:offset] + bytes([blob[offset] ^ 1]) + blob[offset + 1 :]
    )
    finished = Finished()

    response = archive_response(
        request=get_request(), entries=entries, archive_name="IRM", on_finished=finished
    )
    received, stopped = received_until_stopped(response)

    assert isinstance(stopped, BlobIntegrityError)
    assert stopped.segment_index == 1
    # Entries before it went out whole; of the damaged one, only its first, good segment.
    assert contents["IRM Dupont/Série 1/coupes/axial.dcm"] in received
    assert contents["IRM Dupont/Série 1/image-002.dcm"][:SEGMENT] in received
    assert contents["IRM Dupont/Série 1/image-002.dcm"][SEGMENT:] not in received
    assert len(received) < int(response["Content-Length"])
    assert finished.calls == [(len(received), False)]
    damaged.refresh_from_db()
    assert damaged.integrity_failed
    event = AuditEvent.objects.get(action=Action.FILES_VERSION_INTEGRITY_FAILURE)
    assert event.target_id == str(damaged.pk)
    assert event.details["during"] == "archive"
    assert event.ip_address == "127.0.0.1"
    assert event.user_agent == BROWSER
    # And it is never offered again.
    _entries, left_out = archive_entries_for_folder(study)
    assert [file.name for file in left_out] == ["image-002.dcm"]


def test_a_data_key_that_no_longer_unwraps_aborts_the_archive_at_that_entry(
    owner: User, folder_backend: Backend
) -> None:
    study, contents = study_tree(owner)
    entries, _left_out = archive_entries_for_folder(study)
    broken = next(entry.version for entry in entries if entry.path.endswith("image-001.dcm"))
    FileVersion.objects.filter(pk=broken.pk).update(wrapped_data_key=b"\x00" * 60)
    finished = Finished()

    response = archive_response(
        request=get_request(), entries=entries, archive_name="IRM", on_finished=finished
    )
    received, stopped = received_until_stopped(response)

    assert stopped is not None
    assert contents["IRM Dupont/Série 1/coupes/axial.dcm"] in received  # before it: sent
    assert len(received) < int(response["Content-Length"])
    assert finished.calls == [(len(received), False)]
    broken.refresh_from_db()
    assert broken.integrity_failed
    event = AuditEvent.objects.get(action=Action.FILES_VERSION_INTEGRITY_FAILURE)
    assert event.target_id == str(broken.pk)
    assert event.details["during"] == "archive"


def test_a_recipient_who_goes_away_stops_the_work_and_is_reported(
    owner: User, folder_backend: Backend
) -> None:
    study, _contents = study_tree(owner)
    entries, _left_out = archive_entries_for_folder(study)
    finished = Finished()
    response = archive_response(
        request=get_request(), entries=entries, archive_name="IRM", on_finished=finished
    )
    chunks = chunks_of(response)
    sent = sum(len(next(chunks)) for _ in range(4))  # inside the 5-segment report
    keys = [entry.version.blob_key for entry in entries]
    assert len(blob_files_open(*keys)) == 1  # the entry being sent

    response_close(response)  # what the WSGI server does when the client disconnects

    assert finished.calls == [(sent, False)]
    assert blob_files_open(*keys) == []


# --- Names ----------------------------------------------------------------------------------


def test_paths_cannot_escape_the_folder_they_are_unzipped_into() -> None:
    assert archive_path_clean("/etc/passwd") == "etc/passwd"
    assert archive_path_clean("../../../.bashrc") == ".bashrc"
    assert archive_path_clean("a\\..\\..\\b.txt") == "a/b.txt"
    assert archive_path_clean("./a//b/./c.") == "a/b/c"
    assert archive_path_clean("re\u202eport\x00.pdf") == "report.pdf"
    assert archive_path_clean("Cafe\u0301.txt") == "Café.txt"  # NFC
    assert archive_path_clean("..") == "file"
    # A folder named “C:” is a drive to some Windows unzip tools; “a.pdf:x” a hidden
    # NTFS stream of “a.pdf”: what Windows refuses in a name becomes “_”.
    assert archive_path_clean("C:/Windows/evil.dll") == "C_/Windows/evil.dll"
    assert archive_path_clean('IRM/a.pdf:x <"1|2"> ?*') == "IRM/a.pdf_x __1_2__ __"


def test_names_that_would_clash_on_a_recipients_disk_are_numbered() -> None:
    assert archive_paths_unique(
        ["IRM/Report.pdf", "IRM/report.pdf", "IRM/REPORT.pdf", "IRM/Café", "IRM/Cafe\u0301"]
    ) == ["IRM/Report.pdf", "IRM/report (2).pdf", "IRM/REPORT (3).pdf", "IRM/Café", "IRM/Café (2)"]
    # A file named like a directory other entries need is renamed, in any order.
    assert archive_paths_unique(["a", "a/x.dcm"]) == ["a (2)", "a/x.dcm"]
    assert archive_paths_unique(["a/x.dcm", "a"]) == ["a/x.dcm", "a (2)"]


def test_clashing_entries_all_arrive_under_distinct_names(
    owner: User, folder_backend: Backend
) -> None:
    root = root_of(owner)
    first = version_store(actor=owner, folder=root, name="scan.dcm", content=b"first")
    other = services.folder_create(actor=owner, parent=root, name="other")
    second = version_store(actor=owner, folder=other, name="SCAN.dcm", content=b"second")
    entries = [
        ArchiveEntry(path="scan.dcm", version=first),
        ArchiveEntry(path="../Scan.dcm", version=second),
    ]

    body, _stopped = received_until_stopped(
        archive_response(request=get_request(), entries=entries, archive_name="mixed")
    )

    assert_zip_holds(body, {"scan.dcm": b"first", "Scan (2).dcm": b"second"})


# --- CRC-32 recorded once ---------------------------------------------------------------


def test_a_version_without_a_crc_gets_it_from_its_first_archive_and_later_ones_reuse_it(
    owner: User, folder_backend: Backend
) -> None:
    """Versions from before the CRC-32 was recorded: the first archive computes it as it
    sends them (a data descriptor after each entry) and records it; the next archive
    copies the decrypted bytes only, with the CRC in the headers, and is shorter."""
    study, contents = study_tree(owner)
    FileVersion.objects.update(plaintext_crc32=None)
    entries, _left_out = archive_entries_for_folder(study)

    first = archive_response(request=get_request(), entries=entries, archive_name="IRM")
    first_body, _stopped = received_until_stopped(first)
    recorded = dict(FileVersion.objects.values_list("file__name", "plaintext_crc32"))
    entries, _left_out = archive_entries_for_folder(study)
    second = archive_response(request=get_request(), entries=entries, archive_name="IRM")
    second_body, _stopped = received_until_stopped(second)

    assert b"PK\x07\x08" in first_body  # data descriptors: the CRCs came after the data
    assert b"PK\x07\x08" not in second_body
    assert_zip_holds(first_body, contents)
    assert_zip_holds(second_body, contents)
    assert int(second["Content-Length"]) == len(second_body) < len(first_body)
    for path, content in contents.items():
        assert recorded[path.rsplit("/", 1)[1]] == zlib.crc32(content)


def test_the_archive_uses_the_recorded_crc_without_recomputing_it(
    owner: User, folder_backend: Backend
) -> None:
    """Proof that the bytes are not hashed again: a wrong recorded CRC-32 (which the
    finalize task never writes) goes into the archive as it is, and zipfile sees it."""
    study, contents = study_tree(owner)
    target = "IRM Dupont/compte-rendu.pdf"
    version = FileVersion.objects.get(file__name="compte-rendu.pdf")
    FileVersion.objects.filter(pk=version.pk).update(
        plaintext_crc32=zlib.crc32(contents[target]) ^ 1
    )
    entries, _left_out = archive_entries_for_folder(study)

    response = archive_response(request=get_request(), entries=entries, archive_name="IRM")
    body, _stopped = received_until_stopped(response)

    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() == target
    assert not archive.getinfo(target).flag_bits & 0x08  # in the header: no data descriptor


# --- ZIP64 ------------------------------------------------------------------------------------


def test_zip64_records_are_readable_by_zipfile(
    owner: User, folder_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The > 4 GiB layout, without 4 GiB: the writer switches to ZIP64 past its limit,
    so a tiny limit makes every entry and the end record ZIP64 (bench/zip.py streams a
    real 5 GiB archive; tests/test_zip_stored.py lays out a real > 4 GiB entry)."""
    monkeypatch.setattr(zip_stored, "ZIP64_LIMIT", 100)
    study, contents = study_tree(owner)
    entries, _left_out = archive_entries_for_folder(study)

    response = archive_response(request=get_request(), entries=entries, archive_name="IRM")
    body, stopped = received_until_stopped(response)

    assert stopped is None
    assert b"PK\x06\x06" in body  # ZIP64 end of central directory record
    assert b"PK\x06\x07" in body  # and its locator
    assert int(response["Content-Length"]) == len(body)
    archive = assert_zip_holds(body, contents)
    big = archive.getinfo("IRM Dupont/compte-rendu.pdf")
    assert big.extract_version >= zipfile.ZIP64_VERSION


def test_an_empty_folder_is_an_empty_but_valid_zip(owner: User, folder_backend: Backend) -> None:
    empty = services.folder_create(actor=owner, parent=root_of(owner), name="vide")
    entries, left_out = archive_entries_for_folder(empty)

    response = archive_response(request=get_request(), entries=entries, archive_name="vide")
    body, _stopped = received_until_stopped(response)

    assert (entries, left_out) == ([], [])
    assert zipfile.ZipFile(io.BytesIO(body)).namelist() == []
    assert int(response["Content-Length"]) == len(body)
