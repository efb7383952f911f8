"""Synthetic DICOM studies for tests and benches: no data from real patients.

``ct_study()`` builds a multi-series CT study (a body phantom: ellipses that change from
slice to slice, Hounsfield units stored with a rescale) as Part 10 files in memory, each
series in a chosen transfer syntax: Explicit VR Little Endian (uncompressed) or RLE
Lossless, which pydicom encodes by itself (no JPEG encoder is installed: none is needed
for a lossless compressed case, and dwv decodes RLE in the browser). Instances carry the
identifiers the PS3.15 Annex E profile removes (patient name, ID and birth date, the
accession number, institution, physicians, device serial number, a private tag holding
the patient's name, nested references), so de-identification tests have something to
find. ``study_zip()`` packs a study as a ZIP, optionally laid out like a CD (``DICOMDIR``
plus ``DICOM/…`` files, written by pydicom's ``FileSet``). ``pydicom_edge_cases()`` lists
pydicom's shipped test files worth feeding the indexer (big endian, implicit VR,
deflated, JPEG, a DICOMDIR).

Benches import this module too: ``ct_study(instances_per_series=(300, 300, 300))``.
"""

from __future__ import annotations

import contextlib
import io
import math
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.fileset import FileSet
from pydicom.sequence import Sequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    RLELossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

# Identifiers a test may look for in a de-identified copy: none may remain.
PATIENT_NAME = "DUPONT^MARIE^CLAIRE"
PATIENT_ID = "SD-PAT-0042"
PATIENT_BIRTH_DATE = "19610314"
ACCESSION_NUMBER = "ACC-2026-0815"
INSTITUTION_NAME = "Hopital Saint-Exemple"
REFERRING_PHYSICIAN = "MARTIN^PAUL"
OPERATOR_NAME = "LEROY^ANNE"
DEVICE_SERIAL = "SN-CT-99871"
STATION_NAME = "CTROOM2"
STUDY_ID = "ST4242"
PRIVATE_CREATOR = "SECUREDRIVE TEST"

IDENTIFYING_VALUES = (
    "DUPONT",
    PATIENT_ID,
    PATIENT_BIRTH_DATE,
    ACCESSION_NUMBER,
    INSTITUTION_NAME,
    "MARTIN",
    "LEROY",
    DEVICE_SERIAL,
    STATION_NAME,
)


@dataclass(frozen=True)
class SeriesSpec:
    description: str
    instances: int
    body_part: str = "CHEST"
    transfer_syntax: UID = ExplicitVRLittleEndian
    modality: str = "CT"
    slice_thickness_mm: float = 2.5
    # Secondary capture with text burned into the pixels (screenshots, annotated keys).
    burned_in: bool = False


@dataclass
class Instance:
    """One generated Part 10 file."""

    path: str  # a relative path a person might have: "CT_THORAX/S1/IM0001.dcm"
    data: bytes
    sop_instance_uid: str
    series_instance_uid: str
    dataset: Dataset = field(repr=False)


@dataclass
class Study:
    study_instance_uid: str
    patient_name: str
    patient_id: str
    accession_number: str
    study_date: str
    description: str
    series_uids: list[str]
    instances: list[Instance]

    def series_of(self, series_uid: str) -> list[Instance]:
        return [item for item in self.instances if item.series_instance_uid == series_uid]


