"""DICOM files come from modalities and from other hospitals' CDs and PACS: hostile
input. A file built to break the parser (sequences nested thousands deep, values of the
wrong representation) is refused with a reason and an audit event, never a 500, and
never hides the rest of the study it travels with; a de-identified copy keeps nothing of
the original's identifiers, wherever the sending software put them (docs/imaging.md)."""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import uuid
import warnings
import zipfile
import zlib
from typing import Any

import pydicom
import pytest
from django.test import Client
from pydicom.dataelem import DataElement

from accounts import tokens
from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from files import services
from imaging import services as imaging_services
from imaging.deidentify import study_deidentify
from imaging.ingest import FailureReason
from imaging.models import IndexKind, Instance, Study, VersionIndex
from imaging.profile import Deidentifier
from tests.dicom_factory import ct_study
from tests.files_helpers import Backend, root_of, version_store

pytestmark = pytest.mark.django_db

STOW = "/api/v1/imaging/dicomweb/folders/{folder}/studies"
# Deeper than Python's recursion limit: pydicom reads sequences recursively.
DEPTH = 3000


def _tag(group: int, element: int) -> bytes:
    return struct.pack("<HH", group, element)


def nested_sequences(depth: int, *, outer: tuple[int, int] = (0x0008, 0x1115)) -> bytes:
    """An explicit VR little endian sequence of undefined length whose one item holds
    another such sequence, ``depth`` times, all properly closed: valid DICOM, 20 bytes a
    level, so a 60 KB header."""
    opened = b""
    for level in range(depth):
        tag = outer if level == 0 else (0x0008, 0x1115)
        opened += _tag(*tag) + b"SQ\0\0" + b"\xff\xff\xff\xff"
        opened += _tag(0xFFFE, 0xE000) + b"\xff\xff\xff\xff"
    closed = (_tag(0xFFFE, 0xE00D) + b"\0\0\0\0" + _tag(0xFFFE, 0xE0DD) + b"\0\0\0\0") * depth
    return opened + closed


def with_nesting_in_header(data: bytes) -> bytes:
    """A CT slice with the nested sequence before the patient module (0010,0010), where
    every reader of the header meets it."""
    at = data.index(_tag(0x0010, 0x0010) + b"PN")
    return data[:at] + nested_sequences(DEPTH) + data[at:]


def with_nesting_after_pixels(data: bytes) -> bytes:
    """A CT slice whose header is sound, with a Digital Signatures Sequence nested
    ``DEPTH`` deep after the pixel data: the index never reads it, a whole read does."""
    return data + nested_sequences(DEPTH, outer=(0xFFFA, 0xFFFA))


def token_of(user: User, *scopes: str) -> str:
    _token, plaintext = tokens.token_create(
        actor=user, name=f"PACS {uuid.uuid4().hex[:6]}", scopes=list(scopes), expires_in_days=30
    )
    return plaintext


def multipart_related(parts: list[bytes], boundary: str) -> bytes:
    body = b""
    for data in parts:
        body += f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data + b"\r\n"
    return body + f"--{boundary}--\r\n".encode()


# --- Parsers meet a sequence nested 3,000 deep ---------------------------------------------


def test_stow_of_a_file_nested_thousands_deep_is_a_failed_instance_not_a_500(
    owner: User, folder_backend: Backend
) -> None:
    study = ct_study(instances_per_series=(2,))
    hostile = with_nesting_in_header(study.instances[1].data)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token_of(owner, 'write')}")

    response = client.post(
        STOW.format(folder=root_of(owner).pk),
        data=multipart_related([study.instances[0].data, hostile], "b0undary"),
        content_type='multipart/related; type="application/dicom"; boundary=b0undary',
    )

    assert response.status_code == 202, response.content[:500]
    failed = response.json()["00081198"]["Value"]
    assert [item["00081197"]["Value"] for item in failed] == [[FailureReason.CANNOT_UNDERSTAND]]
    stored = AuditEvent.objects.get(action=Action.IMAGING_INGEST_STORE)
    assert (stored.details["stored"], stored.details["failed"]) == (1, 1)
    assert "RecursionError" in stored.details["failures"][0]["problem"]


