"""Instances pushed by a PACS or a modality land as files: the ingest both ways in share.

STOW-RS (``imaging/stow.py``) and the C-STORE receiver (``imaging/dimse.py``) hand each
instance here as chunks of plaintext. They go straight into ``files.uploads.BlobIngest``
(hashed, sniffed and encrypted as they arrive; nothing but ciphertext is written) while
the first bytes are kept to read the three UIDs that place the instance. The sealed
blob then becomes a file through ``files.services.file_upload``, the same service as a
browser upload: quota, name rules, the ``files.file.upload`` audit event, and the scan
pipeline, after whose clean verdict imaging indexes it (``imaging/receivers.py``).

Layout (docs/imaging.md): ``<chosen folder>/<StudyInstanceUID>/<SeriesInstanceUID>/
<SOPInstanceUID>.dcm``. UIDs, not patient names: folder and file names travel into
audit details, notifications and share e-mails, and a UID names the same study in
every system. The study page (``/imaging/studies/``) shows the readable view. An
instance sent twice becomes a new version of the same file.

Each batch (one STOW-RS request, one DIMSE association) ends with one
``imaging.ingest.store`` event: how many landed and failed, the studies, the peer.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

from accounts.models import User
from audit import services as audit
from audit.actions import Action
from audit.models import Outcome
from files import services as file_services
from files.errors import FileRuleError, NameClashError, QuotaExceededError
from files.models import Folder
from files.names import name_key
from files.uploads import BlobIngest
from imaging.reading import deflated_as_explicit, parse_errors

if TYPE_CHECKING:
    from pydicom.dataset import Dataset
    from pydicom.tag import BaseTag

logger = logging.getLogger(__name__)

# The UIDs sit in groups 0002, 0008 and 0020, in the first KiB of nearly every file; a
# header this long before (0020,000E) is refused rather than buffered further.
HEAD_BYTES = 256 * 1024
# DICOM UIDs (PS3.5 9.1): digits and dots, at most 64. Anything else never names a
# folder: it would be a way to write "../" or a patient's name into the tree.
UID_SHAPE = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_SERIES_UID_TAG = 0x0020000E
DEFLATED = "1.2.840.10008.1.2.1.99"  # Deflated Explicit VR Little Endian
FAILURES_KEPT = 20


class FailureReason:
    """PS3.4 C-STORE / PS3.18 STOW-RS failure reasons."""

    OUT_OF_RESOURCES = 0xA700  # quota, size limit
    DATA_SET_DOES_NOT_MATCH = 0xA900  # not the study the request named
    CANNOT_UNDERSTAND = 0xC000  # not Part 10, UIDs missing or malformed
    PROCESSING_FAILURE = 0x0110


@dataclass(frozen=True)
class Placement:
    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    transfer_syntax_uid: str
    label: str = ""  # the patient and study, for the auditor (imaging/names.py)


@dataclass(frozen=True)
class Landed:
    """What became of one instance: a file, or a failure reason."""

    sop_class_uid: str
    sop_instance_uid: str
    file_id: int | None = None
    failure: int | None = None
    problem: str = ""


class PlacementError(ValueError):
    pass


def placement_read(head: bytes) -> Placement:
    """The UIDs of a Part 10 file from its first bytes (no pixel data needed)."""
    if len(head) < 132 or head[128:132] != b"DICM":
        raise PlacementError("not a DICOM Part 10 file (no preamble and 'DICM')")
    from pydicom.filereader import read_partial  # not at load time: ~60 MiB (reading.py)

    def after_series_uid(tag: BaseTag, vr: str | None, length: int) -> bool:
        return int(tag) > _SERIES_UID_TAG

    try:
        stream: BinaryIO = io.BytesIO(head)
        deflated = deflated_as_explicit(stream, limit=HEAD_BYTES)  # not inflated whole
        ds = read_partial(deflated[0] if deflated else stream, stop_when=after_series_uid)
        meta = ds.file_meta
        sop_instance = str(
            ds.get("SOPInstanceUID", "") or meta.get("MediaStorageSOPInstanceUID", "")
        )
        sop_class = str(ds.get("SOPClassUID", "") or meta.get("MediaStorageSOPClassUID", ""))
        study = str(ds.get("StudyInstanceUID", ""))
        series = str(ds.get("SeriesInstanceUID", ""))
        syntax = DEFLATED if deflated else str(meta.get("TransferSyntaxUID", ""))
        label = _label_of(ds)
    except parse_errors() as error:
        raise PlacementError(f"the header could not be read ({type(error).__name__})") from None
    for name, uid in (
        ("SOP Instance UID", sop_instance),
        ("SOP Class UID", sop_class),
        ("Study Instance UID", study),
        ("Series Instance UID", series),
    ):
        uid = uid.strip("\x00 ")
        if not uid:
            raise PlacementError(f"no {name} in the first {HEAD_BYTES // 1024} KiB")
        if len(uid) > 64 or not UID_SHAPE.match(uid):
            raise PlacementError(f"the {name} is not a DICOM UID")
    return Placement(
        sop_class_uid=sop_class.strip("\x00 "),
        sop_instance_uid=sop_instance.strip("\x00 "),
        study_instance_uid=study.strip("\x00 "),
        series_instance_uid=series.strip("\x00 "),
        transfer_syntax_uid=syntax.strip("\x00 "),
        label=label,
    )


def _label_of(ds: Dataset) -> str:
    """Patient and study as the auditor reads them; a value pydicom cannot decode is
    left out, never a reason to refuse the instance."""
    from imaging.names import study_label

    def text(keyword: str) -> str:
        try:
            return str(ds.get(keyword, "") or "").replace("\x00", "").strip()[:200]
        except (ValueError, TypeError, UnicodeError, LookupError):
            return ""

    try:
        return study_label(
            patient_name=text("PatientName"),
            patient_id=text("PatientID"),
            description=text("StudyDescription"),
            date=text("StudyDate"),
        )
    except (ValueError, TypeError, UnicodeError, LookupError):
        return ""


@dataclass
class Batch:
    """One STOW-RS request or one DIMSE association landing into one folder."""

    actor: User
    folder: Folder
    via: str  # "stow-rs" or "c-store"
    peer: str = ""  # the calling AE title, or the token's prefix
    expected_study: str = ""  # STOW-RS /studies/{uid}: others fail
    landed: list[Landed] = field(default_factory=list)
    studies: set[str] = field(default_factory=set)
    # Study UID -> the patient and study in words, for the audit event.
    study_labels: dict[str, str] = field(default_factory=dict)
    _folders: dict[tuple[Folder, str], Folder] = field(default_factory=dict)

    @property
    def stored(self) -> list[Landed]:
        return [item for item in self.landed if item.failure is None]

    @property
    def failed(self) -> list[Landed]:
        return [item for item in self.landed if item.failure is not None]

    def _subfolder(self, parent: Folder, name: str) -> Folder:
        cached = self._folders.get((parent, name))
        if cached is not None:
            return cached
        key = name_key(name)
        found = Folder.objects.filter(parent=parent, name_key=key, deleted_at__isnull=True).first()
        if found is None:
            try:
                found = file_services.folder_create(actor=self.actor, parent=parent, name=name)
            except NameClashError:
                # Another batch made it in the meantime (or a file holds the name).
                found = Folder.objects.filter(
                    parent=parent, name_key=key, deleted_at__isnull=True
                ).first()
                if found is None:
                    raise
        self._folders[(parent, name)] = found
        return found

    def instance_land(self, chunks: Iterable[bytes], *, size_hint: int | None = None) -> Landed:
        """Encrypt one instance's bytes as they come, then file it. Never raises for
        what the peer sent: the failure is in the returned ``Landed``."""
        limit, refusal = file_services.upload_limit_bytes(self.folder.space)
        ingest = BlobIngest(max_bytes=limit, refusal=refusal, size_hint=size_hint)
        head = bytearray()
        try:
            try:
                for chunk in chunks:
                    if len(head) < HEAD_BYTES:
                        head += chunk[: HEAD_BYTES - len(head)]
                    ingest.write(chunk)
            except QuotaExceededError as error:
                for _chunk in chunks:  # the rest of this part is skipped, not stored
                    pass
                return self._failed("", "", FailureReason.OUT_OF_RESOURCES, str(error))
            try:
                where = placement_read(bytes(head))
            except PlacementError as error:
                ingest.discard()
                return self._failed("", "", FailureReason.CANNOT_UNDERSTAND, str(error))
            if self.expected_study and where.study_instance_uid != self.expected_study:
                ingest.discard()
                return self._failed(
                    where.sop_class_uid,
                    where.sop_instance_uid,
                    FailureReason.DATA_SET_DOES_NOT_MATCH,
                    "not the study named in the request",
                )
            sealed = ingest.finish()
            try:
                series = self._subfolder(
                    self._subfolder(self.folder, where.study_instance_uid),
                    where.series_instance_uid,
                )
                version = file_services.file_upload(
                    actor=self.actor,
                    folder=series,
                    name=f"{where.sop_instance_uid}.dcm",
                    sealed=sealed,
                )
            except QuotaExceededError as error:
                ingest.discard()
                return self._failed(
                    where.sop_class_uid,
                    where.sop_instance_uid,
                    FailureReason.OUT_OF_RESOURCES,
                    str(error),
                )
            except FileRuleError as error:
                ingest.discard()
                return self._failed(
                    where.sop_class_uid,
                    where.sop_instance_uid,
                    FailureReason.PROCESSING_FAILURE,
                    str(error),
                )
        except BaseException:
            ingest.discard()
            raise
        self.studies.add(where.study_instance_uid)
        if where.label:
            self.study_labels.setdefault(where.study_instance_uid, where.label)
        landed = Landed(
            sop_class_uid=where.sop_class_uid,
            sop_instance_uid=where.sop_instance_uid,
            file_id=version.file_id,
        )
        self.landed.append(landed)
        return landed

    def instance_refuse(
        self, *, sop_class_uid: str, sop_instance_uid: str, reason: int, problem: str
    ) -> Landed:
        """An instance refused before its bytes were read (too large to hold)."""
        return self._failed(sop_class_uid, sop_instance_uid, reason, problem)

    def _failed(self, sop_class: str, sop_instance: str, reason: int, problem: str) -> Landed:
        landed = Landed(
            sop_class_uid=sop_class, sop_instance_uid=sop_instance, failure=reason, problem=problem
        )
        self.landed.append(landed)
        return landed

    def record(self) -> None:
        """The batch's one audit event (nothing when nothing was sent)."""
        if not self.landed:
            return
        failed = self.failed
        audit.record(
            action=Action.IMAGING_INGEST_STORE,
            outcome=Outcome.SUCCESS if not failed else Outcome.ERROR,
            actor=self.actor,
            target_type="files.folder",
            target_id=self.folder.pk,
            details={
                "via": self.via,
                "peer": self.peer,
                "stored": len(self.landed) - len(failed),
                "failed": len(failed),
                "studies": sorted(self.studies),
                # Who the studies are of, as the auditor reads it (first few).
                "study_name": "; ".join(
                    self.study_labels[uid] for uid in sorted(self.study_labels)[:5]
                ),
                "failures": [
                    {
                        "sop_instance_uid": item.sop_instance_uid,
                        "reason": f"0x{item.failure:04X}",
                        "problem": item.problem[:200],
                    }
                    for item in failed[:FAILURES_KEPT]
                    if item.failure is not None
                ],
            },
        )


def destination_folder(*, actor: User, folder_id: int) -> Folder:
    """The folder a batch lands in, if ``actor`` may add files to it (else 404)."""
    from files import selectors
    from files.selectors import Permission

    return selectors.folder_get_for_actor(actor=actor, folder_id=folder_id, need=Permission.EDIT)
