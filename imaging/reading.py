"""Reading DICOM headers from a version's decrypting stream: no plaintext on disk.

A version's plaintext is read through ``files.scanning.PlaintextReader``: seekable,
decrypting and authenticating one segment at a time, so pydicom's ``dcmread`` with
``stop_before_pixels`` touches only the segments holding the header (a few KiB of a
500 KiB slice) and a ZIP is read member by member (its central directory, then each
member's first bytes). Only Part 10 files (preamble and "DICM") are recognised: bytes
without the preamble are too easily mistaken, and PS3.10 is what media and PACS exports
write. A DICOMDIR is recognised and counted, not indexed: its instances are files of
their own, indexed as they arrive, whatever folder they land in.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import math
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, BinaryIO, cast

from django.conf import settings

from files.blobs import version_content
from files.crypto import BlobIntegrityError
from files.models import FileVersion
from files.scanning import PlaintextReader
from imaging.models import IndexKind

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
PREAMBLE = 128
MAGIC = b"DICM"
ZIP_MAGIC = b"PK\x03\x04"
# pydicom keeps values larger than this unread (a byte offset instead): an embedded
# PDF or a huge private blob in the header costs nothing.
DEFER_SIZE = "16 KB"
# pydicom inflates a Deflated Explicit VR Little Endian data set whole, in memory, before
# reading a byte of it (deflate shrinks zeros ~1000 times: 200 KB became 200 MB, a few
# MB gigabytes). A header read inflates this much of it, by ``deflated_as_explicit``.
DEFLATED_HEADER_BYTES = 16 * 1024 * 1024
# The most of a file a header read takes in (values over DEFER_SIZE are skipped, not
# read). Each item of an undefined-length sequence is 16 bytes of file and a Python
# dataset of ~700 bytes: without a bound, a 500 MB upload held the index worker's memory
# (measured: 8 MB of empty items, 336 MB). 8 MiB: at worst ~350 MB, once; an enhanced
# multi-frame's per-frame groups of a few thousand frames stay well under it.
HEADER_MAX_BYTES = 8 * 1024 * 1024
# Member names kept in a version's index problem text: enough to act on, bounded.
PROBLEMS_KEPT = 20


# What pydicom raises on a malformed header (truncated, wrong lengths, bad VRs).
def parse_errors() -> tuple[type[Exception], ...]:
    """What reading a damaged or non-DICOM file raises. pydicom is imported here, not at
    load time: its dictionaries cost ~60 MiB, and a web worker that never reads DICOM
    must stay small (peak RSS under 150 MiB, tests/test_files_large.py).

    pydicom reads sequences recursively: one nested a few thousand deep (20 bytes a
    level, valid DICOM) raises RecursionError; a value whose length does not fit its VR
    raises BytesLengthException (neither a ValueError) when converted."""
    from pydicom.errors import BytesLengthException, InvalidDicomError

    return (
        HeaderTooLargeError,
        InvalidDicomError,
        zlib.error,
        BytesLengthException,
        RecursionError,
        ValueError,
        KeyError,
        EOFError,
        OSError,
        TypeError,
    )


@dataclass
class Header:
    """The facts the index keeps about one instance."""

    member: str
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    sop_class_uid: str = ""
    transfer_syntax_uid: str = ""
    patient_name: str = ""
    patient_id: str = ""
    patient_birth_date: dt.date | None = None
    study_date: dt.date | None = None
    study_description: str = ""
    accession_number: str = ""
    series_number: int | None = None
    modality: str = ""
    series_description: str = ""
    body_part: str = ""
    instance_number: int | None = None
    slice_location: float | None = None
    burned_in_annotation: str = ""


@dataclass
class Reading:
    kind: IndexKind
    headers: list[Header] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0

    def problem(self, text: str) -> None:
        self.problem_count += 1
        if len(self.problems) < PROBLEMS_KEPT:
            self.problems.append(text)


def dicom_date(value: object) -> dt.date | None:
    text = str(value or "").strip()[:8]
    try:
        return dt.datetime.strptime(text, "%Y%m%d").date()  # noqa: DTZ007 (a date)
    except ValueError:
        return None


def _text(ds: Dataset, keyword: str, limit: int) -> str:
    value = ds.get(keyword, "")
    if value is None:
        return ""
    return str(value).replace("\x00", "").strip()[:limit]


# The index's integer columns (PostgreSQL integer). An IS may hold 12 characters,
# "999999999999": such a number is left out, not the instance (nor its whole ZIP).
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


def _number(ds: Dataset, keyword: str, kind: Callable[[Any], Any]) -> Any:
    try:
        value = ds.get(keyword)
        number = None if value in (None, "") else kind(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if isinstance(number, int) and not INT_MIN <= number <= INT_MAX:
        return None
    if isinstance(number, float) and not math.isfinite(number):
        return None
    return number


def header_from_dataset(ds: Dataset, *, member: str = "") -> Header | None:
    """The index facts of one dataset; None without the three UIDs that place it."""
    study = _text(ds, "StudyInstanceUID", 64)
    series = _text(ds, "SeriesInstanceUID", 64)
    sop = _text(ds, "SOPInstanceUID", 64)
    if not (study and series and sop):
        return None
    meta = getattr(ds, "file_meta", None)
    return Header(
        member=member,
        study_instance_uid=study,
        series_instance_uid=series,
        sop_instance_uid=sop,
        sop_class_uid=_text(ds, "SOPClassUID", 64),
        transfer_syntax_uid=str(getattr(meta, "TransferSyntaxUID", "") or "")[:64],
        patient_name=_text(ds, "PatientName", 324),
        patient_id=_text(ds, "PatientID", 64),
        patient_birth_date=dicom_date(ds.get("PatientBirthDate")),
        study_date=dicom_date(ds.get("StudyDate")),
        study_description=_text(ds, "StudyDescription", 255),
        accession_number=_text(ds, "AccessionNumber", 64),
        series_number=_number(ds, "SeriesNumber", int),
        modality=_text(ds, "Modality", 16).upper(),
        series_description=_text(ds, "SeriesDescription", 255),
        body_part=_text(ds, "BodyPartExamined", 64),
        instance_number=_number(ds, "InstanceNumber", int),
        slice_location=_number(ds, "SliceLocation", float),
        burned_in_annotation=_text(ds, "BurnedInAnnotation", 3).upper(),
    )


class _PlaintextStream(io.BufferedReader):
    """Buffered plaintext; pydicom asks a stream for its ``name``, which no file has."""

    name = ""


@contextmanager
def version_plaintext(version: FileVersion) -> Iterator[io.BufferedReader]:
    """A seekable, buffered view of the version's plaintext, decrypted as read.

    Raises ``BlobIntegrityError`` (a destroyed key, a tampered segment) like any read.
    """
    content = version_content(version)  # its own blob, or the one it shares
    if content.wrapped_data_key is None:
        raise BlobIntegrityError(None, "the data key was destroyed")
    data_key = content.data_key()
    reader = content.reader()
    try:
        decryptor = content.decryptor(data_key, reader)
        yield _PlaintextStream(PlaintextReader(decryptor), buffer_size=1 << 16)
    finally:
        reader.close()


def deflated_as_explicit(stream: BinaryIO, *, limit: int) -> tuple[BinaryIO, bool] | None:
    """A Part 10 file in Deflated Explicit VR Little Endian as the same file in Explicit
    VR Little Endian holding at most ``limit`` bytes of its inflated data set, and
    whether that is all of it. None for any other transfer syntax (``stream`` is then
    back where it was). Memory: ``limit``, whatever the ratio."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filereader import _read_file_meta_info, read_preamble
    from pydicom.filewriter import write_file_meta_info
    from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian

    start = stream.tell()
    preamble = read_preamble(stream, False)
    meta = _read_file_meta_info(stream)
    if meta.get("TransferSyntaxUID") != DeflatedExplicitVRLittleEndian:
        stream.seek(start)
        return None
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    inflated = bytearray()
    while len(inflated) <= limit and not inflater.eof:
        pending = inflater.unconsumed_tail or stream.read(1 << 16)
        if not pending:
            break
        inflated += inflater.decompress(pending, limit + 1 - len(inflated))
    complete = len(inflated) <= limit
    del inflated[limit:]
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out = DicomBytesIO()
    out.write((preamble or bytes(PREAMBLE)) + MAGIC)
    write_file_meta_info(out, meta, enforce_standard=False)
    out.write(inflated)
    out.seek(0)
    return cast(BinaryIO, out), complete