def test_a_hostile_member_does_not_hide_the_rest_of_its_zip_from_the_index(
    owner: User, folder_backend: Backend
) -> None:
    study = ct_study(instances_per_series=(3,))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("CD/IM1.dcm", study.instances[0].data)
        archive.writestr("CD/IM2.dcm", with_nesting_in_header(study.instances[1].data))
        archive.writestr("CD/IM3.dcm", study.instances[2].data)
    zipped = version_store(
        actor=owner, folder=root_of(owner), name="cd.zip", content=buffer.getvalue()
    )
    loose = version_store(
        actor=owner,
        folder=root_of(owner),
        name="alone.dcm",
        content=with_nesting_in_header(study.instances[1].data),
    )

    assert imaging_services.version_index(version_id=zipped.pk) == IndexKind.ZIP
    assert imaging_services.version_index(version_id=loose.pk) == IndexKind.UNREADABLE

    index = VersionIndex.objects.get(version=zipped)
    assert index.instances == 2
    assert index.problem == "CD/IM2.dcm: RecursionError"
    assert Instance.objects.filter(version=zipped).count() == 2
    assert VersionIndex.objects.get(version=loose).problem == "RecursionError"
    events = AuditEvent.objects.filter(action=Action.IMAGING_VERSION_INDEX)
    assert sorted(event.outcome for event in events) == [Outcome.ERROR, Outcome.SUCCESS]


def test_one_hostile_slice_is_left_out_of_a_deidentified_copy_not_the_whole_study(
    owner: User, folder_backend: Backend
) -> None:
    study = ct_study(instances_per_series=(3,))
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Scanner")
    for number, instance in enumerate(study.instances):
        data = with_nesting_after_pixels(instance.data) if number == 1 else instance.data
        version = version_store(actor=owner, folder=folder, name=f"IM{number}.dcm", content=data)
        imaging_services.version_index(version_id=version.pk)
    indexed = Study.objects.get(study_instance_uid=study.study_instance_uid)
    assert Instance.objects.count() == 3  # the header is sound: indexed, and viewable

    series = list(indexed.series.values_list("pk", flat=True))

    copy = study_deidentify(actor=owner, study_id=indexed.pk, series_ids=series)

    assert len(copy.files) == 2
    assert copy.skipped == ["IM1.dcm"]
    event = AuditEvent.objects.get(action=Action.IMAGING_STUDY_DEIDENTIFY)
    assert event.details["warnings"]["skipped"] == 1


# --- De-identification: identifiers where the profile's table does not look -----------------


def _deidentified(dataset: pydicom.Dataset) -> bytes:
    written = io.BytesIO()
    dataset.save_as(written, enforce_file_format=False)
    copy = pydicom.dcmread(io.BytesIO(written.getvalue()))
    Deidentifier().apply(copy)
    out = io.BytesIO()
    copy.save_as(out, enforce_file_format=True)
    return out.getvalue()


def test_the_128_byte_preamble_of_the_original_is_not_copied() -> None:
    """PS3.10 7.1: the preamble is free for applications (TIFF headers of dual-format
    files, a vendor's label): some write the patient there."""
    dataset = pydicom.dcmread(io.BytesIO(ct_study(instances_per_series=(1,)).instances[0].data))
    dataset.preamble = b"PATIENT DUPONT^MARIE 19610314".ljust(128, b"\0")

    result = _deidentified(dataset)

    assert b"DUPONT" not in result
    assert b"19610314" not in result
    assert result[:132] == b"\0" * 128 + b"DICM"


def test_an_identifier_stored_under_a_time_or_date_representation_is_not_kept() -> None:
    """The file says which representation (VR) a value has; a sender's software that
    writes the institution as a time (TM) or appends a station name to a date (DA) must
    not walk it through the copy: the standard's own VR of the attribute decides."""
    dataset = pydicom.dcmread(io.BytesIO(ct_study(instances_per_series=(1,)).instances[0].data))
    dataset.add(DataElement(0x00080080, "TM", "HOPITAL SAINT-EXEMPLE"))  # Institution Name
    dataset.add(DataElement(0x00081010, "DA", "20200101CTROOM2"))  # Station Name
    dataset.add(DataElement(0x00080020, "DA", "20260412 DUPONT^MARIE"))  # Study Date

    result = _deidentified(dataset)

    copy = pydicom.dcmread(io.BytesIO(result))
    assert b"SAINT-EXEMPLE" not in result
    assert b"CTROOM2" not in result
    assert b"DUPONT" not in result
    assert len(str(copy.StudyDate)) == 8  # still a (shifted) date
    assert str(copy.StudyDate) != "20260412"


