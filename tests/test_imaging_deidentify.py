"""A radiologist sends a CT study to a colleague outside the hospital, de-identified:
SecureDrive makes a copy under the PS3.15 Annex E basic profile (pseudonym, UIDs
replaced consistently within the study, dates shifted or kept, private tags removed),
scans it like any upload, leaves out by default the series that may show names in their
pixels, and the recipient downloads the copy only, never the original. The auditor's
history of the original shows what the recipient downloaded."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pydicom
import pytest
from django.core import mail
from django.test import Client

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from files.models import File, FileVersion, ScanStatus
from imaging.models import Series, Study
from imaging.profile import Deidentifier
from sharing.models import SharingPolicy, Transfer, TransferItem
from tests.dicom_factory import (
    IDENTIFYING_VALUES,
    PATIENT_NAME,
    PRIVATE_CREATOR,
    ct_study,
)
from tests.dicom_factory import Study as GeneratedStudy
from tests.files_helpers import body_of
from tests.helpers import client_signed_in
from tests.test_imaging_pages import stored_study

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clamd")]

LINK_PATTERN = re.compile(r"https?://[^\s\"<>]+/s/([A-Za-z0-9_-]{43})/")


@pytest.fixture
def study(owner: User) -> tuple[GeneratedStudy, Study]:
    """Two CT series (loose files and a ZIP, one RLE) and a screen capture flagged
    BurnedInAnnotation=YES."""
    generated = ct_study(instances_per_series=(3, 2), burned_in_series=True)
    stored_study(owner, generated)
    return generated, Study.objects.get(study_instance_uid=generated.study_instance_uid)


def _original_uids(generated: GeneratedStudy) -> set[str]:
    uids = {generated.study_instance_uid, *generated.series_uids}
    for instance in generated.instances:
        uids.add(instance.sop_instance_uid)
        uids.add(str(instance.dataset.FrameOfReferenceUID))
    return uids


def _share(client: Client, indexed: Study, **fields: Any) -> Any:
    return client.post(f"/imaging/studies/{indexed.pk}/share/", fields)


def _share_made(client: Client, indexed: Study, capture: Any, **fields: Any) -> Any:
    """Asked on the form, made by the worker (eager here, after the commit), then the
    sender's progress page sends them on."""
    with capture(execute=True):
        asked = _share(client, indexed, **fields)
    assert asked.status_code == 302, asked.content.decode()[:2000]
    assert re.search(r"/imaging/deidentify/\d+/$", asked["Location"])
    return client.get(asked["Location"])


def _default_series(client: Client, indexed: Study) -> list[str]:
    """The series the form ticks by default."""
    html = client.get(f"/imaging/studies/{indexed.pk}/share/").content.decode()
    return re.findall(r'name="series" value="(\d+)" id="series-\d+" checked', html)


def _assert_deidentified(data: bytes, generated: GeneratedStudy) -> pydicom.Dataset:
    """None of the profile's identifiers, none of the original UIDs, no private tag."""
    for value in IDENTIFYING_VALUES:
        assert value.encode() not in data, value
    for uid in _original_uids(generated):
        assert uid.encode() not in data, uid
    assert PRIVATE_CREATOR.encode() not in data
    ds = pydicom.dcmread(io.BytesIO(data))
    assert str(ds.PatientName).startswith("ANON-")
    assert ds.PatientID == str(ds.PatientName)
    assert not ds.get("PatientBirthDate")
    assert not ds.get("AccessionNumber")
    assert not ds.get("ReferringPhysicianName")
    assert ds.get("InstitutionName") in (None, "", "ANONYMIZED")
    assert "OtherPatientIDsSequence" not in ds
    assert not any(element.tag.is_private for element in ds.iterall())
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    return ds


