"""Streaming ZIP downloads of several files: a shared folder, a transfer (docs/sharing-archives.md).

* **Constant memory, any size.** The archive is produced while it is sent, by the
  stored-entry writer ``sharing.services.zip_stored``, one decrypted segment at a
  time: nothing is staged on disk (no plaintext at rest) or held whole in memory.
  Entries are ``ZIP_STORED``: medical images (DICOM, JPEG 2000, video) are already
  compressed, and deflating gigabytes would cost a CPU
  core for a few percent. ZIP64 records are written for entries and offsets past 4 GiB
  (APPNOTE 6.3.x §4.5.3), which every current unzip tool reads.
* **Known size.** Every entry's plaintext size is on its version row, and stored
  entries add a computable overhead, so the response carries ``Content-Length``: the
  browser shows progress and a cut transfer is visible as one (fewer bytes than
  announced).
* **Nothing unauthenticated, nothing unscanned.** Each entry is decrypted segment by
  segment through ``files.crypto.BlobDecryptor``, a segment sent only after its GCM tag
  verified. Versions are re-read from the database when the response is built (one
  not downloadable any more is left out) and again just before each entry is
  streamed (one quarantined by a re-scan, shredded by a purge or flagged by the
  scrubber meanwhile aborts the stream: its size is already announced). An integrity
  failure in the middle of the archive flags the version and is audited as a single
  download's would be, then aborts the connection: the client sees a broken download,
  never a well-formed ZIP with a hole in it.
* **Safe names.** Entry paths come from names that ``files.names.name_clean`` already
  checked; they are normalised again here (NFKC, no empty, ``.`` or ``..`` components,
  no leading ``/``, no backslashes or control characters) and made unique the way
  case-insensitive file systems compare them (Windows, macOS): a clash gets
  ``name (2).ext``.
* **CRC-32 once.** Each version's CRC-32 is recorded by the finalize task
  (``FileVersion.plaintext_crc32``) and written in the entry's local header: the archive
  only copies decrypted bytes. A version from before the field has its CRC-32 computed
  as it streams (sent in a data descriptor) and recorded for the next archive.
* **Decryption overlaps sending.** For an entry of three segments or more, a helper
  thread reads and decrypts the next segments (``files.ahead``) while the request
  thread sends one; everything else (re-reading a version, recording an integrity
  failure or a CRC-32, laying out records) runs in the request thread (issue #18).
* **Audit belongs to the caller**, who knows who is downloading (a link recipient, a
  transfer recipient, a signed-in person): ``on_finished(bytes_sent, completed)`` is
  called once, when the archive was sent whole or when the stream stopped early.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone

from accounts import tokens
from accounts.models import User
from audit.context import RequestContext, context_from_request
from files import services
from files.ahead import segments_ahead
from files.blobs import VersionContent, version_content
from files.crypto import BlobIntegrityError
from files.downloads import AccessRecheck, StreamRecheck, content_disposition
from files.envelope import EnvelopeError
from files.models import File, FileVersion, Folder
from files.names import name_key, name_variant, path_components
from files.storage import BlobMissingError, BlobReader
from sharing.services.zip_stored import StoredZip, ZipEntrySizeError, ZipMember

logger = logging.getLogger(__name__)

ARCHIVE_CONTENT_TYPE = "application/zip"


@dataclass(frozen=True)
class ArchiveEntry:
    path: str  # path inside the archive ("folder/sub/file.pdf"), already cleaned
    version: FileVersion  # a version the caller has checked the recipient may read


class ArchiveEntryUnavailable(Exception):
    """An entry stopped being downloadable after the response started: the stream is
    aborted rather than sent without it (its size is already in Content-Length)."""


# --- Paths ------------------------------------------------------------------------------


_WINDOWS_FORBIDDEN = str.maketrans(dict.fromkeys('<>:"|?*', "_"))


def archive_path_clean(path: str) -> str:
    """``path`` as a relative, portable ZIP entry name.

    Names reaching here passed ``files.names.name_clean``; this is the second wall
    against path traversal in an unzip tool ("zip slip"): an absolute path, ``..`` or
    a backslash (a separator on Windows) never survives, whatever the caller passed,
    nor one that folding would make (fullwidth ``../``, NFKC): the name is folded first.
    """
    parts = []
    for raw in path_components(path):
        # Characters Windows refuses in a name, which names here may hold: a first
        # component "C:" reads as a drive to some Windows unzip tools (an absolute path
        # out of the target folder, zip slip), "report.pdf:x" as an NTFS alternate
        # data stream of "report.pdf".
        raw = raw.translate(_WINDOWS_FORBIDDEN)
        # Windows drops trailing dots and spaces, which would turn "a." into "a".
        part = raw.strip().rstrip(" .")
        if part in {"", ".", ".."}:
            continue
        parts.append(part)
    return "/".join(parts) or "file"


def _directories_of(path: str) -> Iterator[str]:
    head = path
    while "/" in head:
        head = head.rpartition("/")[0]
        yield head


def archive_paths_unique(paths: list[str]) -> list[str]:
    """Cleaned ``paths``, with a clash renamed ``name (2).ext`` (``(3)``, ...).

    Two entries clash when they differ only by case or Unicode form (one file on
    Windows or macOS), or when a file has the name of a directory another entry needs
    (``a`` and ``a/x``): the file is renamed, directories never are, so the outcome does
    not depend on the order of the entries.
    """
    cleaned = [archive_path_clean(path) for path in paths]
    directories = {name_key(directory) for path in cleaned for directory in _directories_of(path)}
    taken: set[str] = set()
    unique = []
    for path in cleaned:
        head, slash, last = path.rpartition("/")
        candidate, number = path, 1
        while name_key(candidate) in taken or name_key(candidate) in directories:
            number += 1
            candidate = f"{head}{slash}{name_variant(last, number)}"
        taken.add(name_key(candidate))
        unique.append(candidate)
    return unique


# --- What goes in -------------------------------------------------------------------------


def folder_files_located(
    folder: Folder, *, include_folder_name: bool = True
) -> list[tuple[str, File]]:
    """The live files under ``folder`` (its whole tree), each with its path, sorted.

    Paths start with the folder's own name (``Study/series 1/img.dcm``), unless
    ``include_folder_name`` is false or the folder is a space's root.
    """
    top = folder.name if include_folder_name and not folder.is_root else ""
    folder_paths: dict[int, str] = {folder.pk: top}
    frontier = [folder.pk]
    while frontier:
        children = Folder.objects.filter(
            parent_id__in=frontier, deleted_at__isnull=True, purged_at__isnull=True
        ).values_list("pk", "parent_id", "name")
        frontier = []
        for pk, parent_id, name in children:
            assert parent_id is not None  # noqa: S101  (a child has a parent)
            parent_path = folder_paths[parent_id]
            folder_paths[pk] = f"{parent_path}/{name}" if parent_path else name
            frontier.append(pk)

    files = File.objects.filter(
        folder_id__in=list(folder_paths), deleted_at__isnull=True, purged_at__isnull=True
    ).select_related("current_version")
    located = [(f"{folder_paths[file.folder_id]}/{file.name}".lstrip("/"), file) for file in files]
    located.sort(key=lambda pair: (name_key(pair[0]), pair[1].pk))
    return located


def archive_entries_for_folder(
    folder: Folder, *, include_folder_name: bool = True
) -> tuple[list[ArchiveEntry], list[File]]:
    """The live files under ``folder`` with their current versions, as archive entries.

    Returns (entries, left out): a file whose current version may not be downloaded now
    (waiting for or failed by the virus scanner, quarantined, failed an integrity check,
    no content yet) is left out of the archive and returned in the second list, for the
    caller to show. Paths as ``folder_files_located``; entries are sorted by path. The
    caller has checked the recipient may read ``folder``.
    """
    included: list[tuple[str, FileVersion]] = []
    left_out: list[File] = []
    for path, file in folder_files_located(folder, include_folder_name=include_folder_name):
        version = file.current_version
        if version is None or not version.is_downloadable:
            left_out.append(file)
        else:
            included.append((path, version))
    paths = archive_paths_unique([path for path, _version in included])
    entries = [
        ArchiveEntry(path=path, version=version)
        for path, (_old, version) in zip(paths, included, strict=True)
    ]
    return entries, left_out


# --- Streaming ----------------------------------------------------------------------------


class _ArchiveStream:
    """The archive's bytes, laid out in the request thread as they are sent.

    Only an entry's segments are decrypted ahead, by ``files.ahead``'s helper thread;
    database work (re-checking a version, recording an integrity failure) runs here
    directly, in the request thread that owns the connection.

    ``on_finished`` runs exactly once. This is a class rather than a generator because
    Django calls ``close()`` on the response's iterator when the WSGI server is done
    with it (sent, client gone, error), even when iteration never started, which a
    generator's ``finally`` would miss.
    """

    def __init__(self, *, on_finished: Callable[[int, bool], None] | None) -> None:
        self.source: Iterable[bytes] = ()  # set once the archive is laid out
        self._on_finished = on_finished
        self._chunks: Iterator[bytes] | None = None
        self.bytes_sent = 0
        self.completed = False
        self._finished = False

    def __iter__(self) -> _ArchiveStream:
        return self

    def __next__(self) -> bytes:
        if self._finished:  # ended, failed or closed: nothing more will come
            raise StopIteration
        if self._chunks is None:
            self._chunks = iter(self.source)
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self.completed = True
            self._finish()
            raise
        except BaseException:
            self._finish()
            raise
        self.bytes_sent += len(chunk)
        return chunk

    def close(self) -> None:
        try:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()  # the entry being made closes its blob reader
        finally:
            self._finish()

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        if self._on_finished is not None:
            self._on_finished(self.bytes_sent, self.completed)


def _version_ready(
    version_id: Any, *, actor: User | None, context: RequestContext
) -> tuple[FileVersion, VersionContent, bytes]:
    """The version, re-read now, where its content is (its own blob or the one it
    shares) and its data key.

    Refuses a version that is not downloadable any more; a data key that does not
    unwrap is an integrity failure, recorded here.
    """
    version = FileVersion.objects.select_related("file").filter(pk=version_id).first()
    if version is None or not version.is_downloadable:
        logger.warning("archive aborted: version %s is no longer downloadable", version_id)
        raise ArchiveEntryUnavailable(str(version_id))
    content = version_content(version)
    try:
        return version, content, content.data_key()
    except EnvelopeError as error:
        logger.error("archive aborted: version %s key does not unwrap: %s", version.pk, error)
        services.version_integrity_failure_record(
            version=version, actor=actor, error=error, during="archive", request=context
        )
        raise


def _entry_plaintext(
    *, version_id: Any, actor: User | None, context: RequestContext
) -> Generator[bytes]:
    """One entry's plaintext, decrypted segment by segment."""
    version, content, data_key = _version_ready(version_id, actor=actor, context=context)
    reader: BlobReader | None = None
    try:
        reader = content.reader()
        decryptor = content.decryptor(data_key, reader)
        # Decrypted ahead while one is sent; the helper is stopped and joined (closing
        # this generator closes the inner one) before the reader closes, below.
        yield from segments_ahead(decryptor.decrypt_all(), decryptor.segment_count)
    except (BlobIntegrityError, BlobMissingError) as error:
        # Part of the archive is gone already; raising aborts the connection, so the
        # client is left with a short download, not a ZIP that looks complete.
        logger.error("archive aborted: version %s failed integrity: %s", version.pk, error)
        services.version_integrity_failure_record(
            version=version, actor=actor, error=error, during="archive", request=context
        )
        raise
    finally:
        if reader is not None:
            reader.close()