def test_identifiers_in_attributes_the_table_misses_are_not_kept() -> None:
    """What a DPO expects gone although dicom-anonymizer's copy of Table E.1-1 has no row
    for it: the patient's birth date in another calendar, a reviewer's name, free-text
    comments, an overlay's label, a public attribute no dictionary knows (a vendor's
    misuse of an even group), at the top level and deep in a sequence."""
    dataset = pydicom.dcmread(io.BytesIO(ct_study(instances_per_series=(1,)).instances[0].data))
    secret = "DUPONTSECRET"
    misses = [
        (0x00100033, "LO", f"1340/01/01 {secret}"),  # Patient's Birth Date in Alt. Calendar
        (0x00100034, "LO", f"1400/01/01 {secret}"),  # Patient's Death Date in Alt. Calendar
        (0x00140104, "PN", f"{secret}^REVIEWER"),  # Secondary Reviewer Name
        (0x00142006, "PN", f"{secret}^EVALUATOR"),  # Evaluator Name
        (0x00400400, "LT", f"call {secret} on 06 12 34 56 78"),  # Comments on the SPS
        (0x0040A160, "UT", f"{secret} said it hurts"),  # Text Value
        (0x00420010, "ST", f"Report of {secret}"),  # Document Title
        (0x60000022, "LO", f"{secret} overlay"),  # Overlay Description
        (0x60001500, "LO", f"{secret} label"),  # Overlay Label
        (0x00669999, "LO", f"{secret} unknown"),  # in no dictionary
    ]
    for tag, vr, value in misses:
        dataset.add(DataElement(tag, vr, value))
    deep = pydicom.Dataset()
    deep.add(DataElement(0x00669999, "LO", f"{secret} deep"))
    deep.add(DataElement(0x00140104, "PN", f"{secret}^DEEP"))
    for _level in range(20):
        outer = pydicom.Dataset()
        outer.ReferencedImageSequence = pydicom.Sequence([deep])
        deep = outer
    dataset.DerivationCodeSequence = pydicom.Sequence([deep])

    result = _deidentified(dataset)

    assert secret.encode() not in result
    copy = pydicom.dcmread(io.BytesIO(result))
    assert str(copy.PatientName).startswith("ANON-")
    assert copy.Rows == dataset.Rows  # the image itself is still there


def test_the_originals_uids_in_attributes_the_table_misses_are_replaced_consistently() -> None:
    """An enhanced CT made of a concatenation, or converted from legacy slices, names the
    original instances' UIDs (SOP Instance UID of Concatenation Source, Multi-frame
    Source SOP Instance UID), and other frames of reference: kept, they link the copy
    back to the patient's study in the hospital's PACS. Replaced like every UID (the same
    new one for the same original), while the standard's own UIDs (classes) stay."""
    dataset = pydicom.dcmread(io.BytesIO(ct_study(instances_per_series=(1,)).instances[0].data))
    original = str(dataset.SOPInstanceUID)
    frame = str(dataset.FrameOfReferenceUID)
    dataset.add(DataElement(0x00200242, "UI", original))  # SOP Instance UID of Concat. Source
    dataset.add(DataElement(0x00081167, "UI", original))  # Multi-frame Source SOP Instance UID
    dataset.add(DataElement(0x00209313, "UI", frame))  # Table Frame of Reference UID
    dataset.add(DataElement(0x00083012, "UI", "1.2.3.4.5.6.7"))  # Radiopharm. Admin. Event

    copy = pydicom.dcmread(io.BytesIO(_deidentified(dataset)))

    assert original.encode() not in _deidentified(dataset)
    assert copy[0x00200242].value == copy.SOPInstanceUID  # the same original, the same new
    assert copy[0x00081167].value == copy.SOPInstanceUID
    assert copy[0x00209313].value == copy.FrameOfReferenceUID
    assert copy[0x00083012].value != "1.2.3.4.5.6.7"
    assert copy.SOPClassUID == dataset.SOPClassUID


# --- Values outside what the index stores ------------------------------------------------


