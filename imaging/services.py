"""Writes of the DICOM index: reading a readable version's headers into studies, series
and instances (the task's work), audited in the same transaction."""

from __future__ import annotations

import logging
import uuid

from django.db import transaction

from audit import services as audit
from audit.actions import Action
from audit.models import Outcome
from files.blobs import version_content
from files.crypto import BlobIntegrityError
from files.envelope import EnvelopeError
from files.models import FileVersion, ScanStatus
from files.names import name_search_key
from files.services import version_integrity_failure_record
from files.storage import BlobMissingError
from imaging.models import IndexKind, Instance, Series, Study, VersionIndex
from imaging.reading import Header, Reading, version_headers_read

logger = logging.getLogger(__name__)


def study_search_key(*, patient_name: str, patient_id: str, accession_number: str) -> str:
    """What search compares with: "^" separates the parts of a DICOM person name."""
    return name_search_key(" ".join([patient_name.replace("^", " "), patient_id, accession_number]))


def _readable(version: FileVersion) -> bool:
    return (
        version.scan_status in (ScanStatus.AVAILABLE, ScanStatus.NOT_SCANNED)
        and not version.integrity_failed
        and version.shredded_at is None
        and version_content(version).wrapped_data_key is not None
    )


def _study_for(header: Header, *, space_id: int) -> Study:
    study, _created = Study.objects.get_or_create(
        space_id=space_id,
        study_instance_uid=header.study_instance_uid,
        defaults={
            "patient_name": header.patient_name,
            "patient_id": header.patient_id,
            "patient_birth_date": header.patient_birth_date,
            "study_date": header.study_date,
            "study_description": header.study_description,
            "accession_number": header.accession_number,
            "search_key": study_search_key(
                patient_name=header.patient_name,
                patient_id=header.patient_id,
                accession_number=header.accession_number,
            ),
        },
    )
    return study


def _series_for(header: Header, *, study: Study) -> Series:
    series, _created = Series.objects.get_or_create(
        study=study,
        series_instance_uid=header.series_instance_uid,
        defaults={
            "series_number": header.series_number,
            "modality": header.modality,
            "series_description": header.series_description,
            "body_part": header.body_part,
        },
    )
    return series


def _index_write(version: FileVersion, reading: Reading) -> VersionIndex | None:
    with transaction.atomic():
        locked = (
            FileVersion.objects.select_for_update(no_key=True)
            .select_related("file")
            .filter(pk=version.pk)
            .first()
        )
        if (
            locked is None
            or not _readable(locked)
            or VersionIndex.objects.filter(version=locked).exists()
        ):
            return None
        studies: dict[str, Study] = {}
        series: dict[tuple[str, str], Series] = {}
        for header in reading.headers:
            study = studies.get(header.study_instance_uid)
            if study is None:
                study = studies[header.study_instance_uid] = _study_for(
                    header, space_id=locked.file.space_id
                )
            key = (header.study_instance_uid, header.series_instance_uid)
            if key not in series:
                series[key] = _series_for(header, study=study)
        Instance.objects.bulk_create(
            [
                Instance(
                    series=series[(header.study_instance_uid, header.series_instance_uid)],
                    file_id=locked.file_id,
                    version=locked,
                    member=header.member,
                    sop_instance_uid=header.sop_instance_uid,
                    sop_class_uid=header.sop_class_uid,
                    transfer_syntax_uid=header.transfer_syntax_uid,
                    instance_number=header.instance_number,
                    slice_location=header.slice_location,
                    burned_in_annotation=header.burned_in_annotation,
                )
                for header in reading.headers
            ],
            batch_size=500,
            ignore_conflicts=True,
        )
        index = VersionIndex.objects.create(
            version=locked,
            kind=reading.kind,
            instances=len(reading.headers),
            problem="\n".join(reading.problems),
        )
        audit.record(
            action=Action.IMAGING_VERSION_INDEX,
            outcome=Outcome.SUCCESS if reading.kind != IndexKind.UNREADABLE else Outcome.ERROR,
            actor=None,
            actor_label="system",
            target_type="files.version",
            target_id=locked.pk,
            details={
                "file": locked.file_id,
                "number": locked.number,
                "kind": str(reading.kind),
                "instances": len(reading.headers),
                "studies": sorted(studies),
                "series": len(series),
                "problems": reading.problem_count,
            },
        )
    return index


def version_index(*, version_id: uuid.UUID | str) -> str | None:
    """Index one readable version's DICOM content; returns the kind found, or None when
    there was nothing to do (already indexed, gone, or no longer readable)."""
    version = FileVersion.objects.select_related("file").filter(pk=version_id).first()
    if version is None or not _readable(version):
        return None
    if VersionIndex.objects.filter(version=version).exists():
        return None
    try:
        reading = version_headers_read(version)
    except (BlobIntegrityError, BlobMissingError, EnvelopeError) as error:
        version_integrity_failure_record(
            version=version, actor=None, error=error, during="dicom_index"
        )
        return None
    index = _index_write(version, reading)
    return None if index is None else str(index.kind)
