"""A streaming ZIP writer for ``STORED`` entries whose sizes (and usually CRC-32) are
known before the first byte: the layout of sharing/services/archives.py's archives.

Why not zipstream-ng (still used for the privacy export, which deflates): it computes
every entry's CRC-32 itself, byte by byte, and takes no known one. Each version's
CRC-32 is recorded when the finalize task decrypts it (``FileVersion.plaintext_crc32``),
so an archive of scanned versions only needs to copy decrypted segments: the CRC-32 was
0.26 CPU s/GiB, as much again as the decryption (bench/README.md, issue #18).

The format (PKWARE APPNOTE 6.3.10), kept to what is needed:

* a **local file header** per entry with its CRC-32 and sizes (4.3.7), the UTF-8 name
  flag (bit 11) and the version's date in MS-DOS form; no compression (method 0);
* an entry whose CRC-32 is not known yet (a version from before the field existed)
  sets bit 3 and is followed by a **data descriptor** (4.3.9) with the CRC-32 computed
  while it streams; its sizes are still known, so the archive's length is too;
* **ZIP64** (4.5.3) where a 32-bit field would overflow: an entry of 4 GiB or more has
  the extra field (both sizes) in its local header and an 8-byte data descriptor; in
  the central directory the extra field holds exactly the fields set to 0xFFFFFFFF
  (sizes, local header offset), in the APPNOTE's order; the ZIP64 end of central
  directory record and its locator are written when the entry count, the directory's
  size or its offset overflow the end record;
* a **central directory** entry per entry (made by Unix, regular file 0644), then the
  end records. No archive comment, no directory entries (unzip tools make the folders).

``ZIP64_LIMIT`` is a module attribute so that tests can make every record ZIP64 with
small entries; production uses the format's own limit.

Nothing here touches Django or the database: the caller provides names, sizes, CRCs and
the plaintext, and gets bytes.
"""

from __future__ import annotations

import datetime as dt
import struct
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

ZIP64_LIMIT = 0xFFFFFFFF  # a size or offset at or past this needs ZIP64
ZIP_FILECOUNT_LIMIT = 0xFFFF
_MAX_32 = 0xFFFFFFFF
_MAX_16 = 0xFFFF

_LOCAL = struct.Struct("<4s5H3L2H")  # 30 bytes
_CENTRAL = struct.Struct("<4s6H3L5H2L")  # 46 bytes
_END = struct.Struct("<4s4H2LH")  # 22 bytes
_END64 = struct.Struct("<4sQ2H2L4Q")  # 56 bytes
_END64_LOCATOR = struct.Struct("<4sLQL")  # 20 bytes
_DESCRIPTOR = struct.Struct("<4s3L")  # 16 bytes
_DESCRIPTOR64 = struct.Struct("<4sL2Q")  # 24 bytes
_EXTRA_HEADER = struct.Struct("<2H")

_LOCAL_SIGNATURE = b"PK\x03\x04"
_CENTRAL_SIGNATURE = b"PK\x01\x02"
_END_SIGNATURE = b"PK\x05\x06"
_END64_SIGNATURE = b"PK\x06\x06"
_END64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_DESCRIPTOR_SIGNATURE = b"PK\x07\x08"
_ZIP64_EXTRA_ID = 0x0001

_FLAG_DESCRIPTOR = 0x0008  # bit 3: CRC-32 and sizes follow the data
_FLAG_UTF8 = 0x0800  # bit 11: the name is UTF-8
_VERSION_DEFAULT = 20  # 2.0: folders, stored entries
_VERSION_ZIP64 = 45  # 4.5: ZIP64
_MADE_BY_UNIX = 3 << 8
_REGULAR_FILE_0644 = (0o100644 << 16) & _MAX_32


class ZipEntrySizeError(Exception):
    """An entry's data was not the size announced (the archive's length is wrong)."""