def test_numbers_beyond_the_index_columns_do_not_keep_a_zip_out_of_the_index(
    owner: User, folder_backend: Backend
) -> None:
    """An IS value may be written with 12 characters: "999999999999" or "-99999999999"
    do not fit a 32-bit column; the instance is indexed without that number."""
    study = ct_study(instances_per_series=(3,))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for number, instance in enumerate(study.instances):
            dataset = pydicom.dcmread(io.BytesIO(instance.data))
            if number == 1:
                dataset.InstanceNumber = "999999999999"
                dataset.SeriesNumber = "-99999999999"
            written = io.BytesIO()
            dataset.save_as(written, enforce_file_format=True)
            archive.writestr(f"IM{number}.dcm", written.getvalue())
    zipped = version_store(
        actor=owner, folder=root_of(owner), name="cd.zip", content=buffer.getvalue()
    )

    assert imaging_services.version_index(version_id=zipped.pk) == IndexKind.ZIP

    assert Instance.objects.filter(version=zipped).count() == 3
    assert Instance.objects.get(member="IM1.dcm").instance_number is None
    assert AuditEvent.objects.get(action=Action.IMAGING_VERSION_INDEX).outcome == Outcome.SUCCESS


# --- Who may look: the viewer's doors after a share ends, in the trash, in quarantine -----


def test_the_viewer_closes_when_the_share_ends_the_file_is_trashed_or_quarantined(
    owner: User, teammate: User, folder_backend: Backend
) -> None:
    from files.models import File, ScanStatus
    from sharing.models import ShareRole
    from sharing.services import shares
    from tests.helpers import client_signed_in

    study = ct_study(instances_per_series=(3,))
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Scanner")
    versions = []
    for number, instance in enumerate(study.instances):
        version = version_store(
            actor=owner, folder=folder, name=f"IM{number}.dcm", content=instance.data
        )
        imaging_services.version_index(version_id=version.pk)
        versions.append(version)
    indexed = Study.objects.get(study_instance_uid=study.study_instance_uid)
    first, second, third = (Instance.objects.get(version=version) for version in versions)
    share = shares.share_create(actor=owner, item=folder, recipient=teammate, role=ShareRole.VIEWER)
    colleague, me = client_signed_in(teammate), client_signed_in(owner)
    assert colleague.get(f"/imaging/instances/{first.pk}/").status_code == 200

    shares.share_delete(actor=owner, share=share)
    assert colleague.get(f"/imaging/instances/{first.pk}/").status_code == 404
    assert colleague.get(f"/imaging/studies/{indexed.pk}/").status_code == 404

    services.file_delete(actor=owner, file=File.objects.get(pk=second.file_id))
    assert me.get(f"/imaging/instances/{second.pk}/").status_code == 404
    page = me.get(f"/imaging/studies/{indexed.pk}/").content.decode()
    assert f"/imaging/instances/{second.pk}/" not in page

    services.version_mark_scanned(version=versions[2], status=ScanStatus.QUARANTINED)
    refused = me.get(f"/imaging/instances/{third.pk}/")
    assert refused.status_code in (404, 409)
    denied = AuditEvent.objects.filter(action=Action.IMAGING_INSTANCE_VIEW, outcome=Outcome.DENIED)
    assert denied.count() == 3


def test_names_from_the_file_are_text_on_the_study_pages(
    owner: User, folder_backend: Backend
) -> None:
    from tests.helpers import client_signed_in

    script = "<script>alert(1)</script>"
    dataset = pydicom.dcmread(io.BytesIO(ct_study(instances_per_series=(1,)).instances[0].data))
    dataset.SpecificCharacterSet = "ISO_IR 192"
    dataset.PatientName = f"{script}^<img src=x onerror=alert(2)>"
    dataset.PatientID = script[:60]
    dataset.StudyDescription = script
    dataset.SeriesDescription = script
    dataset.InstitutionName = "\u202eTSEHC"
    written = io.BytesIO()
    dataset.save_as(written, enforce_file_format=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f'"><svg onload=alert(3)>/{"x" * 200}.dcm', written.getvalue())
    version = version_store(
        actor=owner, folder=root_of(owner), name="cd.zip", content=buffer.getvalue()
    )
    imaging_services.version_index(version_id=version.pk)
    indexed = Study.objects.get()
    client = client_signed_in(owner)

    for page in (f"/imaging/studies/{indexed.pk}/", "/imaging/studies/?q=script"):
        html = client.get(page).content.decode()
        assert "<script>alert" not in html
        assert "<img src=x" not in html
        assert "<svg onload" not in html
        assert "&lt;script&gt;" in html