def _phantom(rows: int, columns: int, slice_index: int, slices: int) -> np.ndarray:
    """A chest-like slice in Hounsfield units: body, two lungs, a spine, a lesion."""
    y, x = np.mgrid[0:rows, 0:columns].astype(np.float32)
    cy, cx = rows / 2, columns / 2
    position = slice_index / max(1, slices - 1)
    image = np.full((rows, columns), -1000.0, dtype=np.float32)  # air
    body = ((x - cx) / (columns * 0.45)) ** 2 + ((y - cy) / (rows * 0.35)) ** 2 <= 1
    image[body] = 40.0  # soft tissue
    lung_scale = 0.8 + 0.4 * math.sin(math.pi * position)
    for side in (-1, 1):
        lung = ((x - cx - side * columns * 0.2) / (columns * 0.14 * lung_scale)) ** 2 + (
            (y - cy) / (rows * 0.24 * lung_scale)
        ) ** 2 <= 1
        image[lung] = -850.0
    spine = ((x - cx) / (columns * 0.06)) ** 2 + ((y - cy - rows * 0.24) / (rows * 0.06)) ** 2 <= 1
    image[spine] = 700.0
    lesion_radius = max(1.0, rows * 0.04 * math.sin(math.pi * position))
    lesion = (x - cx - columns * 0.2) ** 2 + (y - cy + rows * 0.05) ** 2 <= lesion_radius**2
    image[lesion] = 60.0
    noise = np.random.default_rng(slice_index).normal(0, 8, size=(rows, columns))
    return (image + noise).astype(np.float32)


def _file_meta(sop_class: UID, sop_instance: str, transfer_syntax: UID) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = UID(sop_instance)
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    return meta


def _identified_dataset(study: Study, *, study_time: str) -> Dataset:
    ds = Dataset()
    ds.PatientName = study.patient_name
    ds.PatientID = study.patient_id
    ds.PatientBirthDate = PATIENT_BIRTH_DATE
    ds.PatientSex = "F"
    ds.PatientAge = "065Y"
    ds.OtherPatientIDsSequence = Sequence([Dataset()])
    ds.OtherPatientIDsSequence[0].PatientID = study.patient_id + "-OLD"
    ds.OtherPatientIDsSequence[0].IssuerOfPatientID = INSTITUTION_NAME
    ds.StudyInstanceUID = study.study_instance_uid
    ds.StudyDate = study.study_date
    ds.StudyTime = study_time
    ds.StudyDescription = study.description
    ds.StudyID = STUDY_ID
    ds.AccessionNumber = study.accession_number
    ds.ReferringPhysicianName = REFERRING_PHYSICIAN
    ds.OperatorsName = OPERATOR_NAME
    ds.InstitutionName = INSTITUTION_NAME
    ds.InstitutionAddress = "1 rue de l'Exemple, 75000 Paris"
    ds.StationName = STATION_NAME
    ds.DeviceSerialNumber = DEVICE_SERIAL
    ds.Manufacturer = "SecureDrive Test Factory"
    ds.ManufacturerModelName = "Synthetic CT"
    return ds


