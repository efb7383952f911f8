"""Downloads: decrypt-then-send, segment by segment, with HTTP Range (RFC 9110).

* **Constant memory.** The body is a ``StreamingHttpResponse`` whose iterator reads and
  decrypts one segment at a time (one reused read buffer, one plaintext segment). Serve
  it under WSGI: under ASGI Django buffers a sync iterator whole (FIELD-NOTES).
* **Nothing unauthenticated leaves.** A segment is yielded only after its GCM tag
  verified. The first needed segment is decrypted before the response starts, so a bad
  header, a wrong key or a damaged first segment gets a clean error status. A failure
  further on cannot change a status already sent: the iterator raises after the good
  segments, the server aborts the connection (the client sees fewer bytes than
  Content-Length), the version is flagged ``integrity_failed`` and
  ``files.version.integrity_failure`` is audited.
* **Ranges.** One ``bytes=`` range gets ``206`` with ``Content-Range``, decrypting only
  the segments it touches. Several ranges in one request get the whole file (``200``):
  RFC 9110 §14.2 lets a server ignore Range, and multipart/byteranges buys clients
  nothing here. A malformed Range is ignored (``200``); a range starting past the end
  gets ``416`` with ``Content-Range: bytes */size``; absurdly long numbers saturate
  instead of reaching ``int()`` (``range_requested``). ``If-Range`` must match the strong
  ETag exactly, otherwise (another ETag, a date) the whole file is sent.
* **Safe headers.** ``Content-Disposition`` per RFC 6266 with an ASCII ``filename`` and
  a UTF-8 ``filename*`` (RFC 8187), both folded (NFKC) first so that no folding turns
  a name into a path; ``X-Content-Type-Options: nosniff``; a sandboxing
  CSP. Active content (HTML, SVG, XML, JavaScript…) is always an attachment served as
  ``application/octet-stream``: it must never run in SecureDrive's origin.
"""

from __future__ import annotations

import logging
import re
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.utils.http import http_date
from django.utils.translation import gettext as _

from accounts import sessions, tokens
from accounts.models import User
from audit import services as audit
from audit.actions import Action
from audit.context import RequestContext, context_from_request
from audit.models import Outcome
from files import services
from files.ahead import segments_ahead
from files.blobs import version_content
from files.crypto import BlobIntegrityError, segment_offset
from files.envelope import EnvelopeError
from files.errors import NotDownloadableError
from files.lineage import version_lineage_details
from files.models import FileVersion, ScanStatus
from files.names import path_component_safe
from files.storage import BlobMissingError, BlobReader

logger = logging.getLogger(__name__)

# Types a browser would execute or render as a document in our origin (stored XSS):
# always downloaded, never labelled with their real type.
ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/xsl",
        "application/xslt+xml",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "text/ecmascript",
        "application/wasm",
        "text/css",
        "application/x-shockwave-flash",
        "multipart/x-mixed-replace",
        "text/cache-manifest",
        "application/vnd.wap.xhtml+xml",
    }
)
# Types a browser may show inline (``?inline=1``): passive images, PDF, plain text.
INLINE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"}
)
DOWNLOAD_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"

_DIGITS = re.compile(r"[0-9]+")
# A byte position or length never needs more than 19 digits (10^19 bytes is ~8.7 EiB).
# Longer digit strings are absurd; they are read as "beyond any file" *before* int()
# sees them: int() refuses more than 4,300 digits with a ValueError (CVE-2020-10735's
# limit), which was a 500, and costs quadratic time below that.
_POSITION_MAX_DIGITS = 19
_BEYOND_ANY_FILE: int = 10**_POSITION_MAX_DIGITS


class DownloadNotAdmitted(Exception):
    """The caller's ``admit`` said no at the last moment (an external link whose last
    download another recipient took meanwhile): nothing was sent and no download
    recorded; the caller answers with its own refusal."""


