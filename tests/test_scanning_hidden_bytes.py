"""Every byte of a ZIP is scanned, or the ZIP is not released.

A ZIP is scanned member by member as zipfile unpacks it (files/archives.py), so bytes
that zipfile reads past or drops were never shown to clamd, while the archive still
holds them for whoever downloads it: a local header's name and extra field (up to
64 KiB of anything), a "directory" carrying data, a stored entry's data beyond its
size, what follows the end of a deflate stream. Each used to give a clean verdict with
EICAR inside; an entry without a name crashed the scan task instead.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from typing import Any

import pytest
from django.urls import reverse

from accounts.models import User
from files.models import ScanStatus
from tests.files_helpers import root_of
from tests.helpers import client_signed_in
from tests.test_scanning import EICAR, scan_events, upload
from tests.test_scanning_threat_outranks import SIGNATURE, gzip_beyond_clamd_limits

_LOCAL = struct.Struct("<4s5H3I2H")
_CENTRAL = struct.Struct("<4s6H3I5H2I")
_END = struct.Struct("<4s4H2IH")


def handmade_zip(
    name: bytes, data: bytes, *, size: int, crc_of: bytes, method: int = 0, extra: bytes = b""
) -> bytes:
    """One entry written byte by byte: sizes and CRC as an attacker declares them."""
    crc = zlib.crc32(crc_of)
    local = _LOCAL.pack(
        b"PK\x03\x04", 20, 0, method, 0, 0, crc, len(data), size, len(name), len(extra)
    )
    central = _CENTRAL.pack(
        b"PK\x01\x02", 20, 20, 0, method, 0, 0, crc, len(data), size, len(name), 0, 0, 0, 0, 0, 0
    )
    local += name + extra + data
    central += name
    return local + central + _END.pack(b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local), 0)


def deflated(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


def test_a_threat_in_a_local_header_extra_field_is_found_and_named(
    clamd: str, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    extra = struct.pack("<HH", 0xCAFE, len(EICAR)) + EICAR
    archive = handmade_zip(b"lettre.txt", b"Bonjour", size=7, crc_of=b"Bonjour", extra=extra)
    version = upload(
        client_signed_in(owner), root_of(owner), "courrier.zip", archive,
        django_capture_on_commit_callbacks,
    )  # fmt: skip

    assert version.scan_status == ScanStatus.QUARANTINED
    details = scan_events(version)[0].details
    assert (details["signature"], details["member"]) == (SIGNATURE, "(local headers)")


@pytest.mark.parametrize(
    ("archive", "reason"),
    [
        # A directory entry whose data holds the threat: zipfile never unpacked it.
        (handmade_zip(b"photos/", EICAR, size=0, crc_of=b""), "hidden_data"),
        # A stored entry of 7 bytes followed by more data than it declares.
        (handmade_zip(b"a.txt", b"Bonjour" + EICAR, size=7, crc_of=b"Bonjour"), "hidden_data"),
        # A deflate stream followed by raw bytes inside the entry's data.
        (
            handmade_zip(
                b"a.txt", deflated(b"Bonjour") + EICAR, size=7, crc_of=b"Bonjour", method=8
            ),
            "hidden_data",
        ),
        # A deflate stream unpacking to more than its declared size (zipfile cut it).
        (
            handmade_zip(
                b"a.txt",
                deflated(b"Bonjour" + EICAR),
                size=7,
                crc_of=b"Bonjour" + EICAR,
                method=8,
            ),
            "hidden_data",
        ),
    ],
    ids=["directory-with-data", "stored-tail", "after-deflate-end", "deflate-beyond-size"],
)
def test_bytes_zipfile_would_not_unpack_keep_the_archive_blocked(
    clamd: str,
    owner: User,
    teammate: User,
    archive: bytes,
    reason: str,
    django_capture_on_commit_callbacks: Any,
) -> None:
    version = upload(
        client_signed_in(owner), root_of(owner), "export.zip", archive,
        django_capture_on_commit_callbacks,
    )  # fmt: skip

    assert version.scan_status == ScanStatus.BLOCKED
    assert not version.is_downloadable
    assert scan_events(version)[0].details["reason"] == reason
    assert client_signed_in(teammate).get(
        reverse("files:download", args=[version.file_id])
    ).status_code in (403, 404, 409)


@pytest.mark.parametrize("name", [b"", b"\0evil.com"], ids=["empty", "nul-first"])
def test_a_threat_in_an_entry_without_a_name_is_quarantined(
    clamd: str, owner: User, name: bytes, django_capture_on_commit_callbacks: Any
) -> None:
    """zipfile reads such a name as "": the scan crashed (and was retried forever);
    an empty member must never read as "no member holds a threat" either."""
    archive = handmade_zip(name, EICAR, size=len(EICAR), crc_of=EICAR)
    version = upload(
        client_signed_in(owner), root_of(owner), "sans-nom.zip", archive,
        django_capture_on_commit_callbacks,
    )  # fmt: skip

    assert version.scan_status == ScanStatus.QUARANTINED
    assert scan_events(version)[0].details["member"] == "(no name)"


def test_every_compression_zipfile_writes_is_still_available_and_a_nested_problem_blocks(
    clamd: str, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    """No false alarm from the checks above (stored, deflate, bzip2, lzma, empty
    members, directories); and a member clamd could not fully scan inside a nested
    ZIP still blocks the whole archive after more clean outer members than in flight."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for method in (
            zipfile.ZIP_STORED,
            zipfile.ZIP_DEFLATED,
            zipfile.ZIP_BZIP2,
            zipfile.ZIP_LZMA,
        ):
            archive.writestr(zipfile.ZipInfo(f"m{method}.txt"), b"Bonjour " * 5000, method)
            archive.writestr(zipfile.ZipInfo(f"vide{method}.txt"), b"", method)
        archive.mkdir("dossier")
    clean = buffer.getvalue()
    client = client_signed_in(owner)
    version = upload(client, root_of(owner), "ok.zip", clean, django_capture_on_commit_callbacks)
    assert version.scan_status == ScanStatus.AVAILABLE

    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        archive.writestr("serie/export.gz", gzip_beyond_clamd_limits())
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as archive:
        archive.writestr("etude.zip", inner.getvalue())
        for index in range(8):
            archive.writestr(f"IM{index:04d}.txt", b"image %d" % index)
    version = upload(
        client, root_of(owner), "etude.zip", outer.getvalue(), django_capture_on_commit_callbacks
    )
    assert version.scan_status == ScanStatus.BLOCKED
    assert scan_events(version)[0].details["reason"] == "scanner_limit"