@pytest.mark.usefixtures("transfers_without_code")
def test_a_deidentified_transfer_reaches_the_recipient_without_identifiers(
    owner: User,
    auditor: User,
    study: tuple[GeneratedStudy, Study],
    django_capture_on_commit_callbacks: Any,
) -> None:
    generated, indexed = study
    client = client_signed_in(owner)
    page = client.get(f"/imaging/studies/{indexed.pk}/")
    assert "Share de-identified…" in page.content.decode()

    # The form warns before anything is made, and leaves the screen capture unticked.
    form = client.get(f"/imaging/studies/{indexed.pk}/share/").content.decode()
    assert 'id="share-burned-in"' in form
    assert "DOSE REPORT SCREEN" in form
    burned = Series.objects.get(study=indexed, series_description="DOSE REPORT SCREEN")
    ticked = _default_series(client, indexed)
    assert len(ticked) == 2
    assert str(burned.pk) not in ticked

    made = _share_made(
        client,
        indexed,
        django_capture_on_commit_callbacks,
        series=ticked,
        dates="shift",
        send_as="transfer",
    )
    assert made.status_code == 302, made.content.decode()[:2000]
    transfer = Transfer.objects.get(pk=int(made["Location"].rstrip("/").rsplit("/", 1)[-1]))
    event = AuditEvent.objects.get(action=Action.IMAGING_STUDY_DEIDENTIFY)
    pseudonym = event.details["pseudonym"]
    assert pseudonym in transfer.subject
    assert PATIENT_NAME.split("^")[0] not in transfer.subject
    assert event.details["instances"] == 5
    assert event.details["options"]["dates"] == "shifted"
    assert event.details["warnings"]["burned_in_excluded"] == 1
    assert event.details["warnings"]["burned_in_included"] == []
    transfer_page = client.get(made["Location"]).content.decode()
    assert pseudonym in transfer_page  # the sender is told the pseudonym

    # The copy: new files, scanned afresh by clamd (no inherited verdict), each linked
    # to the original it came from; the transfer references the copies only.
    items = list(TransferItem.objects.filter(transfer=transfer).select_related("version"))
    assert len(items) == 5
    originals = {
        str(pk)
        for pk in FileVersion.objects.filter(derived_from__isnull=True)
        .exclude(file__folder__name__startswith="ANON-")
        .values_list("pk", flat=True)
    }
    for item in items:
        assert item.version.derived_from_id is not None
        assert str(item.version.derived_from_id) in originals
        assert item.version.source_version_id is None
        assert item.version.scan_status == ScanStatus.AVAILABLE
        folder = item.file.folder
        assert folder.name.startswith(pseudonym)
        assert folder.parent is not None
        assert folder.parent.name == "De-identified copies"
    uploads = AuditEvent.objects.filter(
        action=Action.FILES_FILE_UPLOAD, details__derived_from__isnull=False
    )
    assert uploads.count() == 5

    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post(
            f"/sharing/transfers/{transfer.pk}/send/",
            {"recipients": "dr.avis@clinique.example", "recipient_language": "en"},
        )
    assert sent.status_code == 302, sent.content.decode()[:2000]
    found = LINK_PATTERN.search(str(mail.outbox[-1].body))
    assert found is not None
    token = found.group(1)
    recipient = Client()
    listing = recipient.get(f"/s/{token}/").content.decode()
    for item in items:
        assert item.file.name in listing
    assert "export.zip" not in listing  # the originals are not there
    assert not re.search(r"[^_]IM0001\.dcm", listing)

    # Each file downloaded alone, and the whole as a ZIP: read back with pydicom.
    singles: dict[str, bytes] = {}
    for item in items:
        response = recipient.get(f"/s/{token}/files/{item.file_id}/")
        assert response.status_code == 200
        singles[item.file.name] = body_of(response)
    archive = zipfile.ZipFile(io.BytesIO(body_of(recipient.get(f"/s/{token}/archive/"))))
    zipped = {name.rsplit("/", 1)[-1]: archive.read(name) for name in archive.namelist()}
    assert zipped == singles

    datasets = [_assert_deidentified(data, generated) for data in singles.values()]
    # One study, the two series kept apart with their instance counts, a consistent
    # frame of reference, and references pointing at the new instance UIDs.
    assert len({ds.StudyInstanceUID for ds in datasets}) == 1
    assert sorted(Counter(ds.SeriesInstanceUID for ds in datasets).values()) == [2, 3]
    assert len({ds.FrameOfReferenceUID for ds in datasets}) == 1
    sop_uids = {ds.SOPInstanceUID for ds in datasets}
    assert len(sop_uids) == 5
    for ds in datasets:
        for reference in ds.get("ReferencedImageSequence", []):
            assert reference.ReferencedSOPInstanceUID in sop_uids
    # The screen capture that may show names stayed home.
    assert all(ds.Modality == "CT" for ds in datasets)
    # Dates moved back by one offset, for every date of every file; times kept.
    original_day = dt.date(2026, 4, 12)
    shifts = set()
    for ds in datasets:
        study_day = dt.datetime.strptime(ds.StudyDate, "%Y%m%d").date()  # noqa: DTZ007
        assert ds.SeriesDate == ds.StudyDate == ds.ContentDate
        assert ds.AcquisitionDateTime.startswith(ds.StudyDate)
        assert ds.AcquisitionDateTime.endswith("101512.250000")
        assert ds.StudyTime == "101500"
        assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
        shifts.add((original_day - study_day).days)
    assert len(shifts) == 1
    assert shifts.pop() >= 365
    # The pixels are the original's, and the RLE series is still RLE.
    assert any(ds.file_meta.TransferSyntaxUID == pydicom.uid.RLELossless for ds in datasets)
    first = next(ds for ds in datasets if ds.InstanceNumber == 1 and "PixelData" in ds)
    assert first.pixel_array.shape == (64, 64)

    # Every recipient download names the original it was derived from, and the
    # auditor's history of an original shows the recipient's downloads of its copy.
    download = AuditEvent.objects.filter(
        action=Action.SHARING_LINK_DOWNLOAD, details__file=items[0].file_id
    ).first()
    assert download is not None
    assert download.details["derived_from"]["version"] == str(items[0].version.derived_from_id)
    original_file = items[0].version.derived_from.file  # type: ignore[union-attr]
    history = client_signed_in(auditor).get("/audit/file/", {"item": f"file:{original_file.pk}"})
    assert history.status_code == 200
    # One row per download by the recipient (alone or in the ZIP), its end joined to it.
    assert any(
        row.outside and row.event.action == Action.FILES_VERSION_DOWNLOAD and row.completed
        for row in history.context["rows"]
    )