def test_members_sharing_one_name_in_a_zip_are_not_indexed_as_each_other(
    owner: User, folder_backend: Backend
) -> None:
    """A ZIP may hold two members under one name; reading by name always opens the last.
    Indexed one by one, the first's row (a CT, not burned-in) served the second's bytes
    (another patient's screen capture) in the viewer and into a de-identified copy."""
    ct = ct_study(instances_per_series=(2,))
    capture = ct_study(instances_per_series=(1,), burned_in_series=True)
    screenshot = capture.instances[-1]
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile: "Duplicate name"
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("DICOM/IM1", ct.instances[0].data)
            archive.writestr("DICOM/IM1", screenshot.data)
            archive.writestr("DICOM/IM2", ct.instances[1].data)
    zipped = version_store(
        actor=owner, folder=root_of(owner), name="cd.zip", content=buffer.getvalue()
    )

    imaging_services.version_index(version_id=zipped.pk)

    index = VersionIndex.objects.get(version=zipped)
    assert list(Instance.objects.values_list("member", flat=True)) == ["DICOM/IM2"]
    assert "DICOM/IM1" in index.problem
    assert index.instances == 1


# --- Deflated data sets: a few KB that inflate to gigabytes ------------------------------


def deflated_bomb(inflated_mb: int) -> bytes:
    """A Part 10 file in Deflated Explicit VR Little Endian: a sound CT header, then a
    private OB value of ``inflated_mb`` MB of zeros (deflate shrinks zeros ~1000 times:
    100 MB travel as 100 KB), then the pixel data."""
    dataset = pydicom.dcmread(io.BytesIO(ct_study(instances_per_series=(1,)).instances[0].data))
    dataset.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    head = io.BytesIO()
    dataset.save_as(head, enforce_file_format=True)
    plain = head.getvalue()
    # The data set as written, deflated by hand around a huge private value before the
    # pixels: (0029,0010) creator, (0029,1000) OB of zeros.
    explicit = io.BytesIO()
    dataset.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    dataset.save_as(explicit, enforce_file_format=True)
    body = explicit.getvalue()[_meta_end(explicit.getvalue()) :]
    pixels = body.index(_tag(0x7FE0, 0x0010))
    size = inflated_mb * 1024 * 1024
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    out = [deflater.compress(body[:pixels])]
    out.append(deflater.compress(_tag(0x0029, 0x0010) + b"LO" + struct.pack("<H", 8) + b"HOSTILE "))
    out.append(deflater.compress(_tag(0x0029, 0x1000) + b"OB\0\0" + struct.pack("<I", size)))
    zeros = bytes(1024 * 1024)
    for _ in range(inflated_mb):
        out.append(deflater.compress(zeros))
    out.append(deflater.compress(body[pixels:]))
    out.append(deflater.flush())
    return plain[: _meta_end(plain)] + b"".join(out)


def _meta_end(part10: bytes) -> int:
    """After the file meta: preamble, "DICM", (0002,0000) UL and the group's length."""
    return 144 + int(struct.unpack("<I", part10[140:144])[0])


def _peak_mb(action: Any) -> float:
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1] / (1024 * 1024)
    finally:
        tracemalloc.stop()


def test_a_deflate_bomb_is_indexed_by_its_header_in_bounded_memory(
    owner: User, folder_backend: Backend
) -> None:
    """pydicom inflates a deflated data set whole before reading a byte of it: 200 KB
    uploaded made the index task allocate 200 MB (a few MB more, gigabytes)."""
    bomb = deflated_bomb(200)
    assert len(bomb) < 400_000
    version = version_store(actor=owner, folder=root_of(owner), name="bomb.dcm", content=bomb)

    peak = _peak_mb(lambda: imaging_services.version_index(version_id=version.pk))

    assert peak < 40, f"{peak:.0f} MB to read a header"
    assert VersionIndex.objects.get(version=version).kind == IndexKind.PART10
    instance = Instance.objects.get(version=version)
    assert instance.transfer_syntax_uid == pydicom.uid.DeflatedExplicitVRLittleEndian


def test_a_deflate_bomb_sent_by_stow_is_placed_in_bounded_memory(
    owner: User, folder_backend: Backend
) -> None:
    bomb = deflated_bomb(260)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token_of(owner, 'write')}")

    response: Any = None

    def send() -> None:
        nonlocal response
        response = client.post(
            STOW.format(folder=root_of(owner).pk),
            data=multipart_related([bomb], "b0undary"),
            content_type='multipart/related; type="application/dicom"; boundary=b0undary',
        )

    peak = _peak_mb(send)

    assert response.status_code == 200, response.content[:300]
    assert peak < 40, f"{peak:.0f} MB to place one instance"


