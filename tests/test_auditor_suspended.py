"""An auditor's access to colleagues' files is suspended while she holds the role.

Audrey became the hospital's auditor before the rule that keeps auditors out of teams
and shares (tests/test_separation_auditor.py): she is still a member of Cardiologie,
Alice still shares a letter with her, and a link Alice made reaches her inbox. Every
door to content is tried while she is signed in (the page, the download, the preview,
the thumbnail, the REST API, a ZIP, a copy, the listing, the search, "shared with me",
the link): each is refused with a 403 that says why, and the audit log names the file
and the reason. The administrators read on the people list that her access is
suspended; once her role is withdrawn, the access she still holds comes back.
"""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import pytest
from django.test import Client

from accounts import tokens
from accounts.models import Team, TeamMembership, User
from audit.actions import Action
from audit.models import AuditEvent
from audit.readable import readable_events
from files import services
from files.models import FileVersion
from sharing.models import Share
from sharing.services.links import share_link_create
from tests.files_helpers import Backend, body_of, root_of, version_store
from tests.helpers import client_signed_in
from tests.media_samples import jpeg_bytes

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("folder_backend", "small_segments", "rate_limit_cache"),
]

SUSPENDED = "Your access to colleagues&#x27; files is suspended: you are an auditor"


@pytest.fixture
def echo(owner: User, team: Team) -> FileVersion:
    """Mrs Dupont's echo in Cardiologie's space, a member's file like any other."""
    folder = services.space_root(services.space_team_get_or_create(team=team))
    return version_store(
        actor=owner, folder=folder, name="Dupont Marie - echo.jpg", content=jpeg_bytes()
    )


@pytest.fixture
def letter(owner: User) -> FileVersion:
    """A letter in Alice's own files."""
    return version_store(
        actor=owner, folder=root_of(owner), name="Lettre Martin.pdf", content=b"%PDF-1.4 lettre"
    )


@pytest.fixture
def older_conflict(auditor: User, team: Team, owner: User, letter: FileVersion) -> User:
    """What Audrey held before the rule: a membership and a share (written as rows, as
    they were made then; today's pages refuse both)."""
    TeamMembership.objects.create(team=team, user=auditor)
    Share.objects.create(file=letter.file, user=auditor, role="viewer", created_by=owner)
    return auditor


def withheld_events() -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(outcome="denied", details__reason="auditor_suspended").order_by(
            "pk"
        )
    )


def test_every_door_to_a_team_file_answers_403_and_says_why(
    older_conflict: User, echo: FileVersion, team: Team
) -> None:
    audrey = client_signed_in(older_conflict)
    file_id = echo.file_id
    doors = {
        "page": f"/files/{file_id}/",
        "download": f"/files/{file_id}/download/",
        "version": f"/files/{file_id}/versions/{echo.pk}/download/",
        "preview": f"/files/{file_id}/preview/",
        "thumbnail": f"/files/{file_id}/thumbnail/",
        "folder listing": f"/files/folders/{echo.file.folder_id}/",
        "team space": f"/files/teams/{team.slug}/",
    }
    for door, url in doors.items():
        answer = audrey.get(url)
        assert answer.status_code == 403, (door, answer.status_code)
        assert SUSPENDED in answer.content.decode(), door
        assert b"\xff\xd8" not in answer.content, door  # no JPEG byte
    # A ZIP of the ticked file, and a copy into her own files: refused too.
    archive = audrey.post("/sharing/selection/download/", {"file": str(file_id)})
    assert archive.status_code == 403
    copy = audrey.post(f"/files/{file_id}/copy/", {"copy-destination": root_of(older_conflict).pk})
    assert copy.status_code == 403
    assert not root_of(older_conflict).files.exists()
    events = withheld_events()
    assert len(events) == len(doors) + 2
    assert {event.details["name"] for event in events} >= {"Dupont Marie - echo.jpg"}
    assert events[0].details["path"] == "Cardiologie"
    assert all(str(event.actor_id) == str(older_conflict.pk) for event in events)


def test_her_api_token_from_before_the_rule_opens_nothing(
    older_conflict: User, echo: FileVersion
) -> None:
    """A token Audrey made before she was an auditor (a row, as made then): an auditor
    holds no token (docs/api.md), so it is refused outright, 401, before any file is
    looked up, the refusal recorded with the reason, and the token revoked."""
    User.objects.filter(pk=older_conflict.pk).update(is_auditor=False)
    _token, plaintext = tokens.token_create(
        actor=older_conflict, name="Poste audit", scopes=["read"], expires_in_days=30
    )
    User.objects.filter(pk=older_conflict.pk).update(is_auditor=True)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    for url in (
        f"/api/v1/files/{echo.file_id}/",
        f"/api/v1/files/{echo.file_id}/content/",
        "/api/v1/files/spaces/",
    ):
        answer = api.get(url)
        assert answer.status_code == 401, url
        assert "Cardiologie" not in answer.content.decode()
    refused = AuditEvent.objects.filter(action=Action.ACCOUNTS_TOKEN_USE, outcome="denied")
    # Refused as an auditor's, and revoked at once: then refused as revoked.
    assert [event.details["reason"] for event in refused.order_by("pk")] == [
        "auditor",
        "revoked",
        "revoked",
    ]


