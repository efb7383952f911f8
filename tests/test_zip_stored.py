"""The stored-entry ZIP writer of shared-folder archives (sharing/services/zip_stored.py),
read back by three independent readers: Python's zipfile, Info-ZIP's ``unzip -t`` and
7-Zip's ``7z t``. Known CRC-32s (no data descriptor), unknown ones (data descriptor),
ZIP64 forced on small entries, and a real > 4 GiB entry laid out in a sparse file.

``unzip`` and ``7z`` are Debian packages (unzip, p7zip-full; .ci/run installs them):
without them these tests skip locally and fail under CI=true.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import subprocess
import zipfile
import zlib
from pathlib import Path

import pytest

from sharing.services import zip_stored
from sharing.services.zip_stored import StoredZip, ZipEntrySizeError, ZipMember
from tests.conftest import missing_service

WHEN = dt.datetime(2026, 12, 6, 14, 30, 12)  # noqa: DTZ001  (ZIP dates are wall-clock)


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing_service(f"{name} is not installed (apt-get install unzip p7zip-full)")
    assert path is not None
    return path


def contents() -> dict[str, bytes]:
    return {
        "Étude/compte-rendu.pdf": os.urandom(70_001),
        "Étude/vide.txt": b"",
        "Étude/Série 1/image-001.dcm": os.urandom(4096),
        "Étude/Série 1/coupes/axial.dcm": b"x" * 100_000,
        "日本語.txt": "こんにちは".encode(),
    }


def archive_of(files: dict[str, bytes], *, known_crc: bool) -> tuple[StoredZip, bytes]:
    members = [
        ZipMember(name, len(data), zlib.crc32(data) if known_crc else None, WHEN)
        for name, data in files.items()
    ]
    layout = StoredZip(members)
    # Data in uneven chunks, as decrypted segments and their ends arrive.
    data = ([d[:1000], d[1000:]] if d else [] for d in files.values())
    body = b"".join(layout.stream(data))
    return layout, body


def check_with_every_reader(tmp_path: Path, body: bytes, files: dict[str, bytes]) -> None:
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None
    assert archive.namelist() == list(files)
    for info in archive.infolist():
        assert info.compress_type == zipfile.ZIP_STORED
        assert info.flag_bits & 0x800  # UTF-8 names
        assert info.date_time == (2026, 12, 6, 14, 30, 12)
        assert archive.read(info) == files[info.filename]
    path = tmp_path / "archive.zip"
    path.write_bytes(body)
    unzip = subprocess.run(
        [tool("unzip"), "-t", str(path)], capture_output=True, text=True, check=False
    )
    assert unzip.returncode == 0, unzip.stdout + unzip.stderr
    assert "No errors detected" in unzip.stdout
    seven = subprocess.run(
        [tool("7z"), "t", str(path)], capture_output=True, text=True, check=False
    )
    assert seven.returncode == 0, seven.stdout + seven.stderr
    assert "Everything is Ok" in seven.stdout
    out = tmp_path / "out"
    subprocess.run([tool("unzip"), "-q", str(path), "-d", str(out)], check=True)
    for name, data in files.items():
        assert (out / name).read_bytes() == data


@pytest.mark.parametrize("known_crc", [True, False], ids=["crc-known", "data-descriptor"])
def test_an_archive_reads_back_whole_with_zipfile_unzip_and_7z(
    tmp_path: Path, known_crc: bool
) -> None:
    files = contents()
    layout, body = archive_of(files, known_crc=known_crc)

    assert layout.size == len(body)  # the Content-Length announced up front
    assert (b"PK\x07\x08" in body) is not known_crc  # descriptors only when needed
    assert b"PK\x06\x06" not in body  # small: no ZIP64 end record
    check_with_every_reader(tmp_path, body, files)


@pytest.mark.parametrize("known_crc", [True, False], ids=["crc-known", "data-descriptor"])
def test_zip64_records_forced_on_small_entries_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, known_crc: bool
) -> None:
    """Every size and offset at or past the limit takes the ZIP64 form: with the limit
    at 100 bytes the entries of 0.1 MB, the offsets and the end record all do."""
    monkeypatch.setattr(zip_stored, "ZIP64_LIMIT", 100)
    files = contents()
    layout, body = archive_of(files, known_crc=known_crc)

    assert layout.size == len(body)
    assert b"PK\x06\x06" in body  # ZIP64 end of central directory record
    assert b"PK\x06\x07" in body  # and its locator
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.getinfo("Étude/compte-rendu.pdf").extract_version >= zipfile.ZIP64_VERSION
    check_with_every_reader(tmp_path, body, files)


def test_an_empty_archive_is_valid(tmp_path: Path) -> None:
    layout = StoredZip([])
    body = b"".join(layout.stream([]))
    assert layout.size == len(body) == 22
    assert zipfile.ZipFile(io.BytesIO(body)).namelist() == []


def test_data_longer_or_shorter_than_announced_is_refused() -> None:
    layout = StoredZip([ZipMember("a.txt", 3, None, WHEN)])
    with pytest.raises(ZipEntrySizeError):
        b"".join(layout.stream([[b"abcd"]]))
    with pytest.raises(ZipEntrySizeError):
        b"".join(StoredZip([ZipMember("a.txt", 3, None, WHEN)]).stream([[b"ab"]]))


# --- A real entry past 4 GiB, without writing 4 GiB -------------------------------------


def _gf2_times(matrix: list[int], vector: int) -> int:
    total, row = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[row]
        vector >>= 1
        row += 1
    return total


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, matrix[n]) for n in range(32)]


def crc32_of_zeros(length: int) -> int:
    """zlib.crc32(bytes(length)) in O(log length): zlib's crc32_combine, with CRC(A) of
    the empty string (0) and B all zeros, i.e. the "shift by length zeros" operator
    applied to the pre-/post-conditioning."""
    odd = [0xEDB88320] + [1 << n for n in range(31)]  # operator for one zero bit
    even = _gf2_square(odd)  # two bits
    odd = _gf2_square(even)  # four bits
    crc = 0xFFFFFFFF  # the register after pre-conditioning, before any byte
    while True:  # apply length zero bytes (8 bits each) to the register
        even = _gf2_square(odd)
        if length & 1:
            crc = _gf2_times(even, crc)
        length >>= 1
        if not length:
            break
        odd = _gf2_square(even)
        if length & 1:
            crc = _gf2_times(odd, crc)
        length >>= 1
        if not length:
            break
    return crc ^ 0xFFFFFFFF


def test_crc32_of_zeros_matches_zlib() -> None:
    for length in (0, 1, 7, 1000, 65_537):
        assert crc32_of_zeros(length) == zlib.crc32(bytes(length))


@pytest.mark.parametrize("known_crc", [True, False], ids=["crc-known", "data-descriptor"])
def test_an_entry_past_4_gib_and_one_after_it(tmp_path: Path, known_crc: bool) -> None:
    """A 4 GiB + 10 bytes entry of zeros (a hole in a sparse file: nothing is written)
    followed by a small one whose local header sits past 4 GiB: sizes and offset in
    the ZIP64 extra fields, the ZIP64 end records, read by zipfile, unzip and 7z (the
    small entry is extracted and checked; the big one listed with its size)."""
    big = 4 * 1024**3 + 10
    small = b"apres la limite"
    big_crc = crc32_of_zeros(big)
    layout = StoredZip(
        [
            ZipMember("big.raw", big, big_crc if known_crc else None, WHEN),
            ZipMember("small.txt", len(small), zlib.crc32(small) if known_crc else None, WHEN),
        ]
    )
    path = tmp_path / "big.zip"
    with path.open("wb") as written:
        written.write(layout.local_header(0))
        written.seek(big, os.SEEK_CUR)  # the zeros: a hole
        written.write(layout.data_descriptor(0, big_crc))
        written.write(layout.local_header(1))
        written.write(small)
        written.write(layout.data_descriptor(1, zlib.crc32(small)))
        written.write(layout.central_directory([big_crc, zlib.crc32(small)]))
    assert path.stat().st_size == layout.size

    with zipfile.ZipFile(path) as archive:
        first, second = archive.infolist()
        assert (first.file_size, first.CRC) == (big, big_crc)
        assert second.header_offset > 0xFFFFFFFF
        assert archive.read("small.txt") == small
        with archive.open("big.raw") as entry:  # its data starts where the header says
            assert entry.read(4096) == bytes(4096)
    unzip = subprocess.run(
        [tool("unzip"), "-t", str(path), "small.txt"], capture_output=True, text=True, check=False
    )
    assert unzip.returncode == 0, unzip.stdout + unzip.stderr
    listing = subprocess.run(
        [tool("7z"), "l", "-slt", str(path)], capture_output=True, text=True, check=False
    )
    assert listing.returncode == 0, listing.stdout + listing.stderr
    assert f"Size = {big}" in listing.stdout
    assert "Errors" not in listing.stdout
    out = tmp_path / "out"
    subprocess.run(
        [tool("7z"), "x", f"-o{out}", str(path), "small.txt"], check=True, capture_output=True
    )
    assert (out / "small.txt").read_bytes() == small