def _crc_record(version_id: Any, crc32: int) -> None:
    """The lazy backfill: a version from before CRC-32s were recorded gets the one this
    archive just computed (the first time only; the value cannot differ)."""
    FileVersion.objects.filter(pk=version_id, plaintext_crc32__isnull=True).update(
        plaintext_crc32=crc32
    )


def _archive_chunks(
    *,
    layout: StoredZip,
    version_ids: list[Any],
    actor: User | None,
    context: RequestContext,
    recheck: StreamRecheck,
) -> Iterator[bytes]:
    """The archive's bytes: headers, decrypted data, directory.

    An entry whose CRC-32 is on its version is only copied; one without (a version from
    before the field) has it computed here, sent in a data descriptor after its data
    and recorded on the version for the next archive.
    """
    crcs = []
    for index, (member, version_id) in enumerate(zip(layout.members, version_ids, strict=True)):
        header = layout.local_header(index)
        crc, sent = 0, 0
        entry = _entry_plaintext(version_id=version_id, actor=actor, context=context)
        for chunk in entry:
            reason = recheck.refusal(version_id)  # access ended meanwhile: the archive stops
            if reason is not None:
                entry.close()  # its blob reader and read-ahead thread, now
                version = FileVersion.objects.select_related("file").get(pk=version_id)
                recheck.cut_off(version=version, context=context, reason=reason)
            if member.crc32 is None:
                crc = zlib.crc32(chunk, crc)
            sent += len(chunk)
            if header:
                # One send for the small header and the first segment.
                chunk, header = header + chunk, b""
            yield chunk
        if sent != member.size:  # the version row and the blob disagree: never a bad ZIP
            raise ZipEntrySizeError(f"{member.name}: {sent} bytes, {member.size} announced")
        if header:
            yield header  # an empty entry
        if member.crc32 is None:
            yield layout.data_descriptor(index, crc)
            _crc_record(version_id, crc)
            crcs.append(crc)
        else:
            crcs.append(member.crc32)
    yield layout.central_directory(crcs)