def _instance(
    study: Study,
    spec: SeriesSpec,
    *,
    series_uid: str,
    series_number: int,
    frame_of_reference: str,
    index: int,
    rows: int,
    columns: int,
    first_sop_uid: str | None,
) -> tuple[Dataset, str]:
    sop_class = SecondaryCaptureImageStorage if spec.burned_in else CTImageStorage
    sop_uid = generate_uid()
    ds = _identified_dataset(study, study_time="101500")
    ds.file_meta = _file_meta(sop_class, sop_uid, ExplicitVRLittleEndian)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.Modality = "OT" if spec.burned_in else spec.modality
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.SeriesDescription = spec.description
    ds.SeriesDate = study.study_date
    ds.BodyPartExamined = spec.body_part
    ds.FrameOfReferenceUID = frame_of_reference
    ds.InstanceNumber = index + 1
    ds.ContentDate = study.study_date
    ds.AcquisitionDateTime = study.study_date + "101512.250000"
    ds.ImageType = ["DERIVED", "SECONDARY"] if spec.burned_in else ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.BurnedInAnnotation = "YES" if spec.burned_in else "NO"
    ds.PatientPosition = "HFS"
    z = -index * spec.slice_thickness_mm
    ds.ImagePositionPatient = [-(columns * 0.7) / 2, -(rows * 0.7) / 2, z]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.SliceLocation = z
    ds.SliceThickness = spec.slice_thickness_mm
    ds.PixelSpacing = [0.7, 0.7]
    ds.KVP = 120
    if first_sop_uid is not None:
        reference = Dataset()
        reference.ReferencedSOPClassUID = sop_class
        reference.ReferencedSOPInstanceUID = first_sop_uid
        ds.ReferencedImageSequence = Sequence([reference])
    block = ds.private_block(0x0011, PRIVATE_CREATOR, create=True)
    block.add_new(0x01, "LO", study.patient_name)  # vendors do this: the profile drops it
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12 if not spec.burned_in else 16, 11
    ds.PixelRepresentation = 0
    if spec.burned_in:
        ds.HighBit = 15
        pixels = np.zeros((rows, columns), dtype=np.uint16)
        pixels[rows // 4 : rows // 4 + max(2, rows // 16), 2 : columns - 2] = 4000  # "text"
    else:
        hounsfield = _phantom(rows, columns, index, spec.instances)
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
        ds.WindowCenter, ds.WindowWidth = 40, 400
        pixels = np.clip(hounsfield + 1024, 0, 4095).astype(np.uint16)
    ds.PixelData = pixels.tobytes()
    ds["PixelData"].VR = "OW"
    if spec.transfer_syntax != ExplicitVRLittleEndian:
        # Lossless: the same instance, so the same SOP Instance UID.
        ds.compress(spec.transfer_syntax, encoding_plugin="pydicom", generate_instance_uid=False)
    return ds, sop_uid


def ct_study(
    *,
    instances_per_series: tuple[int, ...] = (12, 8),
    transfer_syntaxes: tuple[UID, ...] | None = None,
    rows: int = 64,
    columns: int = 64,
    patient_name: str = PATIENT_NAME,
    patient_id: str = PATIENT_ID,
    accession_number: str = ACCESSION_NUMBER,
    study_date: str = "20260412",
    description: str = "CT THORAX ABDOMEN",
    burned_in_series: bool = False,
    folder: str = "CT_THORAX",
) -> Study:
    """A CT study: one series per entry of ``instances_per_series``; by default the first
    series is uncompressed and the others RLE Lossless. ``burned_in_series`` adds a
    secondary-capture series flagged BurnedInAnnotation=YES (2 instances)."""
    study, instances = ct_study_stream(
        instances_per_series=instances_per_series,
        transfer_syntaxes=transfer_syntaxes,
        rows=rows,
        columns=columns,
        patient_name=patient_name,
        patient_id=patient_id,
        accession_number=accession_number,
        study_date=study_date,
        description=description,
        burned_in_series=burned_in_series,
        folder=folder,
    )
    study.instances.extend(instances)
    return study


def ct_study_stream(
    *,
    instances_per_series: tuple[int, ...] = (12, 8),
    transfer_syntaxes: tuple[UID, ...] | None = None,
    rows: int = 64,
    columns: int = 64,
    patient_name: str = PATIENT_NAME,
    patient_id: str = PATIENT_ID,
    accession_number: str = ACCESSION_NUMBER,
    study_date: str = "20260412",
    description: str = "CT THORAX ABDOMEN",
    burned_in_series: bool = False,
    folder: str = "CT_THORAX",
) -> tuple[Study, Iterator[Instance]]:
    """``ct_study`` one instance at a time, for studies larger than memory: the study
    (its ``instances`` left empty, its UIDs filled in as the iterator runs) and an
    iterator of instances, each generated when asked for."""
    syntaxes = transfer_syntaxes or tuple(
        ExplicitVRLittleEndian if number == 0 else RLELossless
        for number in range(len(instances_per_series))
    )
    descriptions = ["AXIAL 2.5mm SOFT TISSUE", "AXIAL 1.25mm LUNG", "CORONAL MPR", "SAGITTAL MPR"]
    body_parts = ["CHEST", "CHEST", "ABDOMEN", "ABDOMEN"]
    specs = [
        SeriesSpec(
            description=descriptions[number % len(descriptions)],
            instances=count,
            body_part=body_parts[number % len(body_parts)],
            transfer_syntax=syntaxes[number],
        )
        for number, count in enumerate(instances_per_series)
    ]
    if burned_in_series:
        specs.append(SeriesSpec(description="DOSE REPORT SCREEN", instances=2, burned_in=True))
    study = Study(
        study_instance_uid=generate_uid(),
        patient_name=patient_name,
        patient_id=patient_id,
        accession_number=accession_number,
        study_date=study_date,
        description=description,
        series_uids=[generate_uid() for _spec in specs],
        instances=[],
    )
    frame_of_reference = generate_uid()

    def instances() -> Iterator[Instance]:
        for number, spec in enumerate(specs, start=1):
            series_uid = study.series_uids[number - 1]
            first_sop_uid: str | None = None
            for index in range(spec.instances):
                ds, sop_uid = _instance(
                    study,
                    spec,
                    series_uid=series_uid,
                    series_number=number,
                    frame_of_reference=frame_of_reference,
                    index=index,
                    rows=rows,
                    columns=columns,
                    first_sop_uid=first_sop_uid,
                )
                first_sop_uid = first_sop_uid or sop_uid
                buffer = io.BytesIO()
                ds.save_as(buffer, enforce_file_format=True)
                yield Instance(
                    path=f"{folder}/S{number}/IM{index + 1:04d}.dcm",
                    data=buffer.getvalue(),
                    sop_instance_uid=sop_uid,
                    series_instance_uid=series_uid,
                    dataset=ds,
                )

    return study, instances()


@dataclass(frozen=True)
class WrittenZip:
    """A study ZIP written to disk by ``study_zips_write``."""

    path: Path
    size: int
    members: int


def study_zips_write(
    targets: dict[Path, dict[int, tuple[str, bytes]]], **study: Any
) -> tuple[Study, list[str], list[WrittenZip]]:
    """One generated study written as several stored ZIPs at once, instance by instance
    (memory holds one instance, whatever the study's size): ``targets`` maps each ZIP's
    path to extra members to insert before the instance of that position (e.g. an
    infected member in the middle). Returns the study, its SOP Instance UIDs and what
    was written. ``study`` takes ``ct_study``'s arguments."""
    header, instances = ct_study_stream(**study)
    sop_uids: list[str] = []
    with contextlib.ExitStack() as stack:
        archives = {
            path: stack.enter_context(
                zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True)
            )
            for path in targets
        }
        for position, instance in enumerate(instances):
            sop_uids.append(instance.sop_instance_uid)
            for path, archive in archives.items():
                if position in targets[path]:
                    name, data = targets[path][position]
                    archive.writestr(name, data)
                archive.writestr(instance.path, instance.data)
    written = [
        WrittenZip(path, path.stat().st_size, len(sop_uids) + len(extra))
        for path, extra in targets.items()
    ]
    return header, sop_uids, written


