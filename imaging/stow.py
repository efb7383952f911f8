"""DICOMweb STOW-RS: ``POST …/studies[/{StudyInstanceUID}]`` (PS3.18 section 10.5).

The DICOMweb root is one folder: ``/api/v1/imaging/dicomweb/folders/<id>/`` (what a
PACS is configured with; its client appends ``studies``), or
``/api/v1/imaging/dicomweb/studies?folder=<id>``. A personal access token with the
``write`` scope (or a verified browser session) whose owner may add files to that folder.

The body is ``multipart/related; type="application/dicom"``, one Part 10 instance per
part, read from the WSGI stream by ``imaging.multipart`` and encrypted part by part as it
arrives (``imaging.ingest``): constant memory, never ``request.body``, nothing in
plaintext on disk. ``Content-Length`` is required: Django under WSGI cannot read a
chunked body (configure clients accordingly; Orthanc: ``"ChunkedTransfers": false``).

The answer is the PS3.18 Store Instances Response Module, in DICOM JSON
(``application/dicom+json``, the default) or the Native DICOM Model XML
(``Accept: application/dicom+xml``): ReferencedSOPSequence for what landed,
FailedSOPSequence with a Failure Reason for the rest; 200 when every instance landed,
202 when some did, 409 when none did. A stored instance is a file whose scan is pending:
it is readable (and indexed) once the scanner has passed it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree

from django.utils.translation import gettext as _
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import HasScope
from accounts.models import PersonalAccessToken, User
from accounts.permissions import signed_in_user
from audit import services as audit
from audit.actions import Action
from audit.models import Outcome
from core.errors import RuleError
from core.http import header_count, id_number
from files import selectors
from files.models import Folder
from files.uploads import MULTIPART_OVERHEAD_ALLOWANCE, UPLOAD_CHUNK_SIZE
from imaging.ingest import UID_SHAPE, Batch, FailureReason, Landed, destination_folder
from imaging.multipart import MultipartError, MultipartReader, boundary_check, media_type_parse

DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
DICOM_XML = "application/dicom+xml"
NATIVE_DICOM_NAMESPACE = "http://dicom.nema.org/PS3.19/models/NativeDICOM"

# Store Instances Response Module (PS3.18 Table 10.5.3-2).
FAILED_SOP_SEQUENCE = "00081198"
REFERENCED_SOP_SEQUENCE = "00081199"
REFERENCED_SOP_CLASS_UID = "00081150"
REFERENCED_SOP_INSTANCE_UID = "00081155"
FAILURE_REASON = "00081197"
_KEYWORDS = {
    FAILED_SOP_SEQUENCE: "FailedSOPSequence",
    REFERENCED_SOP_SEQUENCE: "ReferencedSOPSequence",
    REFERENCED_SOP_CLASS_UID: "ReferencedSOPClassUID",
    REFERENCED_SOP_INSTANCE_UID: "ReferencedSOPInstanceUID",
    FAILURE_REASON: "FailureReason",
}


class StowRefused(RuleError):
    """The request as a whole is refused (4xx); nothing further is read."""


class DicomJSONRenderer(JSONRenderer):
    media_type = DICOM_JSON
    format = "dicom-json"


class DicomXMLRenderer(BaseRenderer):
    """DICOM JSON (PS3.18 F.2) rewritten as the Native DICOM Model (PS3.19 A.1)."""

    media_type = DICOM_XML
    format = "dicom-xml"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        root = ElementTree.Element("NativeDicomModel", xmlns=NATIVE_DICOM_NAMESPACE)
        if isinstance(data, dict) and "detail" in data:  # an error, not a dataset
            ElementTree.SubElement(root, "Error").text = str(data["detail"])
        elif isinstance(data, dict):
            _xml_attributes(root, data)
        return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root)


def _xml_attributes(parent: ElementTree.Element, dataset: dict[str, Any]) -> None:
    for tag in sorted(dataset):
        element = dataset[tag]
        attribute = ElementTree.SubElement(
            parent,
            "DicomAttribute",
            {"tag": tag, "vr": element["vr"], "keyword": _KEYWORDS.get(tag, "")},
        )
        for number, value in enumerate(element.get("Value", []), start=1):
            if element["vr"] == "SQ":
                item = ElementTree.SubElement(attribute, "Item", number=str(number))
                _xml_attributes(item, value)
            else:
                ElementTree.SubElement(attribute, "Value", number=str(number)).text = str(value)


def stow_response_dataset(landed: list[Landed]) -> dict[str, Any]:
    """The Store Instances Response as DICOM JSON."""
    referenced = [
        {
            REFERENCED_SOP_CLASS_UID: {"vr": "UI", "Value": [item.sop_class_uid]},
            REFERENCED_SOP_INSTANCE_UID: {"vr": "UI", "Value": [item.sop_instance_uid]},
        }
        for item in landed
        if item.failure is None
    ]
    failed = []
    for item in landed:
        if item.failure is None:
            continue
        entry: dict[str, Any] = {FAILURE_REASON: {"vr": "US", "Value": [item.failure]}}
        # Unknown when the part could not be read: the attribute is then empty (type 2).
        for tag, uid in (
            (REFERENCED_SOP_CLASS_UID, item.sop_class_uid),
            (REFERENCED_SOP_INSTANCE_UID, item.sop_instance_uid),
        ):
            entry[tag] = {"vr": "UI", "Value": [uid]} if uid else {"vr": "UI"}
        failed.append(entry)
    dataset: dict[str, Any] = {}
    if referenced:
        dataset[REFERENCED_SOP_SEQUENCE] = {"vr": "SQ", "Value": referenced}
    if failed:
        dataset[FAILED_SOP_SEQUENCE] = {"vr": "SQ", "Value": failed}
    return dataset


def _peer(request: Request) -> str:
    token = request.auth
    return token.prefix if isinstance(token, PersonalAccessToken) else "session"


def _refusal_record(*, actor: User, request: Request, error: StowRefused, folder_id: int) -> None:
    audit.record(
        action=Action.IMAGING_INGEST_REFUSE,
        outcome=Outcome.DENIED,
        actor=actor,
        target_type="files.folder",
        target_id=folder_id,
        details={
            "via": "stow-rs",
            "peer": _peer(request),
            "status": error.status_code,
            "reason": str(error),
            "content_type": str(request.META.get("CONTENT_TYPE", ""))[:200],
        },
    )


def _boundary_of(request: Request) -> bytes:
    media = media_type_parse(str(request.META.get("CONTENT_TYPE", "")))
    if media.type != "multipart/related":
        raise StowRefused(
            _('Send the instances as multipart/related with type="application/dicom".'), 415
        )
    part_type = media.parameters.get("type", "").lower()
    if part_type != DICOM:
        raise StowRefused(
            _('Only multipart/related with type="application/dicom" is accepted (DICOM Part 10).'),
            415,
        )
    try:
        return boundary_check(media.parameters.get("boundary", ""))
    except MultipartError:
        raise StowRefused(_("The multipart boundary is missing or not valid."), 400) from None


def _declared_length(request: Request, folder: Folder) -> int:
    declared = header_count(request.META.get("CONTENT_LENGTH"))
    if declared is None or declared == 0:
        raise StowRefused(_("Content-Length is required (chunked bodies are not read)."), 411)
    # Framing aside, what the request carries must fit in the space; each instance is
    # checked again as it lands (other uploads may fill the space meanwhile).
    room = selectors.space_room_bytes(folder.space) + MULTIPART_OVERHEAD_ALLOWANCE
    if declared > room:
        raise StowRefused(_("This request is larger than the room left in the space."), 413)
    return declared


def stow(request: Request, *, folder_id: int | None, study_uid: str = "") -> Response:
    me = signed_in_user(request)
    if folder_id is None:
        folder_id = id_number(request.query_params.get("folder", ""))
        if folder_id is None:
            error = StowRefused(_("Name the destination folder in the address (folder=<id>)."), 400)
            _refusal_record(actor=me, request=request, error=error, folder_id=0)
            raise error
    folder = destination_folder(actor=me, folder_id=folder_id)  # 404, audited
    if study_uid and (len(study_uid) > 64 or not UID_SHAPE.match(study_uid)):
        error = StowRefused(_("The study in the address is not a DICOM UID."), 400)
        _refusal_record(actor=me, request=request, error=error, folder_id=folder.pk)
        raise error
    batch = Batch(actor=me, folder=folder, via="stow-rs", peer=_peer(request))
    batch.expected_study = study_uid
    try:
        boundary = _boundary_of(request)
        _declared_length(request, folder)
        reader = MultipartReader(request._request.read, boundary, chunk_size=UPLOAD_CHUNK_SIZE)
        for part in reader.parts():
            content_type = media_type_parse(part.content_type).type
            if content_type != DICOM:
                for _chunk in part.chunks:
                    pass
                batch.landed.append(
                    Landed(
                        sop_class_uid="",
                        sop_instance_uid="",
                        failure=FailureReason.CANNOT_UNDERSTAND,
                        problem=f"a part of type {content_type[:60]}",
                    )
                )
                continue
            batch.instance_land(part.chunks)
        if not batch.landed:
            raise StowRefused(_("The request holds no DICOM instance."), 400)
    except MultipartError as error:
        refusal = StowRefused(
            _("The multipart body is malformed (%(problem)s).") % {"problem": error}, 400
        )
        batch.record()
        _refusal_record(actor=me, request=request, error=refusal, folder_id=folder.pk)
        raise refusal from None
    except StowRefused as refusal:
        batch.record()
        _refusal_record(actor=me, request=request, error=refusal, folder_id=folder.pk)
        raise
    batch.record()
    stored, failed = len(batch.stored), len(batch.failed)
    status = 200 if not failed else 202 if stored else 409
    return Response(stow_response_dataset(batch.landed), status=status)


class StowView(APIView):
    # DICOMweb STOW-RS (PS3.18) has its own standard description; it is documented in
    # docs/imaging.md, not in SecureDrive's OpenAPI schema.
    schema = None
    permission_classes = [IsAuthenticated, HasScope("write")]
    renderer_classes = [DicomJSONRenderer, DicomXMLRenderer, JSONRenderer]
    parser_classes: list[Any] = []  # the view reads the stream itself

    def post(self, request: Request, folder_id: int | None = None, study_uid: str = "") -> Response:
        return stow(request, folder_id=folder_id, study_uid=study_uid)