def archive_response(
    *,
    request: HttpRequest,
    entries: list[ArchiveEntry],
    archive_name: str,
    on_finished: Callable[[int, bool], None] | None = None,
    actor: User | None = None,
    access_recheck: AccessRecheck | None = None,
    actor_label: str = "",
    audit_details: dict[str, object] | None = None,
    on_start: Callable[[list[ArchiveEntry], list[ArchiveEntry]], None] | None = None,
) -> StreamingHttpResponse:
    """A ``Content-Length``-sized ZIP of ``entries``, streamed.

    ``entries`` were checked by the caller (the recipient may read them). A version
    that is not downloadable any more when this runs is left out; one that stops being
    downloadable while the archive streams aborts it. ``actor`` (a signed-in person,
    ``None`` for a link recipient) is who integrity failures are recorded against.
    ``on_finished(bytes_sent, completed)`` runs once when the stream ends or is cut
    (not for ``HEAD``): for the caller's audit event and download receipt. While it
    streams, access is asked again (``files.downloads.StreamRecheck``): a signed-in
    ``actor``'s own, or a link's through ``access_recheck`` (audited under
    ``actor_label`` with ``audit_details``).

    ``on_start(members, left_out)`` runs once this re-check has decided what goes in
    (not for ``HEAD``): the caller records each member's start there, and only those
    (a version quarantined between the caller's listing and this re-check was named in
    the log as downloaded and left out of the ZIP). ``on_finished`` must count the
    bytes of those same members.
    """
    context = context_from_request(request)
    current = FileVersion.objects.in_bulk([entry.version.pk for entry in entries])
    kept = []
    dropped: list[ArchiveEntry] = []
    for entry in entries:
        version = current.get(entry.version.pk)
        if version is None or not version.is_downloadable:
            logger.warning("archive: left out version %s (not downloadable)", entry.version.pk)
            dropped.append(ArchiveEntry(entry.path, version or entry.version))
            continue
        kept.append((entry.path, version))
    paths = archive_paths_unique([path for path, _version in kept])
    if on_start is not None and request.method != "HEAD":
        # Under the names the archive gives them (``archive_members_sent`` counts them).
        on_start(
            [
                ArchiveEntry(path, version)
                for path, (_old, version) in zip(paths, kept, strict=True)
            ],
            dropped,
        )

    stream = _ArchiveStream(on_finished=on_finished)
    layout = StoredZip(
        [
            ZipMember(
                name=path,
                size=version.size,
                crc32=version.plaintext_crc32,
                modified=timezone.localtime(version.created_at).replace(tzinfo=None),
            )
            for path, (_old, version) in zip(paths, kept, strict=True)
        ]
    )
    # A generator: nothing runs until the WSGI server asks for the first chunk.
    stream.source = _archive_chunks(
        layout=layout,
        version_ids=[version.pk for _old, version in kept],
        actor=actor,
        context=context,
        recheck=StreamRecheck(
            actor,
            check=access_recheck,
            actor_label=actor_label,
            audit_details=audit_details,
            api_token_id=tokens.token_id_of(request),
        ),
    )
    length = layout.size
    name = archive_path_clean(archive_name).replace("/", "_")
    if not name.lower().endswith(".zip"):
        name += ".zip"
    headers = {
        "Content-Type": ARCHIVE_CONTENT_TYPE,
        "Content-Disposition": content_disposition(name),
        "Content-Length": str(length),
        # No Range: the archive is made on the fly; a client restarts it instead.
        "Accept-Ranges": "none",
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
        "Cross-Origin-Resource-Policy": "same-origin",
    }
    if request.method == "HEAD":
        return StreamingHttpResponse(iter(()), headers=headers)

    return StreamingHttpResponse(stream, headers=headers)