def study_zip(
    study: Study, *, with_dicomdir: bool = False, extra: dict[str, bytes] | None = None
) -> bytes:
    """The study as a ZIP (stored, as CD rippers and PACS exports do): the instances
    under their paths, or a CD layout with a ``DICOMDIR`` written by pydicom."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        if with_dicomdir:
            with tempfile.TemporaryDirectory() as scratch:
                fileset = FileSet()
                for instance in study.instances:
                    fileset.add(instance.dataset)
                fileset.write(scratch)
                root = Path(scratch)
                for path in sorted(root.rglob("*")):
                    if path.is_file():
                        archive.write(path, str(path.relative_to(root)))
        else:
            for instance in study.instances:
                archive.writestr(instance.path, instance.data)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def pydicom_edge_cases() -> dict[str, Path]:
    """pydicom's shipped test files that exercise the indexer's edge cases."""
    from pydicom.data import get_testdata_file

    wanted = {
        "implicit_little": "MR_small_implicit.dcm",
        "big_endian": "MR_small_bigendian.dcm",
        "deflated": "image_dfl.dcm",
        "jpeg_baseline": "SC_rgb_jpeg_dcmtk.dcm",
        "rle": "MR_small_RLE.dcm",
        "no_preamble": "no_meta.dcm",
        "dicomdir": "DICOMDIR",
        "ct": "CT_small.dcm",
    }
    found: dict[str, Path] = {}
    for key, name in wanted.items():
        path = get_testdata_file(name)
        if path is not None:
            found[key] = Path(str(path))
    return found