class RangeNotSatisfiable(Exception):
    pass


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive, as in HTTP

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def _position(text: str) -> int | None:
    """ASCII digits as a number (saturated at ``_BEYOND_ANY_FILE``), else None."""
    if not _DIGITS.fullmatch(text):
        return None
    significant = text.lstrip("0") or "0"
    if len(significant) > _POSITION_MAX_DIGITS:
        return _BEYOND_ANY_FILE
    return int(significant)


def range_requested(header: str | None, size: int) -> ByteRange | None:
    """The one range to send, ``None`` for the whole file, or ``RangeNotSatisfiable``.

    The only Range parser: every door to content (page, API, versions, links,
    transfers) goes through ``version_download_response``. Whatever the header holds,
    the answer is a range inside the file, the whole file, or 416; never an exception.
    Absurdly large positions saturate, which keeps RFC 9110's meaning: a suffix longer
    than the file is the whole file, a start past the end is unsatisfiable, an end past
    the end stops at the last byte.
    """
    if not header:
        return None
    unit, equals, spec = header.partition("=")
    if not equals or unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_text, dash, last_text = (part.strip() for part in spec.strip().partition("-"))
    if not dash:
        return None
    last = _position(last_text) if last_text else None
    if last_text and last is None:
        return None  # "-5-9", "0-x": not a range-spec, the header is ignored
    if not first_text:
        if last is None:
            return None
        if last == 0 or size == 0:
            raise RangeNotSatisfiable
        return ByteRange(max(0, size - last), size - 1)
    start = _position(first_text)
    if start is None:
        return None
    if last is not None and last < start:
        return None  # an invalid range-spec: the header is ignored (RFC 9110 §14.1.1)
    if start >= size:
        raise RangeNotSatisfiable
    end = min(last, size - 1) if last is not None else size - 1
    return ByteRange(start, end)


def version_etag(version: FileVersion) -> str:
    """Strong: a version's content never changes, and its id is never reused."""
    return f'"{version.pk.hex}-{version.sha256[:32]}"'


def content_disposition(name: str, *, inline: bool = False) -> str:
    """RFC 6266: an ASCII fallback ``filename`` and the name in ``filename*`` (RFC 8187).

    Both come from the name already folded (``path_component_safe``: NFKC, no
    separator or look-alike, no dot segment): a browser or a download tool that folds
    it again cannot turn fullwidth dots and solidus (U+FF0E, U+FF0F) into ``../``.
    Dropping what is not ASCII can still leave dots alone (``..é``), so the fallback is
    checked once more.
    """
    kind = "inline" if inline else "attachment"
    safe = path_component_safe(name, fallback="download")
    folded = unicodedata.normalize("NFKD", safe).encode("ascii", "ignore").decode("ascii")
    ascii_name = "".join(
        char if char.isprintable() and char not in '"\\;%' else "_" for char in folded
    ).strip()
    fallback = path_component_safe(ascii_name, fallback="download")
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(safe, safe='')}"


def served_type(content_type: str) -> str:
    base = content_type.split(";", 1)[0].strip().lower()
    if base in ACTIVE_TYPES or base.endswith("+xml") or not base:
        return "application/octet-stream"
    return base


def _audit_download(
    *,
    action: Action = Action.FILES_VERSION_DOWNLOAD,
    actor: User | None,
    actor_label: str = "",
    version: FileVersion,
    outcome: str,
    context: RequestContext,
    extra: Mapping[str, object] | None = None,
    **details: object,
) -> None:
    audit.record(
        action=action,
        outcome=outcome,
        actor=actor,
        actor_label=actor_label,
        target_type="files.version",
        target_id=version.pk,
        # The file, version and path at the time (and the original of a copy): lineage.
        details={**version_lineage_details(version), **(extra or {}), **details},
        request=context,
    )