def test_the_sender_may_include_the_burned_in_series_keep_dates_and_share_by_link(
    owner: User, study: tuple[GeneratedStudy, Study], django_capture_on_commit_callbacks: Any
) -> None:
    generated, indexed = study
    client = client_signed_in(owner)
    every = [str(pk) for pk in Series.objects.filter(study=indexed).values_list("pk", flat=True)]
    made = _share_made(
        client,
        indexed,
        django_capture_on_commit_callbacks,
        series=every,
        dates="keep",
        send_as="link",
    )
    assert made.status_code == 302
    assert re.search(r"/sharing/folders/\d+/links/$", made["Location"])
    followed = client.get(made["Location"]).content.decode()
    assert "may show names written into the pixels" in followed
    assert "DOSE REPORT SCREEN" in followed

    event = AuditEvent.objects.get(action=Action.IMAGING_STUDY_DEIDENTIFY)
    assert event.details["options"]["dates"] == "kept"
    burned = Series.objects.get(study=indexed, series_description="DOSE REPORT SCREEN")
    assert event.details["warnings"]["burned_in_included"] == [burned.series_instance_uid]
    copies = File.objects.filter(pk__in=event.details["files"])
    assert copies.count() == 7
    for file in copies:
        assert file.current_version is not None
        data = b"".join(_plaintext(file.current_version))
        ds = _assert_deidentified(data, generated)
        assert ds.StudyDate == "20260412"
        assert ds.LongitudinalTemporalInformationModified == "UNMODIFIED"


def _plaintext(version: FileVersion) -> Any:
    from imaging.reading import instance_bytes

    return instance_bytes(version, "")


