"""A clinician finds a patient's study by name, accession number, modality or date, opens
it (series grouped whatever folder the files arrived in) and its images reach the viewer
decrypted on the fly; nobody else sees it, and a colleague with a shared folder sees only
the part shared with them."""

from __future__ import annotations

import io
from typing import Any

import pydicom
import pytest

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from files import services
from imaging import services as imaging_services
from imaging.models import Instance, Study
from sharing.models import ShareRole
from sharing.services import shares
from tests.dicom_factory import Study as GeneratedStudy
from tests.dicom_factory import ct_study, study_zip
from tests.files_helpers import Backend, body_of, root_of, version_store
from tests.helpers import client_signed_in

pytestmark = pytest.mark.django_db


def stored_study(owner: User, study: GeneratedStudy, *, split: bool = False) -> None:
    """The first series as loose files in "Scanner", the rest as a ZIP in "CD"."""
    root = root_of(owner)
    loose = services.folder_create(actor=owner, parent=root, name="Scanner")
    cd = services.folder_create(actor=owner, parent=root, name="CD")
    first = study.series_uids[0]
    for instance in study.series_of(first):
        version = version_store(
            actor=owner, folder=loose, name=instance.path.rsplit("/", 1)[-1], content=instance.data
        )
        imaging_services.version_index(version_id=version.pk)
    rest = GeneratedStudy(
        **{
            **study.__dict__,
            "instances": [item for item in study.instances if item.series_instance_uid != first],
        }
    )
    archive = version_store(actor=owner, folder=cd, name="export.zip", content=study_zip(rest))
    imaging_services.version_index(version_id=archive.pk)


@pytest.fixture
def study(owner: User, folder_backend: Backend) -> tuple[GeneratedStudy, Study]:
    generated = ct_study(instances_per_series=(3, 2))
    stored_study(owner, generated)
    return generated, Study.objects.get(study_instance_uid=generated.study_instance_uid)