def _refusal(version: FileVersion) -> NotDownloadableError | None:
    if version.integrity_failed:
        return NotDownloadableError(
            _("This version failed an integrity check and cannot be downloaded."),
            "integrity_failed",
        )
    if version.scan_status == ScanStatus.QUARANTINED:
        return NotDownloadableError(
            _("This version is quarantined: the virus scanner found a threat in it."),
            "quarantined",
        )
    if version.scan_status == ScanStatus.BLOCKED:
        return NotDownloadableError(
            _(
                "This version is blocked by the site's scanning policy: the virus scanner "
                "could not fully check it (too large, or an archive beyond the safety limits)."
            ),
            "blocked",
        )
    # "not scanned" is downloadable only because the site's policy says so
    # (SECUREDRIVE_SCAN_OVERSIZE_POLICY = "allow"); the UI and the audit event flag it.
    if version.scan_status not in (ScanStatus.AVAILABLE, ScanStatus.NOT_SCANNED):
        return NotDownloadableError(
            _(
                "This version cannot be downloaded until the virus scanner has checked it "
                "(status: %(status)s)."
            )
            % {"status": ScanStatus(version.scan_status).label},
            str(version.scan_status),
        )
    if version.shredded_at is not None:
        return NotDownloadableError(_("This version no longer exists."), "shredded")
    return None


def version_refusal(version: FileVersion) -> NotDownloadableError | None:
    """Why ``version`` may not be sent now (scan, integrity, shredded), or None: the one
    rule for downloads and previews (files/previews.py) alike."""
    return _refusal(version)


class IntegrityFailureResponse(HttpResponse):
    """500 for a blob that failed before the first byte was sent: flagged and audited."""

    def __init__(self) -> None:
        super().__init__(
            _(
                "This file failed its integrity check and was not sent. The event was "
                "recorded; the administrators can restore it from a backup."
            ),
            status=500,
            content_type="text/plain; charset=utf-8",
        )


# A download under way when access to it ends (the reader deactivated, a share or link
# withdrawn, the file deleted or quarantined: docs/accounts.md, Offboarding;
# docs/sharing-links.md) must not run on for the hour a large study takes over a slow
# line: the stream asks again this often. A few indexed queries per interval per
# download, nothing per segment.
ACCESS_RECHECK_SECONDS = 5.0

# Why a stream stops: given the version being sent, a reason (audited) or None.
AccessRecheck = Callable[[uuid.UUID], "str | None"]


class DownloadCutOff(Exception):
    """Access ended while the download was under way. Raised from the body: the
    connection is aborted, so the client is left with a short download, never one that
    looks complete."""


def reader_refusal(actor: User, version_id: uuid.UUID) -> str | None:
    """Why a signed-in person may no longer be sent ``version_id``, or None: their
    account, their right to read the file (a share withdrawn, the file deleted), the
    version itself (quarantined by a later scan, shredded)."""
    from files.selectors import Permission, file_permission  # selectors import this module

    if not User.objects.filter(pk=actor.pk, is_active=True).exists():
        return "account deactivated"
    version = (
        FileVersion.objects.select_related("file", "file__space", "file__folder")
        .filter(
            pk=version_id,
            shredded_at__isnull=True,
            file__deleted_at__isnull=True,
            file__purged_at__isnull=True,
        )
        .first()
    )
    if version is None:
        return "deleted"
    if file_permission(actor=actor, file=version.file) < Permission.VIEW:
        return "access withdrawn"
    refusal = _refusal(version)
    return refusal.reason if refusal is not None else None