def test_two_deidentifications_are_not_linkable(study: tuple[GeneratedStudy, Study]) -> None:
    generated, _indexed = study
    first, second = Deidentifier(), Deidentifier()
    uid = generated.study_instance_uid
    assert first.uid(uid) == first.uid(uid)
    assert first.uid(uid) != second.uid(uid)
    assert first.pseudonym != second.pseudonym
    assert first.uid(uid).startswith("2.25.")
    assert len(first.uid(uid)) <= 64


def test_nothing_is_made_when_the_policy_forbids_sharing_outside(
    owner: User, study: tuple[GeneratedStudy, Study]
) -> None:
    _generated, indexed = study
    policy = SharingPolicy.current()
    policy.external_sharing = "nobody"
    policy.save()
    client = client_signed_in(owner)
    answer = _share(
        client, indexed, series=_default_series(client, indexed), dates="shift", send_as="transfer"
    )
    assert answer.status_code == 403
    # The refusal is audited where it is decided; nothing was made.
    [refused] = AuditEvent.objects.filter(action=Action.IMAGING_STUDY_DEIDENTIFY)
    assert (refused.outcome, refused.details["reason"]) == ("denied", "sharing policy")
    assert refused.target_id == str(indexed.pk)
    assert not FileVersion.objects.filter(derived_from__isnull=False).exists()


def test_no_series_chosen_is_a_clear_400(owner: User, study: tuple[GeneratedStudy, Study]) -> None:
    _generated, indexed = study
    answer = _share(client_signed_in(owner), indexed, dates="shift", send_as="transfer")
    assert answer.status_code == 400
    assert "Choose at least one series" in answer.content.decode()


def test_an_outsider_cannot_deidentify_someone_elses_study(
    outsider: User, study: tuple[GeneratedStudy, Study]
) -> None:
    _generated, indexed = study
    series = list(Series.objects.filter(study=indexed).values_list("pk", flat=True))
    answer = _share(
        client_signed_in(outsider), indexed, series=series, dates="shift", send_as="transfer"
    )
    assert answer.status_code == 404
    assert AuditEvent.objects.filter(
        action=Action.IMAGING_STUDY_VIEW, outcome=Outcome.DENIED, actor_id=outsider.pk
    ).exists()
    assert not FileVersion.objects.filter(derived_from__isnull=False).exists()


def test_the_sender_follows_the_copy_being_made_and_only_they_see_it(
    owner: User, teammate: User, study: tuple[GeneratedStudy, Study]
) -> None:
    """Before the worker has run, the page says how far it is and polls (htmx); someone
    else asking for it gets a 404."""
    from imaging.models import DeidentifyJob

    _generated, indexed = study
    client = client_signed_in(owner)
    asked = _share(
        client, indexed, series=_default_series(client, indexed), dates="shift", send_as="transfer"
    )
    assert asked.status_code == 302
    job = DeidentifyJob.objects.get()
    assert job.status == "pending"
    assert job.total_instances == 5
    page = client.get(asked["Location"])
    assert page.status_code == 200
    assert "0 of 5 images de-identified" in page.content.decode()
    assert 'hx-trigger="every 2s"' in page.content.decode()
    assert client_signed_in(teammate).get(asked["Location"]).status_code == 404

    from imaging.deidentify import deidentify_job_run

    assert deidentify_job_run(job_id=job.pk) == "done"
    assert deidentify_job_run(job_id=job.pk) is None  # a second delivery does nothing
    polled = client.get(asked["Location"], headers={"HX-Request": "true"})
    assert polled.status_code == 204
    assert polled["HX-Redirect"].startswith("/sharing/transfers/")
    assert FileVersion.objects.filter(derived_from__isnull=False).count() == 5