def test_a_file_shared_with_her_is_refused_and_its_name_not_listed(
    older_conflict: User, letter: FileVersion
) -> None:
    audrey = client_signed_in(older_conflict)
    assert audrey.get(f"/files/{letter.file_id}/download/").status_code == 403
    # Names of colleagues' files are patient data: not in her lists nor her searches.
    inbox = audrey.get("/sharing/shared-with-me/").content.decode()
    assert "Lettre Martin" not in inbox
    assert "1 share made to you is suspended: you are an auditor" in inbox
    assert "Lettre Martin" not in audrey.get("/files/search/", {"q": "Martin"}).content.decode()
    [event] = withheld_events()
    assert event.details["name"] == "Lettre Martin.pdf"
    assert event.details["path"] == "Alice Martin"  # whose files, not an id


def test_a_link_opened_signed_in_as_the_auditor_is_refused_in_her_name(
    older_conflict: User, owner: User, echo: FileVersion
) -> None:
    _link, token = share_link_create(actor=owner, target=echo.file)
    audrey = client_signed_in(older_conflict)
    for url in (f"/s/{token}/", f"/s/{token}/files/{echo.file_id}/"):
        answer = audrey.get(url)
        assert answer.status_code == 403, url
        assert "An auditor cannot open this link" in answer.content.decode()
    [event, _download] = withheld_events()
    assert event.action == Action.SHARING_LINK_ACCESS
    assert str(event.actor_id) == str(older_conflict.pk)
    assert event.details["name"] == "Dupont Marie - echo.jpg"
    # The link itself still works for whoever it was sent to.
    assert Client().get(f"/s/{token}/").status_code == 200


def test_the_console_names_the_file_and_the_reason(older_conflict: User, echo: FileVersion) -> None:
    client_signed_in(older_conflict).get(f"/files/{echo.file_id}/download/")
    [row] = readable_events(withheld_events())
    assert row.what == "Dupont Marie - echo.jpg"
    assert "an auditor reads no file content" in row.note


def test_her_own_files_stay_hers(older_conflict: User) -> None:
    note = version_store(
        actor=older_conflict, folder=root_of(older_conflict), name="Plan d'audit.txt", content=b"x"
    )
    audrey = client_signed_in(older_conflict)
    assert body_of(audrey.get(f"/files/{note.file_id}/download/")) == b"x"


def test_the_people_list_says_access_is_suspended_until_resolved(
    site_admin: User, older_conflict: User, echo: FileVersion
) -> None:
    listing = client_signed_in(site_admin).get("/accounts/admin/users/").content.decode()
    assert "Auditors whose access to colleagues' files is suspended" in listing
    assert "until you resolve it" in listing
    page = client_signed_in(site_admin).get(f"/accounts/admin/users/{older_conflict.pk}/")
    assert "this access is suspended until you resolve it" in page.content.decode()


def test_access_comes_back_when_the_role_is_withdrawn(
    older_conflict: User, echo: FileVersion
) -> None:
    """A suspension, not a removal: nothing was deleted behind the administrators' backs."""
    User.objects.filter(pk=older_conflict.pk).update(is_auditor=False)
    older_conflict.refresh_from_db()
    answer = client_signed_in(older_conflict).get(f"/files/{echo.file_id}/download/")
    assert answer.status_code == 200


def test_an_outsider_still_gets_a_404_that_confirms_nothing(
    auditor: User, echo: FileVersion
) -> None:
    """An auditor with no team and no share gets what everyone outside gets."""
    assert client_signed_in(auditor).get(f"/files/{echo.file_id}/").status_code == 404
    assert not withheld_events()


def test_a_study_in_a_folder_shared_with_her_is_refused_by_patient_name(
    auditor: User, owner: User, folder_backend: Backend
) -> None:
    """The imaging pages find content through the DICOM index: the same suspension."""
    from imaging.models import Instance, Study
    from tests.dicom_factory import ct_study
    from tests.test_imaging_pages import stored_study

    generated = ct_study(instances_per_series=(2, 2))
    stored_study(owner, generated)
    indexed = Study.objects.get(study_instance_uid=generated.study_instance_uid)
    scanner = root_of(owner).children.get(name="CD")
    Share.objects.create(folder=scanner, user=auditor, role="viewer", created_by=owner)
    audrey = client_signed_in(auditor)
    instance = Instance.objects.filter(series__study=indexed, file__folder=scanner).first()
    assert instance is not None
    for url in (f"/imaging/studies/{indexed.pk}/", f"/imaging/instances/{instance.pk}/"):
        answer = audrey.get(url)
        assert answer.status_code == 403, url
        assert SUSPENDED in answer.content.decode()
    assert "data-study=" not in audrey.get("/imaging/studies/").content.decode()
    study_refusal, instance_refusal = withheld_events()
    assert study_refusal.action == Action.IMAGING_STUDY_VIEW
    assert instance_refusal.action == Action.IMAGING_INSTANCE_VIEW
    assert study_refusal.details["study_name"] == indexed.audit_label


def test_her_file_request_left_open_takes_no_more_uploads(owner: User) -> None:
    """Alice opened a drop box for the lab, then became the auditor (before the rule):
    outsiders' results would keep arriving in her files. The request answers 410 to the
    lab, as a closed one does, and the log says why."""
    import datetime as dt

    from django.utils import timezone

    from sharing.services import file_requests

    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Résultats")
    _request, token = file_requests.file_request_create(
        actor=owner, folder=folder, title="Bilans", expires_at=timezone.now() + dt.timedelta(days=3)
    )
    assert Client().get(f"/r/{token}/").status_code == 200
    User.objects.filter(pk=owner.pk).update(is_auditor=True)
    assert Client().get(f"/r/{token}/").status_code == 410
    refusal = AuditEvent.objects.filter(action=Action.SHARING_REQUEST_REFUSE).latest("pk")
    assert refusal.details["reason"] == "auditor_suspended"