class HeaderTooLargeError(ValueError):
    """A header read took in more than ``HEADER_MAX_BYTES`` of the file."""


class _ReadBudget:
    """What pydicom reads through: the stream's read, seek and tell, refusing to hand out
    more than ``limit`` bytes in all (values pydicom defers are seeked over: not counted).
    With ``small``, only reads shorter than that count: element and item headers, short
    values, i.e. what becomes Python objects; a long value (pixels) is one read."""

    name = ""

    def __init__(self, stream: IO[bytes], limit: int, *, small: int | None = None) -> None:
        self._stream, self._limit, self._read, self._small = stream, limit, 0, small
        self.exceeded = False  # pydicom turns errors inside a sequence into OSError

    def read(self, size: int | None = -1) -> bytes:
        if self._small is not None and size is not None and size >= self._small:
            return self._stream.read(size)
        room = self._limit - self._read + 1
        data = self._stream.read(room if size is None or size < 0 or size > room else size)
        self._read += len(data)
        if self._read > self._limit:
            self.exceeded = True
            raise HeaderTooLargeError(f"a header beyond {self._limit} bytes")
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        return self._stream.tell()


def dataset_read_whole(stream: BinaryIO) -> Dataset:
    """A whole Part 10 file, pixels included, its small reads bounded as a header read's
    (``HEADER_MAX_BYTES``): millions of empty items after the pixel data, which the
    index never reads, are ``HeaderTooLargeError`` here too."""
    from pydicom import dcmread

    budget = _ReadBudget(stream, HEADER_MAX_BYTES, small=64 * 1024)
    try:
        return dcmread(cast(BinaryIO, budget))
    except parse_errors() as error:
        if budget.exceeded:
            raise HeaderTooLargeError(f"more than {HEADER_MAX_BYTES} bytes of headers") from error
        raise


