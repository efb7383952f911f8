"""The DICOM C-STORE receiver (a Storage SCP, pynetdicom): modalities and PACS push
studies into one configured folder (docs/imaging.md, "Ingest").

- **Who may connect**: an allow-list of calling AE titles, each tied to an IP address
  or said to come from anywhere (``SECUREDRIVE_DICOM_ALLOWED_PEERS="CT_ROOM_2@10.1.2.3,
  PACS_MAIN@*"``; a bare title is accepted on loopback only). An empty list refuses
  everyone (fail closed). AE titles are not secrets: bind to a hospital network, pin
  addresses. The called AE title must be ours, and the owner and folder still valid.
  Each association accepted or refused is audited.
- **Where it lands**: ``SECUREDRIVE_DICOM_OWNER`` (an active account's e-mail) and
  ``SECUREDRIVE_DICOM_FOLDER_ID`` (a folder that account may add files to): every
  instance is a file stored as that account uploading it, under
  ``<Study UID>/<Series UID>/<SOP Instance UID>.dcm`` (``imaging.ingest``), with the
  peer's address and AE title in the upload's audit event.
- **No plaintext on disk**: pynetdicom keeps each received data set in memory (its
  ``STORE_RECV_CHUNKED_DATASET`` option, which would spool it to a temporary file, stays
  off); the handler streams that buffer (a Part 10 header written before it, no copy)
  through the encrypting ``BlobIngest``. Memory is one instance per association at a
  time (a CT slice is ~0.5 MB), and all associations together hold at most
  ``SECUREDRIVE_DICOM_MEMORY_MAX_MB``: an instance that would go beyond is not kept in
  memory as it arrives, and fails with 0xA700 when it ends (the peer still has it).
- C-ECHO (Verification) is answered, so a PACS administrator can test the link.

Each association runs in pynetdicom's own thread; Django's database connection of that
thread is closed when the association ends.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import itertools
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)
from pynetdicom import (
    AE,
    ALL_TRANSFER_SYNTAXES,
    AllStoragePresentationContexts,
    evt,
)
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from accounts.models import User
from audit import context as request_context
from audit import services as audit
from audit.actions import Action
from audit.models import Outcome
from core.errors import NotFoundForActor
from files.models import Folder
from imaging.ingest import Batch, FailureReason, destination_folder

logger = logging.getLogger(__name__)

# Instances are handed to the encryptor in slices of this size (one blob segment).
SLICE = 1024 * 1024
# PS3.8 9.3.2: AE titles are 1-16 characters, no backslash or control characters.
AE_TITLE_MAX = 16
PREAMBLE = b"\x00" * 128 + b"DICM"


# pynetdicom accepts, for each proposed context, the first syntax of OUR list that the
# peer proposed. A peer proposing a compressed syntax holds the instance compressed:
# accepting that one first stores it as the modality made it (no conversion by the
# sender, byte for byte), then explicit before implicit VR (implicit loses the VRs).
_UNCOMPRESSED = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian]
ACCEPT_ORDER = [
    syntax
    for syntax in ALL_TRANSFER_SYNTAXES
    if syntax not in _UNCOMPRESSED and syntax != ExplicitVRBigEndian
] + [*_UNCOMPRESSED, ExplicitVRBigEndian]


class ReceiverConfigError(ValueError):
    """The receiver cannot start as configured: the message says what to fix."""


ANY_ADDRESS = "*"


@dataclass(frozen=True)
class Peer:
    ae_title: str
    address: str = ""  # an IP; empty (on loopback only) or "*": any address

    @property
    def pinned(self) -> bool:
        return self.address not in ("", ANY_ADDRESS)

    def allows(self, ae_title: str, address: str) -> bool:
        if ae_title != self.ae_title:
            return False
        if not self.pinned:
            return True
        try:
            return ipaddress.ip_address(address) == ipaddress.ip_address(self.address)
        except ValueError:
            return False


def ae_title_clean(value: str) -> str:
    title = value.strip()
    if not title or len(title) > AE_TITLE_MAX or "\\" in title or not title.isprintable():
        raise ReceiverConfigError(f"{value!r} is not a DICOM AE title (1-16 characters)")
    return title


def peers_parse(entries: list[str]) -> list[Peer]:
    """``["CT_ROOM_2@10.1.2.3", "PACS@*"]``: AE titles, each @ an IP address, or @* for
    any address (a bare title: any address too, accepted only on loopback)."""
    peers = []
    for entry in entries:
        if not entry.strip():
            continue
        title, _, address = entry.strip().partition("@")
        if address and address != ANY_ADDRESS:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ReceiverConfigError(f"{address!r} is not an IP address") from None
        peers.append(Peer(ae_title=ae_title_clean(title), address=address))
    return peers


@dataclass(frozen=True)
class ReceiverConfig:
    host: str
    port: int
    ae_title: str
    peers: list[Peer]
    owner_email: str
    folder_id: int
    # What all associations together may hold of instances being received (pynetdicom
    # buffers each one whole before the handler runs).
    memory_max_bytes: int = 1024 * 1024 * 1024

    @classmethod
    def from_settings(cls, **overrides: Any) -> ReceiverConfig:
        values: dict[str, Any] = {
            "host": settings.DICOM_HOST,
            "port": settings.DICOM_PORT,
            "ae_title": settings.DICOM_AE_TITLE,
            "peers": peers_parse(list(settings.DICOM_ALLOWED_PEERS)),
            "owner_email": settings.DICOM_OWNER,
            "folder_id": settings.DICOM_FOLDER_ID,
            "memory_max_bytes": settings.DICOM_MEMORY_MAX_MB * 1024 * 1024,
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@dataclass(frozen=True)
class Destination:
    owner: User
    folder: Folder


def destination_resolve(config: ReceiverConfig) -> Destination:
    """The owner account and the folder, checked as that account (fail closed)."""
    problems = []
    if not config.peers:
        problems.append("no calling AE title is allowed (SECUREDRIVE_DICOM_ALLOWED_PEERS)")
    if not (0 < config.port < 65536):
        problems.append("no port (SECUREDRIVE_DICOM_PORT)")
    # An AE title is a name anyone can type into a DICOM tool: on a network address, a
    # title allowed from anywhere lets any computer there push studies (fake images for
    # a real patient). The operator pins it, or says "from anywhere" in so many words.
    bare = [peer.ae_title for peer in config.peers if not peer.address]
    if bare and not _loopback(config.host):
        problems.append(
            f"calling AE titles without an address ({', '.join(bare)}) would be accepted "
            f"from any computer that reaches {config.host}: pin each one to its IP "
            "(AE@10.1.2.3) or, if it really may come from anywhere, write AE@*"
        )
    owner = User.objects.filter(email__iexact=config.owner_email, is_active=True).first()
    if owner is None:
        problems.append("the owner is not an active account (SECUREDRIVE_DICOM_OWNER)")
    folder = None
    if owner is not None:
        try:
            folder = destination_folder(actor=owner, folder_id=config.folder_id)
        except NotFoundForActor:
            problems.append(
                "the owner may not add files to that folder, or it does not exist "
                "(SECUREDRIVE_DICOM_FOLDER_ID)"
            )
    if problems:
        raise ReceiverConfigError("; ".join(problems))
    assert owner is not None  # noqa: S101
    assert folder is not None  # noqa: S101
    return Destination(owner=owner, folder=folder)


@contextlib.contextmanager
def _as_peer(address: str, ae_title: str) -> Iterator[None]:
    """Audit events recorded meanwhile name the peer's address and AE title."""
    token = request_context.activate(
        request_context.RequestContext(ip_address=address, user_agent=f"DICOM AE {ae_title}")
    )
    try:
        yield
    finally:
        request_context.deactivate(token)