def test_a_deflated_instance_inflating_beyond_the_limit_is_left_out_of_a_copy(
    owner: User, folder_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imaging import deidentify

    monkeypatch.setattr(deidentify, "INSTANCE_MAX_BYTES", 4 * 1024 * 1024)
    bomb = deflated_bomb(8)
    version = version_store(actor=owner, folder=root_of(owner), name="bomb.dcm", content=bomb)
    imaging_services.version_index(version_id=version.pk)
    indexed = Study.objects.get()
    sound = ct_study(instances_per_series=(1,)).instances[0]
    dataset = pydicom.dcmread(io.BytesIO(sound.data))
    dataset.StudyInstanceUID = indexed.study_instance_uid
    dataset.SeriesInstanceUID = indexed.series.get().series_instance_uid
    written = io.BytesIO()
    dataset.save_as(written, enforce_file_format=True)
    other = version_store(
        actor=owner, folder=root_of(owner), name="sound.dcm", content=written.getvalue()
    )
    imaging_services.version_index(version_id=other.pk)

    copy = study_deidentify(actor=owner, study_id=indexed.pk, series_ids=[indexed.series.get().pk])

    assert copy.skipped == ["bomb.dcm"]
    assert len(copy.files) == 1


def test_a_header_of_a_million_empty_items_is_refused_in_bounded_memory(
    owner: User, folder_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each item of an undefined-length sequence is 16 bytes in the file and a Python
    dataset in memory (~40 times more): 8 MB of empty items in the header took 336 MB
    of the index worker; a 500 MB upload, its memory. A header is read up to
    ``HEADER_MAX_BYTES`` (8 MiB; 1 MiB here, for time); beyond, it is unreadable."""
    from imaging import reading

    limit = 1024 * 1024
    monkeypatch.setattr(reading, "HEADER_MAX_BYTES", limit)
    item = _tag(0xFFFE, 0xE000) + b"\xff\xff\xff\xff" + _tag(0xFFFE, 0xE00D) + b"\0\0\0\0"
    items = item * (limit // len(item) + 1000)
    sequence = _tag(0x0008, 0x1115) + b"SQ\0\0\xff\xff\xff\xff" + items
    sequence += _tag(0xFFFE, 0xE0DD) + b"\0\0\0\0"
    data = ct_study(instances_per_series=(1,)).instances[0].data
    at = data.index(_tag(0x0010, 0x0010) + b"PN")
    hostile = data[:at] + sequence + data[at:]
    version = version_store(actor=owner, folder=root_of(owner), name="items.dcm", content=hostile)
    started = time.monotonic()

    peak = _peak_mb(lambda: imaging_services.version_index(version_id=version.pk))

    index = VersionIndex.objects.get(version=version)
    assert (index.kind, index.problem) == (IndexKind.UNREADABLE, "HeaderTooLargeError")
    assert peak < 100, f"{peak:.0f} MB to read a header"
    assert time.monotonic() - started < 60


def test_millions_of_items_after_the_pixels_are_left_out_of_a_copy_in_bounded_memory(
    owner: User, folder_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index stops at the pixel data; a de-identified copy reads everything, so the
    same budget (small reads: element and item headers, short values) applies there."""
    from imaging import reading

    limit = 1024 * 1024
    monkeypatch.setattr(reading, "HEADER_MAX_BYTES", limit)
    item = _tag(0xFFFE, 0xE000) + b"\xff\xff\xff\xff" + _tag(0xFFFE, 0xE00D) + b"\0\0\0\0"
    trailer = _tag(0xFFFA, 0xFFFA) + b"SQ\0\0\xff\xff\xff\xff"
    trailer += item * (limit // len(item) + 1000) + _tag(0xFFFE, 0xE0DD) + b"\0\0\0\0"
    study = ct_study(instances_per_series=(2,))
    for number, instance in enumerate(study.instances):
        data = instance.data + (trailer if number == 0 else b"")
        version = version_store(
            actor=owner, folder=root_of(owner), name=f"IM{number}.dcm", content=data
        )
        imaging_services.version_index(version_id=version.pk)
    indexed = Study.objects.get()
    series = list(indexed.series.values_list("pk", flat=True))

    peak = _peak_mb(lambda: study_deidentify(actor=owner, study_id=indexed.pk, series_ids=series))

    event = AuditEvent.objects.get(action=Action.IMAGING_STUDY_DEIDENTIFY)
    assert event.details["warnings"]["skipped"] == 1
    assert event.details["instances"] == 1
    assert peak < 100, f"{peak:.0f} MB for two slices"