def _dataset_read(stream: IO[bytes]) -> Dataset:
    from pydicom import dcmread
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    deflated = deflated_as_explicit(cast(BinaryIO, stream), limit=DEFLATED_HEADER_BYTES)
    budget = _ReadBudget(deflated[0] if deflated else stream, HEADER_MAX_BYTES)
    try:
        ds = dcmread(cast(BinaryIO, budget), stop_before_pixels=True, defer_size=DEFER_SIZE)
    except parse_errors() as error:
        if budget.exceeded:
            raise HeaderTooLargeError(f"a header beyond {HEADER_MAX_BYTES} bytes") from error
        raise
    if deflated is None:
        return ds
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian  # as stored
    return ds


def _is_dicomdir(ds: Dataset) -> bool:
    meta = getattr(ds, "file_meta", None)
    return str(getattr(meta, "MediaStorageSOPClassUID", "")) == MEDIA_STORAGE_DIRECTORY


def _zip_read(stream: IO[bytes], reading: Reading) -> None:
    limit = int(settings.IMAGING_ZIP_MAX_MEMBERS)
    with zipfile.ZipFile(stream) as archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        if len(members) > limit:
            reading.problem(f"more than {limit} members: not indexed")
            return
        # Two members may share one name; reading by name (the viewer, a de-identified
        # copy) always opens the last: a row read from the first would serve another
        # instance's bytes, perhaps another patient's. Neither is indexed.
        names = Counter(info.filename for info in members)
        member_failures: tuple[type[Exception], ...] = (
            *parse_errors(),
            zipfile.BadZipFile,
            NotImplementedError,
        )
        for info in members:
            if info.file_size < PREAMBLE + len(MAGIC):
                continue
            if names[info.filename] > 1:
                reading.problem(f"{info.filename}: several members have this name")
                continue
            try:
                with archive.open(info) as member:
                    if member.read(PREAMBLE + len(MAGIC))[PREAMBLE:] != MAGIC:
                        continue  # a README, a viewer program on a CD: not ours
                    member.seek(0)
                    ds = _dataset_read(member)
                    if _is_dicomdir(ds):
                        continue
                    header = header_from_dataset(ds, member=info.filename)
            except member_failures as error:
                reading.problem(f"{info.filename}: {type(error).__name__}")
                continue
            if header is None:
                reading.problem(f"{info.filename}: no study, series or instance UID")
                continue
            reading.headers.append(header)