def test_the_study_page_groups_series_from_two_folders(
    owner: User, study: tuple[GeneratedStudy, Study]
) -> None:
    _generated, indexed = study
    page = client_signed_in(owner).get(f"/imaging/studies/{indexed.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "AXIAL 2.5mm SOFT TISSUE" in html
    assert "AXIAL 1.25mm LUNG" in html
    assert "3 images" in html
    assert "2 images" in html
    assert "export.zip" in html
    assert "IM0001.dcm" in html
    assert AuditEvent.objects.filter(action=Action.IMAGING_STUDY_VIEW, actor_id=owner.pk).exists()


def test_an_outsider_gets_404_for_the_study_and_its_images(
    owner: User, outsider: User, study: tuple[GeneratedStudy, Study]
) -> None:
    _generated, indexed = study
    client = client_signed_in(outsider)
    assert client.get(f"/imaging/studies/{indexed.pk}/").status_code == 404
    instance = Instance.objects.filter(series__study=indexed).first()
    assert instance is not None
    assert client.get(f"/imaging/instances/{instance.pk}/").status_code == 404
    refused = AuditEvent.objects.filter(actor_id=outsider.pk, outcome=Outcome.DENIED)
    assert refused.filter(action=Action.IMAGING_INSTANCE_VIEW).exists()
    assert client.get("/imaging/studies/?q=dupont").content.decode().count("data-study=") == 0


def test_a_colleague_with_the_shared_folder_sees_only_that_part(
    owner: User, teammate: User, study: tuple[GeneratedStudy, Study]
) -> None:
    _generated, indexed = study
    cd = root_of(owner).children.get(name="CD")
    shares.share_create(actor=owner, item=cd, recipient=teammate, role=ShareRole.VIEWER)
    html = client_signed_in(teammate).get(f"/imaging/studies/{indexed.pk}/").content.decode()
    assert "AXIAL 1.25mm LUNG" in html
    assert "AXIAL 2.5mm SOFT TISSUE" not in html


@pytest.mark.parametrize(
    "search",
    [
        "q=dupont marie",
        "q=Dupont^Marie",
        "q=sd-pat-0042",
        "q=ACC-2026-0815",
        "modality=ct",
        "from=2026-04-01&to=2026-04-30",
    ],
)
def test_search_finds_the_study_by_patient_accession_modality_and_date(
    search: str, owner: User, study: tuple[GeneratedStudy, Study]
) -> None:
    generated, _indexed = study
    html = client_signed_in(owner).get(f"/imaging/studies/?{search}").content.decode()
    assert f'data-study="{generated.study_instance_uid}"' in html


@pytest.mark.parametrize("search", ["q=martin", "modality=MR", "from=2026-05-01"])
def test_search_misses_what_does_not_match(
    search: str, owner: User, study: tuple[GeneratedStudy, Study]
) -> None:
    html = client_signed_in(owner).get(f"/imaging/studies/?{search}").content.decode()
    assert "data-study=" not in html


def test_an_image_reaches_the_viewer_decrypted_and_audited_with_lineage(
    owner: User, study: tuple[GeneratedStudy, Study]
) -> None:
    generated, indexed = study
    client = client_signed_in(owner)
    for instance in Instance.objects.filter(series__study=indexed):
        response = client.get(f"/imaging/instances/{instance.pk}/")
        assert response.status_code == 200
        assert response["Content-Type"] == "application/dicom"
        data = body_of(response)
        sent = {item.sop_instance_uid: item for item in generated.instances}
        assert instance.sop_instance_uid in sent, (instance.sop_instance_uid, list(sent))
        original = sent[instance.sop_instance_uid]
        assert data == original.data
        assert pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID == instance.sop_instance_uid
    event: Any = AuditEvent.objects.filter(action=Action.IMAGING_INSTANCE_VIEW).last()
    assert event.details["path"].startswith("/CD/") or event.details["path"].startswith("/Scanner/")
    assert "version" in event.details


def test_a_malformed_date_is_a_clear_400(owner: User, study: tuple[GeneratedStudy, Study]) -> None:
    answer = client_signed_in(owner).get("/imaging/studies/?from=soon")
    assert answer.status_code == 400
    assert "YYYY-MM-DD" in answer.content.decode()


def test_the_studies_page_is_in_the_navigation(owner: User, folder_backend: Backend) -> None:
    html = client_signed_in(owner).get("/files/", follow=True).content.decode()
    assert 'id="nav-studies"' in html
    assert 'href="/imaging/studies/"' in html


def test_the_patient_is_named_as_a_person_reads_it_on_the_list_and_the_study_page(
    owner: User, study: tuple[GeneratedStudy, Study]
) -> None:
    """DICOM stores DUPONT^MARIE^CLAIRE; French hospital software shows the family name
    in capitals, then the given names."""
    _generated, indexed = study
    client = client_signed_in(owner)
    for url in ("/imaging/studies/?q=dupont", f"/imaging/studies/{indexed.pk}/"):
        html = client.get(url).content.decode()
        assert "DUPONT Marie Claire · SD-PAT-0042" in html
        assert "DUPONT^MARIE" not in html


@pytest.mark.parametrize(
    "query", ["DUPONT Marie", "Marie Dupont", "dupont^marie", "Claire, Dupont"]
)
def test_search_finds_the_patient_by_either_order_of_the_name(
    query: str, owner: User, study: tuple[GeneratedStudy, Study]
) -> None:
    generated, _indexed = study
    html = client_signed_in(owner).get("/imaging/studies/", {"q": query}).content.decode()
    assert f'data-study="{generated.study_instance_uid}"' in html
    assert "data-study=" in html
    miss = client_signed_in(owner).get("/imaging/studies/", {"q": "Marie Martin"})
    assert "data-study=" not in miss.content.decode()


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("DUPONT^MARIE^CLAIRE", "DUPONT Marie Claire"),
        ("Dupont^Marie-Hélène", "DUPONT Marie-Hélène"),
        ("DE LA FONTAINE^JEAN^^MME^JR", "Mme DE LA FONTAINE Jean, Jr"),
        ("Yamada^Tarou=山田^太郎=やまだ^たろう", "YAMADA Tarou"),
        ("ANON-G62JED4Z", "ANON-G62JED4Z"),
        ("", ""),
        ("^^^^", ""),
    ],
)
def test_person_names_read_in_words(raw: str, shown: str) -> None:
    from imaging.names import person_name_words

    assert person_name_words(raw) == shown


def test_the_auditor_reads_whose_study_was_opened_viewed_and_stored(
    owner: User, study: tuple[GeneratedStudy, Study]
) -> None:
    """An auditor asked "who looked at Mrs Dupont's CT?" reads the patient and the study
    in the events, not a row number: the study opened, an image viewed, the study
    stored by a PACS (the ingest names the studies it brought)."""
    from audit.readable import readable_events
    from imaging.ingest import Batch

    generated, indexed = study
    client = client_signed_in(owner)
    assert client.get(f"/imaging/studies/{indexed.pk}/").status_code == 200
    instance = Instance.objects.filter(series__study=indexed).first()
    assert instance is not None
    assert client.get(f"/imaging/instances/{instance.pk}/").status_code == 200
    batch = Batch(actor=owner, folder=root_of(owner), via="stow-rs", peer="PACS")
    batch.instance_land([generated.instances[0].data])
    batch.record()

    for action in (
        Action.IMAGING_STUDY_VIEW,
        Action.IMAGING_INSTANCE_VIEW,
        Action.IMAGING_INGEST_STORE,
    ):
        event = AuditEvent.objects.filter(action=action).last()
        assert event is not None
        [readable] = readable_events([event])
        assert "DUPONT Marie Claire" in readable.what, (action, readable.what)
        assert generated.description in readable.what, (action, readable.what)