@dataclass
class Receiver:
    config: ReceiverConfig
    destination: Destination
    _batches: dict[int, Batch] = field(default_factory=dict)
    # Checked on A-ASSOCIATE-RQ, used by the association it accepts.
    _destinations: dict[int, Destination] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # Per association: bytes of the instance being received held in memory, and the
    # size of one let go beyond the budget (it fails when it ends).
    _buffered: dict[int, int] = field(default_factory=dict)
    _overflow: dict[int, int] = field(default_factory=dict)

    def application_entity(self) -> AE:
        ae = AE(ae_title=self.config.ae_title)
        # Every storage SOP class in every transfer syntax; nothing is decoded here.
        for context in AllStoragePresentationContexts:
            if context.abstract_syntax is not None:
                ae.add_supported_context(context.abstract_syntax, ACCEPT_ORDER)
        ae.add_supported_context(Verification)
        return ae

    def handlers(self) -> list[Any]:
        return [
            (evt.EVT_REQUESTED, self._requested),
            (evt.EVT_ACCEPTED, self._accepted),
            (evt.EVT_C_ECHO, self._echo),
            (evt.EVT_DATA_RECV, self._data_received),
            (evt.EVT_C_STORE, self._store),
            (evt.EVT_RELEASED, self._ended),
            (evt.EVT_ABORTED, self._ended),
            (evt.EVT_REJECTED, self._ended),  # by pynetdicom after us (no common context)
        ]

    def start(self, *, block: bool) -> Any:
        """Listen; with ``block=False`` returns the server (``.shutdown()`` stops it)."""
        return self.application_entity().start_server(
            (self.config.host, self.config.port), block=block, evt_handlers=self.handlers()
        )

    # --- handlers (each runs in the association's thread) ------------------------------

    @staticmethod
    def _peer_of(event: Any) -> tuple[str, str]:
        requestor = event.assoc.requestor
        title = requestor.primitive.calling_ae_title if requestor.primitive else ""
        return str(title or "").strip(), str(requestor.address or "")

    def _destination_now(self) -> tuple[Destination | None, str]:
        """The owner and folder as they are now (the receiver runs for months: the owner
        may leave, the folder be trashed or her access to it end), or why not."""
        owner = User.objects.filter(pk=self.destination.owner.pk, is_active=True).first()
        if owner is None:
            return None, "the receiver's owner account is deactivated"
        try:
            folder = destination_folder(actor=owner, folder_id=self.destination.folder.pk)
        except NotFoundForActor:
            return None, "the receiver's owner may no longer add files to its folder"
        return Destination(owner=owner, folder=folder), ""

    @staticmethod
    def _called_of(event: Any) -> str:
        requestor = event.assoc.requestor
        called = requestor.primitive.called_ae_title if requestor.primitive else ""
        return str(called or "").strip()

    def _requested(self, event: Any) -> None:
        title, address = self._peer_of(event)
        called = self._called_of(event)
        # A-ASSOCIATE-RJ (PS3.8 9.3.4): result, source (1: service user), reason.
        if not any(peer.allows(title, address) for peer in self.config.peers):
            reason, codes = "calling AE title not allowed", (0x01, 0x01, 0x03)
        elif called != self.config.ae_title:
            # A modality set up for another PACS, reaching this port by a wrong address:
            # its patients' images are not for this drive.
            reason, codes = "called AE title is not this receiver's", (0x01, 0x01, 0x07)
        else:
            close_old_connections()
            destination, reason = self._destination_now()
            if destination is not None:
                with self._lock:
                    self._destinations[id(event.assoc)] = destination
                return
            codes = (0x02, 0x01, 0x01)  # transient: once an administrator fixes it
        with _as_peer(address, title):
            try:
                audit.record(
                    action=Action.IMAGING_DICOM_ASSOCIATION_REFUSE,
                    outcome=Outcome.DENIED,
                    actor_label=f"DICOM AE {title}"[:320],
                    target_type="imaging.receiver",
                    target_id=self.config.ae_title,
                    details={"calling_ae": title, "called_ae": called[:16], "reason": reason},
                )
            finally:
                connections.close_all()
        logger.warning(
            "DICOM association refused (%s): calling AE %r, called AE %r, from %s",
            reason,
            title,
            called,
            address,
        )
        event.assoc.acse.send_reject(*codes)
        # As pynetdicom's own refusals do: wait for the DUL to send the A-ASSOCIATE-RJ
        # before the socket is shut down, so that the peer reads "rejected".
        event.assoc.kill()

    def _accepted(self, event: Any) -> None:
        title, address = self._peer_of(event)
        close_old_connections()
        with self._lock:
            destination = self._destinations.pop(id(event.assoc), self.destination)
        batch = Batch(
            actor=destination.owner,
            folder=destination.folder,
            via="c-store",
            peer=title,
        )
        with self._lock:
            self._batches[id(event.assoc)] = batch
        with _as_peer(address, title):
            audit.record(
                action=Action.IMAGING_DICOM_ASSOCIATION_ACCEPT,
                actor_label=f"DICOM AE {title}"[:320],
                target_type="imaging.receiver",
                target_id=self.config.ae_title,
                details={
                    "calling_ae": title,
                    "called_ae": self.config.ae_title,
                    "folder": destination.folder.pk,
                },
            )

    def _echo(self, event: Any) -> int:
        return 0x0000

    def _data_received(self, event: Any) -> None:
        """Before each PDU is added to the message being received (the DUL's thread):
        past the budget of all associations, this instance's buffer is emptied and stays
        empty, so memory holds at most the budget plus one PDU per association."""
        message = getattr(event.assoc.dimse, "message", None)
        data_set = getattr(message, "data_set", None)
        if not isinstance(data_set, io.BytesIO):
            return
        key = id(event.assoc)
        held = data_set.tell()
        with self._lock:
            if key in self._overflow:
                self._overflow[key] += held
            else:
                self._buffered[key] = held
                if sum(self._buffered.values()) + len(event.data) <= self.config.memory_max_bytes:
                    return
                self._overflow[key] = held
                self._buffered[key] = 0
        data_set.seek(0)
        data_set.truncate()

    def _store(self, event: Any) -> int:
        title, address = self._peer_of(event)
        with self._lock:
            batch = self._batches.get(id(event.assoc))
        if batch is None:  # not through _accepted: never store
            return FailureReason.PROCESSING_FAILURE
        key = id(event.assoc)
        with self._lock:
            self._buffered.pop(key, None)
            overflow = self._overflow.pop(key, None)
        if overflow is not None:
            request = event.request
            landed = batch.instance_refuse(
                sop_class_uid=str(request.AffectedSOPClassUID or ""),
                sop_instance_uid=str(request.AffectedSOPInstanceUID or ""),
                reason=FailureReason.OUT_OF_RESOURCES,
                problem=(
                    f"{overflow // (1024 * 1024)} MiB or more: larger than the receiver holds "
                    f"in memory ({self.config.memory_max_bytes // (1024 * 1024)} MiB for all "
                    "peers)"
                ),
            )
            logger.warning("DICOM instance from %s refused: %s", title, landed.problem)
            return FailureReason.OUT_OF_RESOURCES
        # The received buffer as it is (encoded_dataset() would copy it twice).
        data_set = event.request.DataSet
        meta = io.BytesIO()
        meta.write(PREAMBLE)
        write_file_meta_info(meta, event.file_meta, enforce_standard=True)  # type: ignore[arg-type]
        view = data_set.getbuffer()
        try:
            slices = itertools.chain(
                [meta.getvalue()],
                (bytes(view[start : start + SLICE]) for start in range(0, len(view), SLICE)),
            )
            with _as_peer(address, title):
                try:
                    landed = batch.instance_land(slices, size_hint=meta.tell() + len(view))
                except Exception:  # a database or storage outage: the peer may retry
                    logger.exception("DICOM C-STORE from %s failed", title)
                    return FailureReason.OUT_OF_RESOURCES
        finally:
            view.release()
        if landed.failure is not None:
            logger.warning(
                "DICOM instance from %s refused (0x%04X): %s", title, landed.failure, landed.problem
            )
            return landed.failure
        return 0x0000

    def _ended(self, event: Any) -> None:
        title, address = self._peer_of(event)
        with self._lock:
            batch = self._batches.pop(id(event.assoc), None)
            self._destinations.pop(id(event.assoc), None)
            self._buffered.pop(id(event.assoc), None)
            self._overflow.pop(id(event.assoc), None)
        try:
            if batch is not None:
                with _as_peer(address, title):
                    batch.record()
        finally:
            connections.close_all()