def dos_date_time(when: dt.datetime) -> tuple[int, int]:
    """(time, date) in MS-DOS form, the only date every ZIP reader knows: two-second
    precision, clamped to the years it can hold (1980..2107)."""
    if when.year < 1980:
        return 0, (1 << 5) | 1  # 1980-01-01 00:00:00
    if when.year > 2107:
        return (23 << 11) | (59 << 5) | 29, (127 << 9) | (12 << 5) | 31
    time = (when.hour << 11) | (when.minute << 5) | (when.second // 2)
    date = ((when.year - 1980) << 9) | (when.month << 5) | when.day
    return time, date


@dataclass(frozen=True)
class ZipMember:
    name: str  # the path inside the archive, already safe (archives.archive_path_clean)
    size: int
    crc32: int | None  # None: computed while streaming, written in a data descriptor
    modified: dt.datetime  # local wall-clock time, as ZIP readers show it


@dataclass
class _Placed:
    member: ZipMember
    name: bytes
    offset: int  # of its local header
    zip64_local: bool  # ZIP64 extra field in the local header (size >= limit)
    header: bytes = field(repr=False, default=b"")


class StoredZip:
    """The layout of one archive: every record's bytes and the total length, known
    before the first byte is sent (the ``Content-Length``).

    Send, in order: for each entry ``local_header(i)``, its ``size`` bytes of data,
    then ``data_descriptor(i, crc)`` (empty when the CRC-32 was known); finally
    ``central_directory(crcs)``. ``stream`` does exactly that from data iterables.
    """

    def __init__(self, members: Sequence[ZipMember]) -> None:
        limit = ZIP64_LIMIT
        self._limit = limit
        self._placed: list[_Placed] = []
        offset = 0
        for member in members:
            if member.size < 0:
                raise ValueError("an entry cannot have a negative size")
            name = member.name.encode("utf-8")
            if len(name) > _MAX_16:
                raise ValueError("an entry name is longer than 65535 bytes")
            placed = _Placed(member, name, offset, zip64_local=member.size >= limit)
            placed.header = self._local_header(placed)
            self._placed.append(placed)
            offset += len(placed.header) + member.size + self._descriptor_size(placed)
        self._directory_offset = offset
        self._directory_size = sum(
            46 + len(p.name) + self._central_extra_size(p) for p in self._placed
        )
        self.size = offset + self._directory_size + len(self._end(0, 0))

    @property
    def members(self) -> list[ZipMember]:
        return [placed.member for placed in self._placed]

    # --- Local records -----------------------------------------------------------------

    def _flags(self, placed: _Placed) -> int:
        return _FLAG_UTF8 | (_FLAG_DESCRIPTOR if placed.member.crc32 is None else 0)

    def _version_needed(self, zip64: bool) -> int:
        return _VERSION_ZIP64 if zip64 else _VERSION_DEFAULT

    def _local_header(self, placed: _Placed) -> bytes:
        member = placed.member
        time, date = dos_date_time(member.modified)
        known = member.crc32 is not None
        crc = member.crc32 if member.crc32 is not None else 0
        extra = b""
        if placed.zip64_local:
            # Both sizes, always (4.5.3); zero when a data descriptor carries them.
            size = member.size if known else 0
            extra = _EXTRA_HEADER.pack(_ZIP64_EXTRA_ID, 16) + struct.pack("<2Q", size, size)
            size32 = _MAX_32
        else:
            size32 = member.size if known else 0
        return (
            _LOCAL.pack(
                _LOCAL_SIGNATURE,
                self._version_needed(placed.zip64_local),
                self._flags(placed),
                0,  # stored
                time,
                date,
                crc,
                size32,
                size32,
                len(placed.name),
                len(extra),
            )
            + placed.name
            + extra
        )

    def _descriptor_size(self, placed: _Placed) -> int:
        if placed.member.crc32 is not None:
            return 0
        return _DESCRIPTOR64.size if placed.zip64_local else _DESCRIPTOR.size

    def local_header(self, index: int) -> bytes:
        return self._placed[index].header

    def data_descriptor(self, index: int, crc32: int) -> bytes:
        """After the data of an entry whose CRC-32 was not known (else ``b""``)."""
        placed = self._placed[index]
        if placed.member.crc32 is not None:
            return b""
        size = placed.member.size
        if placed.zip64_local:
            return _DESCRIPTOR64.pack(_DESCRIPTOR_SIGNATURE, crc32, size, size)
        return _DESCRIPTOR.pack(_DESCRIPTOR_SIGNATURE, crc32, size, size)

    # --- Central directory and end ---------------------------------------------------

    def _central_zip64_fields(self, placed: _Placed) -> list[int]:
        fields = []
        if placed.member.size >= self._limit:
            fields += [placed.member.size, placed.member.size]  # uncompressed, compressed
        if placed.offset >= self._limit:
            fields.append(placed.offset)
        return fields

    def _central_extra_size(self, placed: _Placed) -> int:
        fields = self._central_zip64_fields(placed)
        return _EXTRA_HEADER.size + 8 * len(fields) if fields else 0

    def _central_entry(self, placed: _Placed, crc32: int) -> bytes:
        member = placed.member
        fields = self._central_zip64_fields(placed)
        extra = b""
        if fields:
            extra = _EXTRA_HEADER.pack(_ZIP64_EXTRA_ID, 8 * len(fields)) + struct.pack(
                f"<{len(fields)}Q", *fields
            )
        zip64 = bool(fields) or placed.zip64_local
        size32 = _MAX_32 if member.size >= self._limit else member.size
        offset32 = _MAX_32 if placed.offset >= self._limit else placed.offset
        time, date = dos_date_time(member.modified)
        version = self._version_needed(zip64)
        return (
            _CENTRAL.pack(
                _CENTRAL_SIGNATURE,
                _MADE_BY_UNIX | version,
                version,
                self._flags(placed),
                0,  # stored
                time,
                date,
                crc32,
                size32,
                size32,
                len(placed.name),
                len(extra),
                0,  # no comment
                0,  # disk number
                0,  # internal attributes
                _REGULAR_FILE_0644,
                offset32,
            )
            + placed.name
            + extra
        )

    def _end(self, directory_offset: int, directory_size: int) -> bytes:
        count = len(self._placed)
        limit = self._limit
        zip64 = (
            count >= min(ZIP_FILECOUNT_LIMIT, limit)
            or self._directory_offset >= limit
            or self._directory_size >= limit
        )
        records = b""
        if zip64:
            end64_offset = directory_offset + directory_size
            records = _END64.pack(
                _END64_SIGNATURE,
                _END64.size - 12,  # size of the rest of the record
                _MADE_BY_UNIX | _VERSION_ZIP64,
                _VERSION_ZIP64,
                0,
                0,
                count,
                count,
                directory_size,
                directory_offset,
            ) + _END64_LOCATOR.pack(_END64_LOCATOR_SIGNATURE, 0, end64_offset, 1)
            # The end record says "look at the ZIP64 record" (4.4.1.4).
            count16, size32, offset32 = _MAX_16, _MAX_32, _MAX_32
        else:
            count16, size32, offset32 = count, directory_size, directory_offset
        return records + _END.pack(_END_SIGNATURE, 0, 0, count16, count16, size32, offset32, 0)

    def central_directory(self, crcs: Sequence[int]) -> bytes:
        """The central directory and end records, given every entry's CRC-32."""
        if len(crcs) != len(self._placed):
            raise ValueError("one CRC-32 per entry")
        directory = b"".join(
            self._central_entry(placed, crc) for placed, crc in zip(self._placed, crcs, strict=True)
        )
        return directory + self._end(self._directory_offset, len(directory))

    # --- Streaming ---------------------------------------------------------------------

    def stream(self, data: Iterable[Iterable[bytes]]) -> Iterator[bytes]:
        """The whole archive, from each entry's data (in order), checking each size.

        For tests and simple callers; archives.py interleaves its own database work.
        """
        crcs = []
        for index, chunks in enumerate(data):
            member = self._placed[index].member
            yield self.local_header(index)
            crc, sent = 0, 0
            for chunk in chunks:
                if member.crc32 is None:
                    crc = zlib.crc32(chunk, crc)
                sent += len(chunk)
                if sent > member.size:
                    raise ZipEntrySizeError(member.name)
                yield chunk
            if sent != member.size:
                raise ZipEntrySizeError(member.name)
            yield self.data_descriptor(index, crc)
            crcs.append(crc if member.crc32 is None else member.crc32)
        if len(crcs) != len(self._placed):
            raise ValueError("data for every entry is needed")
        yield self.central_directory(crcs)