def version_headers_read(version: FileVersion) -> Reading:
    """What ``version`` holds, read from its decrypting stream. Integrity errors raise."""
    with version_plaintext(version) as stream:
        head = stream.peek(PREAMBLE + len(MAGIC))[: PREAMBLE + len(MAGIC)]
        if head[:4] == ZIP_MAGIC:
            reading = Reading(kind=IndexKind.ZIP)
            try:
                _zip_read(stream, reading)
            except (zipfile.BadZipFile, OSError, EOFError) as error:
                return Reading(kind=IndexKind.UNREADABLE, problems=[type(error).__name__])
            if not reading.headers:
                reading.kind = IndexKind.NOT_DICOM
            return reading
        if head[PREAMBLE:] != MAGIC:
            return Reading(kind=IndexKind.NOT_DICOM)
        try:
            ds = _dataset_read(stream)
            if _is_dicomdir(ds):
                return Reading(kind=IndexKind.DICOMDIR)
            header = header_from_dataset(ds)
        except parse_errors() as error:
            return Reading(kind=IndexKind.UNREADABLE, problems=[type(error).__name__])
        if header is None:
            return Reading(kind=IndexKind.UNREADABLE, problems=["no study, series or instance UID"])
        return Reading(kind=IndexKind.PART10, headers=[header])


def instance_bytes(version: FileVersion, member: str) -> Generator[bytes, None, None]:
    """The plaintext of one instance, in chunks: the whole version, or one ZIP member."""
    chunk = 256 * 1024
    with version_plaintext(version) as stream:
        if not member:
            while piece := stream.read(chunk):
                yield piece
            return
        with zipfile.ZipFile(stream) as archive, archive.open(member) as opened:
            while piece := opened.read(chunk):
                yield piece


class ZipMembers:
    """Members of study ZIPs read one after another, each ZIP opened once: its
    decrypting reader and central directory stay open while its members are asked for
    in turn (``instance_bytes`` opens both for every member: 1,500 members of one ZIP
    parsed its 1,500-entry directory 1,500 times). Close it (``contextlib.closing``)."""

    def __init__(self) -> None:
        self._version_id: object = None
        self._opened: contextlib.ExitStack | None = None
        self._archive: zipfile.ZipFile | None = None

    def chunks(self, version: FileVersion, member: str) -> Generator[bytes, None, None]:
        if not member:
            yield from instance_bytes(version, member)
            return
        if self._archive is None or self._version_id != version.pk:
            self.close()
            self._opened = contextlib.ExitStack()
            stream = self._opened.enter_context(version_plaintext(version))
            self._archive = self._opened.enter_context(zipfile.ZipFile(stream))
            self._version_id = version.pk
        with self._archive.open(member) as opened:
            while piece := opened.read(256 * 1024):
                yield piece

    def close(self) -> None:
        if self._opened is not None:
            self._opened.close()
        self._opened, self._archive, self._version_id = None, None, None
