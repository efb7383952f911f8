"""A radiologist's study lands in SecureDrive as loose files, a ZIP or a CD image: once
the scanner has passed it, its DICOM headers are read from the decrypting stream and the
study, its series and instances are indexed (docs/imaging.md)."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent
from files import services
from files.models import FileVersion, ScanStatus
from imaging.models import IndexKind, Instance, Series, Study, VersionIndex
from tests.dicom_factory import ct_study, pydicom_edge_cases, study_zip
from tests.files_helpers import Backend, root_of, version_store

pytestmark = pytest.mark.django_db


def stored_clean(
    capture: Any, *, actor: User, name: str, content: bytes, folder: Any = None
) -> FileVersion:
    """Uploaded, then passed by the scanner: the verdict's commit enqueues the index."""
    version = version_store(
        actor=actor, folder=folder or root_of(actor), name=name, content=content, clean=False
    )
    with capture(execute=True):
        services.version_mark_scanned(version=version, status=ScanStatus.AVAILABLE)
    return version


def test_loose_files_in_two_folders_make_one_study_with_its_series(
    owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    study = ct_study(instances_per_series=(4, 3))
    root = root_of(owner)
    elsewhere = services.folder_create(actor=owner, parent=root, name="Arrived later")
    for position, instance in enumerate(study.instances):
        stored_clean(
            django_capture_on_commit_callbacks,
            actor=owner,
            name=instance.path.replace("/", "_"),
            content=instance.data,
            folder=root if position % 2 else elsewhere,
        )

    indexed = Study.objects.get(study_instance_uid=study.study_instance_uid)
    assert indexed.patient_name == "DUPONT^MARIE^CLAIRE"
    assert indexed.patient_id == "SD-PAT-0042"
    assert indexed.accession_number == "ACC-2026-0815"
    assert str(indexed.study_date) == "2026-04-12"
    series = list(indexed.series.order_by("series_number"))
    assert [(s.modality, s.body_part, s.instances.count()) for s in series] == [
        ("CT", "CHEST", 4),
        ("CT", "CHEST", 3),
    ]
    rle = Instance.objects.filter(series=series[1]).first()
    assert rle is not None
    assert rle.transfer_syntax_uid == "1.2.840.10008.1.2.5"
    events = AuditEvent.objects.filter(action=Action.IMAGING_VERSION_INDEX)
    assert events.count() == 7
    assert "DUPONT" not in str(list(events.values_list("details", flat=True)))


def test_study_zip_is_indexed_member_by_member(
    owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    study = ct_study(instances_per_series=(5, 4), burned_in_series=True)
    archive = study_zip(study, extra={"README.TXT": b"Burned by CD writer 3000\n" * 20})
    version = stored_clean(
        django_capture_on_commit_callbacks, actor=owner, name="scanner export", content=archive
    )

    index = VersionIndex.objects.get(version=version)
    assert index.kind == IndexKind.ZIP
    assert index.instances == 11
    members = set(Instance.objects.filter(version=version).values_list("member", flat=True))
    assert {instance.path for instance in study.instances} == members
    flagged = Instance.objects.filter(version=version, burned_in_annotation="YES").count()
    assert flagged == 2


def test_cd_image_with_dicomdir_is_recognised(
    owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    study = ct_study(instances_per_series=(3,))
    archive = study_zip(study, with_dicomdir=True)
    version = stored_clean(
        django_capture_on_commit_callbacks, actor=owner, name="cd.zip", content=archive
    )
    assert VersionIndex.objects.get(version=version).instances == 3

    dicomdir = pydicom_edge_cases()["dicomdir"].read_bytes()
    alone = stored_clean(
        django_capture_on_commit_callbacks, actor=owner, name="DICOMDIR", content=dicomdir
    )
    assert VersionIndex.objects.get(version=alone).kind == IndexKind.DICOMDIR


@pytest.mark.parametrize("case", ["implicit_little", "big_endian", "deflated", "jpeg_baseline"])
def test_pydicom_edge_cases_are_indexed(
    case: str, owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    content = pydicom_edge_cases()[case].read_bytes()
    version = stored_clean(
        django_capture_on_commit_callbacks, actor=owner, name=f"{case}.dcm", content=content
    )
    assert VersionIndex.objects.get(version=version).kind == IndexKind.PART10
    assert Instance.objects.filter(version=version).count() == 1


def test_not_dicom_and_broken_headers_are_recorded_not_raised(
    owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    text = stored_clean(
        django_capture_on_commit_callbacks, actor=owner, name="notes.dcm", content=b"hello" * 50
    )
    assert VersionIndex.objects.get(version=text).kind == IndexKind.NOT_DICOM
    good = ct_study(instances_per_series=(1,)).instances[0].data
    broken = good[:200]  # a truncated header after the "DICM" magic
    cut = stored_clean(
        django_capture_on_commit_callbacks, actor=owner, name="cut.dcm", content=broken
    )
    assert VersionIndex.objects.get(version=cut).kind in {IndexKind.UNREADABLE, IndexKind.PART10}
    assert Series.objects.count() <= 1


def test_quarantined_files_are_never_read(
    owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    data = ct_study(instances_per_series=(1,)).instances[0].data
    version = version_store(
        actor=owner, folder=root_of(owner), name="x.dcm", content=data, clean=False
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.version_mark_scanned(version=version, status=ScanStatus.QUARANTINED)
    assert not VersionIndex.objects.exists()
    assert not Study.objects.exists()


def test_index_dicom_catches_up_versions_readable_before_the_imaging_app(
    owner: User, folder_backend: Backend
) -> None:
    """Files scanned clean while no index task ran (the app did not exist, or the broker
    was down at the verdict) are found by the catch-up command, once."""
    from io import StringIO

    from django.core.management import call_command

    study = ct_study(instances_per_series=(2,))
    # Stored clean with no commit: the receiver's task never runs.
    for instance in study.instances:
        version_store(
            actor=owner,
            folder=root_of(owner),
            name=instance.path.replace("/", "_"),
            content=instance.data,
        )
    version_store(actor=owner, folder=root_of(owner), name="notes.txt", content=b"not dicom")
    pending = version_store(
        actor=owner,
        folder=root_of(owner),
        name="pending.dcm",
        content=study.instances[0].data,
        clean=False,
    )
    assert not Instance.objects.exists()

    out = StringIO()
    call_command("index_dicom", stdout=out)
    assert "2 versions read. part10: 2" in out.getvalue()
    assert Instance.objects.count() == 2
    assert Study.objects.filter(study_instance_uid=study.study_instance_uid).exists()
    assert not VersionIndex.objects.filter(version=pending).exists()  # not readable yet

    again = StringIO()
    call_command("index_dicom", stdout=again)
    assert "0 versions read." in again.getvalue()