class StreamRecheck:
    """Whether a stream under way may go on, asked again at most every
    ``ACCESS_RECHECK_SECONDS`` (wall clock). ``check`` says why not; without one, a
    signed-in ``actor`` is asked ``reader_refusal`` and anyone else nothing.

    ``api_token_id``: the personal access token the stream was asked with
    (``accounts.tokens.token_id_of``). Revoked or expired meanwhile, the stream stops:
    a leaked token revoked by its person must not go on sending a study for the hour it
    takes, any more than a browser session she signed out."""

    def __init__(
        self,
        actor: User | None,
        *,
        check: AccessRecheck | None = None,
        actor_label: str = "",
        audit_details: Mapping[str, object] | None = None,
        action: Action = Action.FILES_VERSION_DOWNLOAD,
        api_token_id: int | None = None,
    ) -> None:
        if check is None and actor is not None:
            reader = actor
            # The browser session it was asked from: signed out meanwhile (by its person
            # seeing a session that is not theirs, a new password, the identity provider),
            # the download stops too. None for an API token.
            user_session_id = sessions.serving_session()

            def check(version_id: uuid.UUID) -> str | None:
                refusal = reader_refusal(reader, version_id)
                if refusal is None and api_token_id is not None:
                    refusal = tokens.token_refusal(api_token_id)
                if (
                    refusal is None
                    and user_session_id is not None
                    and not sessions.session_is_open(user_session_id)
                ):
                    return "session ended"
                return refusal

        self._actor = actor
        self._check = check
        self._actor_label = actor_label
        self._audit_details = audit_details
        self._action = action
        self._due = time.time() + ACCESS_RECHECK_SECONDS

    def refusal(self, version_id: uuid.UUID) -> str | None:
        now = time.time()
        if self._check is None or now < self._due:
            return None
        self._due = now + ACCESS_RECHECK_SECONDS
        return self._check(version_id)

    def cut_off(self, *, version: FileVersion, context: RequestContext, reason: str) -> None:
        """Record the refusal against the version being sent, and raise."""
        _audit_download(
            action=self._action,
            actor=self._actor,
            actor_label=self._actor_label,
            version=version,
            outcome=Outcome.DENIED,
            context=context,
            extra=self._audit_details,
            reason=reason,
            during="stream",
        )
        raise DownloadCutOff(f"{reason} during the download")


class _DecryptingStream:
    """The body of a download: ``first``, then ``rest``, decrypted (ahead, when
    ``rest`` is long: files/ahead.py).

    A class rather than a generator, as ``sharing.services.archives._ArchiveStream``:
    the WSGI server calls ``close()`` when it is done (sent, client gone, error), even
    when it never read the body, which a generator's ``finally`` would miss; and the
    end is recorded there, in the request thread, never by the garbage collector (a
    generator dropped unclosed ran its ``finally`` wherever collection happened: an
    audit write from inside another query on the same connection deadlocked the
    thread, and one in another request's transaction went with its rollback).
    """

    def __init__(
        self,
        *,
        first: bytes,
        rest: Iterator[bytes],
        reader: BlobReader,
        version: FileVersion,
        actor: User | None,
        context: RequestContext,
        length: int,
        on_finished: Callable[[int, bool], None] | None,
        recheck: StreamRecheck,
    ) -> None:
        self._first: bytes | None = first
        self._rest = rest
        self._reader = reader
        self._version = version
        self._actor = actor
        self._context = context
        self._length = length
        self._on_finished = on_finished
        self._sent = 0
        self._finished = False
        self._recheck = recheck

    def __iter__(self) -> _DecryptingStream:
        return self

    def __next__(self) -> bytes:
        if self._finished:  # ended, failed or closed: nothing more will come
            raise StopIteration
        if self._first is not None:
            chunk, self._first = self._first, None
        else:
            try:
                reason = self._recheck.refusal(self._version.pk)
                if reason is not None:
                    self._recheck.cut_off(
                        version=self._version, context=self._context, reason=reason
                    )
                chunk = next(self._rest)
            except StopIteration:
                self.close()
                raise
            except (BlobIntegrityError, BlobMissingError) as error:
                # Headers and the good segments are gone; raising aborts the connection.
                version = self._version
                logger.error("download aborted: version %s failed integrity: %s", version.pk, error)
                try:
                    services.version_integrity_failure_record(
                        version=version,
                        actor=self._actor,
                        error=error,
                        during="download",
                        request=self._context,
                    )
                finally:
                    self.close()
                raise
            except BaseException:
                self.close()
                raise
        self._sent += len(chunk)
        return chunk

    def close(self) -> None:
        if self._finished:
            return
        self._finished = True
        try:
            close = getattr(self._rest, "close", None)
            if close is not None:
                close()  # stops a helper thread reading the blob before the reader closes
        finally:
            self._reader.close()
            if self._on_finished is not None:
                # The stream ended or was cut (client gone): what really left, once.
                self._on_finished(self._sent, self._sent == self._length)