@pytest.mark.parametrize("source", ["factory", "CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm"])
def test_every_attribute_the_profile_names_is_removed_emptied_or_replaced(source: str) -> None:
    """Table E.1-1 attribute by attribute, on our CT and on pydicom's shipped files."""
    from pydicom.data import get_testdata_file

    from imaging.profile import Act, action_table

    if source == "factory":
        data = ct_study(instances_per_series=(1,)).instances[0].data
    else:
        path = get_testdata_file(source)
        assert path is not None
        data = Path(str(path)).read_bytes()
    original = pydicom.dcmread(io.BytesIO(data))
    copy = pydicom.dcmread(io.BytesIO(data))
    Deidentifier().apply(copy)
    table = action_table()
    checked = 0
    for element in original:
        tag = element.tag
        if tag.is_private:
            assert tag not in copy
            continue
        act = table.action(tag)
        if element.VR in ("DA", "DT") and tag.group != 0x0010:
            if element.value:
                assert copy[tag].value != element.value, element.keyword  # shifted
            continue
        if element.VR == "TM" and tag.group != 0x0010:
            continue
        if act is None or tag in (PATIENT_NAME_TAG, PATIENT_ID_TAG):
            continue
        checked += 1
        if act == Act.X:
            assert tag not in copy, element.keyword
        elif act in (Act.Z, Act.X_Z):
            assert tag not in copy or not copy[tag].value, element.keyword
        elif element.value not in (None, "", b"") and act != Act.X_Z_U:
            assert tag not in copy or copy[tag].value != element.value, element.keyword
    assert checked >= 3
    assert str(copy.PatientName).startswith("ANON-")
    assert not any(element.tag.is_private for element in copy.iterall())


PATIENT_NAME_TAG, PATIENT_ID_TAG = pydicom.tag.Tag(0x0010, 0x0010), pydicom.tag.Tag(0x0010, 0x0020)


def test_a_secondary_capture_is_treated_as_likely_burned_in_whatever_its_modality() -> None:
    """A screenshot stored as Secondary Capture with modality CT and no flag: warned."""
    from imaging.models import Instance, Series
    from imaging.selectors import SeriesView

    series = Series(modality="CT", series_instance_uid="1.2.3")
    plain = Instance(sop_class_uid="1.2.840.10008.5.1.4.1.1.2", burned_in_annotation="")
    capture = Instance(sop_class_uid="1.2.840.10008.5.1.4.1.1.7.4", burned_in_annotation="")
    assert not SeriesView(series, [plain]).burned_in
    assert SeriesView(series, [plain, capture]).burned_in


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_a_colleague_the_study_was_shared_with_cannot_send_it_outside_de_identified(
    owner: User, teammate: User, study: tuple[GeneratedStudy, Study], role: str
) -> None:
    """Tom reads Alice's CT through a share: he may look at it, not make himself a copy
    to send outside (de-identification may miss a name in the pixels). Only the people
    of the study's space send it out, as for the files themselves."""
    from files.models import Folder
    from sharing.models import ShareRole
    from sharing.services import shares

    _generated, indexed = study
    for name in ("Scanner", "CD"):
        folder = Folder.objects.get(name=name, space__owner=owner)
        shares.share_create(actor=owner, item=folder, recipient=teammate, role=ShareRole(role))
    tom = client_signed_in(teammate)
    page = tom.get(f"/imaging/studies/{indexed.pk}/")
    assert page.status_code == 200
    assert "study-share-deidentified" not in page.content.decode()  # not offered
    form = tom.get(f"/imaging/studies/{indexed.pk}/share/").content.decode()
    assert 'id="share-shared-with-me"' in form
    assert re.search(r'<button class="btn btn-primary" type="submit" disabled>', form)
    assert "study-share-deidentified" in (
        client_signed_in(owner).get(f"/imaging/studies/{indexed.pk}/").content.decode()
    )
    series = list(Series.objects.filter(study=indexed).values_list("pk", flat=True))

    answer = _share(tom, indexed, series=series, dates="shift", send_as="transfer")

    assert answer.status_code == 403
    assert "only the people of the space it belongs to" in answer.content.decode()
    assert not FileVersion.objects.filter(derived_from__isnull=False).exists()
    refused = AuditEvent.objects.get(
        action=Action.IMAGING_STUDY_DEIDENTIFY, outcome=Outcome.DENIED, actor_id=teammate.pk
    )
    assert refused.details["reason"] == "not_space_member"