def download_end_recorder(
    *,
    actor: User | None,
    version: FileVersion,
    context: RequestContext,
    download_id: str,
    extra: Mapping[str, object] | None = None,
) -> Callable[[int, bool], None]:
    """``on_finished`` of a signed-in person's download (page, API, version, share):
    ``files.version.sent`` with the bytes really sent and whether the stream
    completed. The start event was written before the first byte left (nothing is lost
    if the process dies meanwhile); the auditor's view shows both on one row, joined by
    ``download``. A link's download records its own end (sharing.link.download)."""

    def finished(bytes_sent: int, completed: bool) -> None:
        audit.record(
            action=Action.FILES_VERSION_SENT,
            actor=actor,
            target_type="files.version",
            target_id=version.pk,
            details={
                "file": version.file_id,
                "version": str(version.pk),
                "download": download_id,
                "bytes": bytes_sent,
                "completed": completed,
                **(extra or {}),
            },
            request=context,
        )

    return finished


def version_download_response(
    *,
    request: HttpRequest,
    actor: User | None,
    version: FileVersion,
    inline: bool = False,
    actor_label: str = "",
    audit_details: Mapping[str, object] | None = None,
    on_finished: Callable[[int, bool], None] | None = None,
    action: Action = Action.FILES_VERSION_DOWNLOAD,
    served_as: str | None = None,
    access_recheck: AccessRecheck | None = None,
    admit: Callable[[], bool] | None = None,
) -> HttpResponseBase:
    """The response for one version ``selectors.version_get_for_actor`` returned.

    ``admit()``, when given, is asked once a body will really be sent (a GET answered
    200 or 206 whose first segment decrypted), before the download's start is recorded:
    an external link counts the download there (sharing/services/link_downloads.py). If
    it returns False, nothing is sent or recorded and ``DownloadNotAdmitted`` is raised,
    so that no "download started" event is left without an end.

    ``on_finished(bytes_sent, completed)`` runs once when a streamed body ends or is
    cut off (not for HEAD, 416 or refusals), in the request thread. Without one, the
    end is audited here (``files.version.sent``). A caller recording the end
    itself passes the download's id as ``audit_details["download"]``.

    Raises ``NotDownloadableError`` (audited) when the version may not be sent now.

    A recipient without an account (an external link, sharing/services/link_downloads.py) passes
    ``actor=None``, an ``actor_label`` such as ``"link:42"`` and ``audit_details``
    (link id, recipient e-mail) merged into the ``files.version.download`` event; the
    caller has already checked the link, exactly as a selector checks a person, and
    passes ``access_recheck`` to check it again while the body streams (a signed-in
    person is asked ``reader_refusal`` again without one).

    A preview (files/previews.py) passes ``action=Action.FILES_VERSION_VIEW`` and
    ``served_as``, a type from its allow-list: the same checks, stream and Range, sent
    inline under that fixed type (still sandboxed and ``nosniff``), audited as a view.
    """
    context = context_from_request(request)
    refusal = _refusal(version)
    if refusal is not None:
        _audit_download(
            action=action,
            actor=actor,
            actor_label=actor_label,
            version=version,
            outcome=Outcome.DENIED,
            context=context,
            extra=audit_details,
            reason=refusal.reason,
        )
        raise refusal

    size = version.size
    etag = version_etag(version)
    content_type = served_as or served_type(version.content_type)
    headers = {
        "Content-Type": content_type,
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Last-Modified": http_date(version.created_at.timestamp()),
        "Content-Disposition": content_disposition(
            version.file.name,
            inline=served_as is not None or (inline and content_type in INLINE_TYPES),
        ),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
        "Content-Security-Policy": DOWNLOAD_CSP,
        "Cross-Origin-Resource-Policy": "same-origin",
    }

    byte_range: ByteRange | None = None
    if_range = request.headers.get("If-Range")
    if request.method == "GET" and (if_range is None or if_range.strip() == etag):
        try:
            byte_range = range_requested(request.headers.get("Range"), size)
        except RangeNotSatisfiable:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            for name in ("Accept-Ranges", "ETag", "Cache-Control", "X-Content-Type-Options"):
                response[name] = headers[name]
            return response

    if request.method == "HEAD":
        response = HttpResponse(status=200, headers=headers)
        response["Content-Length"] = str(size)
        return response

    start, end = (byte_range.start, byte_range.end) if byte_range else (0, size - 1)
    content = version_content(version)  # its own blob, or the one it shares
    try:
        data_key = content.data_key()
    except EnvelopeError as error:
        services.version_integrity_failure_record(
            version=version, actor=actor, error=error, during="download", request=context
        )
        return IntegrityFailureResponse()

    segment_size = content.segment_size
    first_index, last_index = (start // segment_size, end // segment_size) if size else (0, 0)
    span_start = 0 if first_index == 0 else segment_offset(first_index, segment_size)
    span_end = min(content.ciphertext_size, segment_offset(last_index + 1, segment_size))
    reader: BlobReader | None = None
    try:
        reader = content.reader(span=(span_start, span_end))
        decryptor = content.decryptor(data_key, reader)
        # An empty file is one empty, final segment: still authenticated before "200".
        chunks = decryptor.decrypt_range(start, end) if size else decryptor.decrypt_all()
        first = next(chunks)
    except (BlobIntegrityError, BlobMissingError) as error:
        if reader is not None:
            reader.close()
        logger.error("download refused: version %s failed integrity: %s", version.pk, error)
        services.version_integrity_failure_record(
            version=version, actor=actor, error=error, during="download", request=context
        )
        return IntegrityFailureResponse()
    except BaseException:
        if reader is not None:
            reader.close()
        raise
    if admit is not None and not admit():
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
        reader.close()
        raise DownloadNotAdmitted

    length = end - start + 1 if size else 0
    # --- Completion (issue #14): one download id ties the start to its end event. ---
    download_id = str((audit_details or {}).get("download") or uuid.uuid4().hex)
    _audit_download(
        action=action,
        actor=actor,
        actor_label=actor_label,
        version=version,
        outcome=Outcome.SUCCESS,
        context=context,
        extra=audit_details,
        range=f"{start}-{end}" if byte_range else "",
        bytes=length,
        # The whole file's size: a part (a Range, a resume) reads as a part of it.
        size=size,
        scan_status=str(version.scan_status),
        download=download_id,
    )
    if on_finished is None:
        on_finished = download_end_recorder(
            actor=actor, version=version, context=context, download_id=download_id
        )
    # --- end of the completion change ---
    body = _DecryptingStream(
        first=first,
        rest=segments_ahead(chunks, last_index - first_index + 1),  # first included
        reader=reader,
        version=version,
        actor=actor,
        context=context,
        length=length,
        on_finished=on_finished,
        recheck=StreamRecheck(
            actor,
            check=access_recheck,
            actor_label=actor_label,
            audit_details=audit_details,
            action=action,
            api_token_id=tokens.token_id_of(request),
        ),
    )
    streaming = StreamingHttpResponse(body, status=206 if byte_range else 200, headers=headers)
    streaming["Content-Length"] = str(length)
    if version.scan_status == ScanStatus.NOT_SCANNED:
        # Machine-readable warning for API clients; the browser shows the badge.
        streaming["X-SecureDrive-Scan-Status"] = "not-scanned"
    if byte_range:
        streaming["Content-Range"] = f"bytes {start}-{end}/{size}"
    return streaming
