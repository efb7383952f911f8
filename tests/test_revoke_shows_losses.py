"""Before access is taken away for good, the one confirming reads what is lost, by name.

Tom works in Cardiologie: Planning.pdf, a team file, was shared with him by name; he
sent Mrs Dupont's echo (a team file) to a radiologist by link and by transfer, and
opened a file request into the team's folder for the lab; he also linked a note of his
own. Alice, his manager, revokes his membership in the quarter's access review (or Sam,
an administrator, removes him from the team page): the confirmation names the team he
leaves, the share that ends and each link, transfer and file request withdrawn, and
not his own note's link, which stays. Nothing happens before the second POST. A long
list shows its first names and how many more. Revoking a share outside the team names
the people it reached.
"""

# Fixtures are imported by name from tests.files_helpers and tests.withdrawal_helpers;
# pytest injects them.

from __future__ import annotations

import re
from typing import Any

import pytest

from accounts.models import Team, TeamMembership, TeamRole, User
from files import services as files
from files.models import File, Folder
from reviews import services as reviews
from reviews.models import AccessReview, ItemKind
from sharing.models import FileRequest, Share, ShareLink, Transfer
from sharing.services import file_requests, links
from tests.files_helpers import content_of, root_of, version_store
from tests.helpers import CONFIRMED, client_signed_in
from tests.withdrawal_helpers import RADIOLOGIST, transfer_sent, week

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("folder_backend", "small_segments", "transfers_without_code"),
]


@pytest.fixture
def planning(owner: User, team_folder: Folder, teammate: User) -> File:
    """A team file shared with Tom by name (before he joined, say)."""
    file = version_store(
        actor=owner, folder=team_folder, name="Planning.pdf", content=content_of(300)
    ).file
    Share.objects.create(file=file, user=teammate, role="editor", created_by=owner)
    return file


@pytest.fixture
def tom_opened(
    teammate: User,
    team: Team,
    team_folder: Folder,
    echo: File,
    planning: File,
    django_capture_on_commit_callbacks: Any,
) -> dict[str, Any]:
    """What Tom opened to outsiders: on the team's files, and on his own note."""
    link, _token = links.share_link_create(
        actor=teammate, target=echo, expires_at=week(), recipient_email=RADIOLOGIST
    )
    transfer_sent(teammate, "Echo Dupont", [echo], django_capture_on_commit_callbacks)
    request, _token = file_requests.file_request_create(
        actor=teammate, folder=team_folder, title="Bilans Dupont", expires_at=week()
    )
    note = version_store(
        actor=teammate, folder=root_of(teammate), name="Note perso.txt", content=b"x"
    ).file
    own_link, _token = links.share_link_create(actor=teammate, target=note, expires_at=week())
    return {"link": link, "request": request, "own_link": own_link}


def review_item(team: Team, kind: str, object_id: int) -> tuple[AccessReview, int]:
    reviews.access_reviews_open()
    review = AccessReview.objects.get(team=team)
    return review, review.items.get(kind=kind, object_id=object_id).pk


def nothing_withdrawn_yet(tom: User, team: Team) -> None:
    assert TeamMembership.objects.filter(team=team, user=tom).exists()
    assert not ShareLink.objects.filter(created_by=tom, revoked_at__isnull=False).exists()
    assert not Transfer.objects.filter(created_by=tom, revoked_at__isnull=False).exists()
    assert not FileRequest.objects.filter(created_by=tom, closed_at__isnull=False).exists()
    assert Share.objects.filter(user=tom).exists()


def test_revoking_a_member_in_a_review_names_what_he_loses_before_anything_ends(
    owner: User, teammate: User, team: Team, tom_opened: dict[str, Any]
) -> None:
    membership = TeamMembership.objects.get(team=team, user=teammate)
    review, item = review_item(team, ItemKind.MEMBER, membership.pk)
    alice = client_signed_in(owner)

    asked = alice.post(f"/reviews/{review.pk}/items/{item}/", {"decision": "revoked"})

    page = asked.content.decode()
    assert asked.status_code == 200
    assert "Tom Teammate can no longer open the files and folders of Cardiologie" in page
    assert "1 item of Cardiologie shared with Tom Teammate by name stops being shared" in page
    assert "Planning.pdf" in page
    assert (
        "3 things Tom Teammate opened to people outside on the files of Cardiologie are "
        "withdrawn" in page
    )
    assert "Link to “Dupont Marie - echo.jpg”" in page
    assert "Transfer “Echo Dupont”" in page
    assert "File request “Bilans Dupont” (closed)" in page
    assert "Note perso.txt" not in page  # his own note's link stays
    nothing_withdrawn_yet(teammate, team)

    alice.post(f"/reviews/{review.pk}/items/{item}/", {"decision": "revoked", **CONFIRMED})
    tom_opened["link"].refresh_from_db()
    tom_opened["own_link"].refresh_from_db()
    assert tom_opened["link"].revoked_at is not None
    assert tom_opened["own_link"].revoked_at is None
    assert not Share.objects.filter(file__name="Planning.pdf", user=teammate).exists()


def test_the_review_confirmation_reads_in_french(
    owner: User, teammate: User, team: Team, tom_opened: dict[str, Any]
) -> None:
    membership = TeamMembership.objects.get(team=team, user=teammate)
    review, item = review_item(team, ItemKind.MEMBER, membership.pk)

    asked = client_signed_in(owner).post(
        f"/reviews/{review.pk}/items/{item}/", {"decision": "revoked"}, HTTP_ACCEPT_LANGUAGE="fr"
    )

    page = asked.content.decode()
    assert (
        "Tom Teammate ne pourra plus ouvrir les fichiers et dossiers de l\u2019équipe "
        "Cardiologie" in page
    )
    assert "Lien vers «\u00a0Dupont Marie - echo.jpg\u00a0»" in page
    assert "Transfert «\u00a0Echo Dupont\u00a0»" in page
    assert "Demande de fichiers «\u00a0Bilans Dupont\u00a0» (close)" in page
    assert "1 élément de Cardiologie partagé nommément avec Tom Teammate" in page
    assert "Planning.pdf" in page
    assert "et 2 autres" not in page
    nothing_withdrawn_yet(teammate, team)


def test_a_long_list_shows_its_first_names_and_how_many_more(
    owner: User, teammate: User, team: Team, team_folder: Folder
) -> None:
    for number in range(1, 13):
        file = version_store(
            actor=owner, folder=team_folder, name=f"Patient {number:02d}.pdf", content=b"x"
        ).file
        links.share_link_create(actor=teammate, target=file, expires_at=week())
    membership = TeamMembership.objects.get(team=team, user=teammate)
    review, item = review_item(team, ItemKind.MEMBER, membership.pk)

    page = (
        client_signed_in(owner)
        .post(f"/reviews/{review.pk}/items/{item}/", {"decision": "revoked"})
        .content.decode()
    )

    assert "12 things Tom Teammate opened to people outside" in page
    assert "Link to “Patient 01.pdf”" in page
    assert "Link to “Patient 10.pdf”" in page
    assert "Patient 11.pdf" not in page
    assert "and 2 more" in page


def test_revoking_a_share_to_another_team_names_the_people_it_reached(
    owner: User, team: Team, planning: File, outsider: User
) -> None:
    emergencies = Team.objects.create(name="Urgences", slug="urgences")
    TeamMembership.objects.create(team=emergencies, user=outsider, role=TeamRole.MEMBER)
    share = Share.objects.create(file=planning, team=emergencies, role="viewer", created_by=owner)
    review, item = review_item(team, ItemKind.SHARE, share.pk)

    page = (
        client_signed_in(owner)
        .post(f"/reviews/{review.pk}/items/{item}/", {"decision": "revoked"})
        .content.decode()
    )

    assert "1 member of Urgences can no longer open “Planning.pdf” (viewer)" in page
    assert "Oscar Outsider" in page
    assert Share.objects.filter(pk=share.pk).exists()


def test_revoking_a_link_in_a_review_names_the_file_and_who_reads_it_withdrawn(
    owner: User, teammate: User, team: Team, tom_opened: dict[str, Any]
) -> None:
    review, item = review_item(team, ItemKind.LINK, tom_opened["link"].pk)

    page = (
        client_signed_in(owner)
        .post(f"/reviews/{review.pk}/items/{item}/", {"decision": "revoked"})
        .content.decode()
    )

    assert (
        "The link to “Dupont Marie - echo.jpg” that Tom Teammate sent to "
        f"{RADIOLOGIST} stops working" in page
    )
    tom_opened["link"].refresh_from_db()
    assert tom_opened["link"].revoked_at is None


def test_removing_him_from_the_team_page_names_the_same_losses(
    owner: User, teammate: User, team: Team, tom_opened: dict[str, Any]
) -> None:
    """Alice, Cardiologie's manager, answers for its files: she reads their names."""
    membership = TeamMembership.objects.get(team=team, user=teammate)

    page = (
        client_signed_in(owner)
        .post(f"/accounts/teams/{team.slug}/members/{membership.pk}/remove/")
        .content.decode()
    )

    assert "Tom Teammate can no longer open the files and folders of Cardiologie" in page
    assert "Planning.pdf" in page
    assert "Link to “Dupont Marie - echo.jpg”" in page
    assert "Transfer “Echo Dupont”" in page
    assert "File request “Bilans Dupont” (closed)" in page
    assert "Note perso.txt" not in page
    nothing_withdrawn_yet(teammate, team)


def test_an_administrator_who_does_not_manage_the_team_reads_counts_not_file_names(
    site_admin: User, teammate: User, team: Team, tom_opened: dict[str, Any]
) -> None:
    """Sam manages accounts, not Cardiologie's files: removing Tom, he reads how many
    of each kind end, never "Dupont Marie - echo.jpg" (a patient's name)."""
    membership = TeamMembership.objects.get(team=team, user=teammate)

    page = (
        client_signed_in(site_admin)
        .post(f"/accounts/teams/{team.slug}/members/{membership.pk}/remove/")
        .content.decode()
    )

    assert "Tom Teammate can no longer open the files and folders of Cardiologie" in page
    assert "1 item of Cardiologie shared with Tom Teammate by name stops being shared" in page
    assert "3 things Tom Teammate opened to people outside on the files of Cardiologie" in page
    assert "1 link" in page
    assert "1 transfer (files in it: 1)" in page
    assert "1 file request (closed)" in page
    for name in ["Planning.pdf", "Dupont Marie - echo.jpg", "Echo Dupont", "Bilans Dupont"]:
        assert name not in page
    nothing_withdrawn_yet(teammate, team)


def escalated_review(team: Team) -> AccessReview:
    reviews.access_reviews_open()
    review = AccessReview.objects.get(team=team)
    AccessReview.objects.filter(pk=review.pk).update(escalated_at=review.opened_at)
    review.refresh_from_db()
    return review


def test_an_escalated_review_names_no_file_to_an_administrator_who_does_not_manage_the_team(
    site_admin: User,
    teammate: User,
    team: Team,
    planning: File,
    tom_opened: dict[str, Any],
    outsider: User,
) -> None:
    """The review escalated to Sam: he decides who keeps access, from whom it reaches
    and what kind of item it is, not from the files' names. The page, its export and
    each confirmation keep the names out."""
    share = Share.objects.create(file=planning, user=outsider, role="viewer", created_by=teammate)
    review = escalated_review(team)
    sam = client_signed_in(site_admin)
    names = ["Planning.pdf", "Dupont Marie - echo.jpg", "Echo Dupont", "Bilans Dupont"]

    detail = sam.get(f"/reviews/{review.pk}/").content.decode()
    export = sam.get(f"/reviews/{review.pk}/export.csv").content.decode("utf-8-sig")
    share_item = review.items.get(kind=ItemKind.SHARE, object_id=share.pk).pk
    link_item = review.items.get(kind=ItemKind.LINK, object_id=tom_opened["link"].pk).pk
    member_item = review.items.get(
        kind=ItemKind.MEMBER, object_id=TeamMembership.objects.get(team=team, user=teammate).pk
    ).pk
    asked = {
        kind: sam.post(f"/reviews/{review.pk}/items/{pk}/", {"decision": "revoked"})
        for kind, pk in [("share", share_item), ("link", link_item), ("member", member_item)]
    }

    for page in [detail, export, *(answer.content.decode() for answer in asked.values())]:
        for name in names:
            assert name not in page
    assert "a file → Oscar Outsider" in detail
    assert f"a file → {RADIOLOGIST} (Tom Teammate)" in detail
    assert "a file → Oscar Outsider" in export
    assert "Oscar Outsider can no longer open a file of the team's space (viewer)" in (
        asked["share"].content.decode()
    )
    assert (
        f"The link to a file of the team's space that Tom Teammate sent to {RADIOLOGIST} "
        "stops working" in asked["link"].content.decode()
    )
    assert "1 link" in asked["member"].content.decode()
    assert Share.objects.filter(pk=share.pk).exists()


def test_the_team_manager_and_the_auditor_read_the_review_with_its_file_names(
    owner: User, teammate: User, team: Team, tom_opened: dict[str, Any], auditor: User
) -> None:
    review = escalated_review(team)

    for reader in (owner, auditor):
        detail = client_signed_in(reader).get(f"/reviews/{review.pk}/").content.decode()
        export = (
            client_signed_in(reader)
            .get(f"/reviews/{review.pk}/export.csv")
            .content.decode("utf-8-sig")
        )
        assert f"Dupont Marie - echo.jpg → {RADIOLOGIST}" in detail
        assert "Dupont Marie - echo.jpg" in export


def test_an_older_review_item_whose_parts_are_unknown_shows_the_kind_alone(
    site_admin: User, team: Team, tom_opened: dict[str, Any]
) -> None:
    """An item of a review opened before items kept their parts, whose stored label
    the migration could not read back (reviews/migrations/0003): an administrator who
    may not read the team's file names reads its kind, never the stored text."""
    review = escalated_review(team)
    review.items.exclude(kind=ItemKind.MEMBER).update(
        unparsed_label=f"Dupont Marie - echo.jpg → {RADIOLOGIST}", subject_kind=""
    )

    detail = client_signed_in(site_admin).get(f"/reviews/{review.pk}/").content.decode()

    assert "Dupont Marie - echo.jpg" not in detail
    assert "live external link" in detail


def test_a_member_with_nothing_opened_is_told_only_the_team_access_ends(
    owner: User, teammate: User, team: Team
) -> None:
    membership = TeamMembership.objects.get(team=team, user=teammate)
    review, item = review_item(team, ItemKind.MEMBER, membership.pk)

    page = (
        client_signed_in(owner)
        .post(f"/reviews/{review.pk}/items/{item}/", {"decision": "revoked"})
        .content.decode()
    )

    assert "Tom Teammate can no longer open the files and folders of Cardiologie" in page
    assert "opened to people outside" not in page
    assert "by name stops being shared" not in page


def test_withdrawing_a_role_names_the_role_lost(site_admin: User, auditor: User) -> None:
    page = (
        client_signed_in(site_admin)
        .post(f"/accounts/admin/users/{auditor.pk}/", {})  # both boxes unticked
        .content.decode()
    )

    assert "Audrey Auditor loses the auditor role at once" in page
    auditor.refresh_from_db()
    assert auditor.is_auditor


def test_nothing_ends_when_more_was_opened_since_the_confirmation_was_read(
    owner: User, teammate: User, team: Team, team_folder: Folder, tom_opened: dict[str, Any]
) -> None:
    """Tom links another team file while Alice reads the page: her confirmation does not
    withdraw what she never saw; the page comes back with it named."""
    membership = TeamMembership.objects.get(team=team, user=teammate)
    review, item = review_item(team, ItemKind.MEMBER, membership.pk)
    alice = client_signed_in(owner)
    url = f"/reviews/{review.pk}/items/{item}/"
    asked = alice.post(url, {"decision": "revoked"}).content.decode()
    digest = re.search(r'name="preview_digest" value="([0-9a-f]{64})"', asked)
    assert digest
    late = version_store(actor=owner, folder=team_folder, name="Holter.pdf", content=b"x").file
    links.share_link_create(actor=teammate, target=late, expires_at=week())

    again = alice.post(url, {"decision": "revoked", "preview_digest": digest.group(1), **CONFIRMED})

    page = again.content.decode()
    assert again.status_code == 200
    assert "Something changed since you looked: check the new list, then confirm." in page
    assert "Link to “Holter.pdf”" in page
    nothing_withdrawn_yet(teammate, team)

    fresh = re.search(r'name="preview_digest" value="([0-9a-f]{64})"', page)
    assert fresh
    alice.post(url, {"decision": "revoked", "preview_digest": fresh.group(1), **CONFIRMED})
    assert not TeamMembership.objects.filter(team=team, user=teammate).exists()


def test_the_team_page_removal_checks_the_list_it_showed_too(
    site_admin: User, teammate: User, team: Team, team_folder: Folder, owner: User
) -> None:
    membership = TeamMembership.objects.get(team=team, user=teammate)
    admin = client_signed_in(site_admin)
    url = f"/accounts/teams/{team.slug}/members/{membership.pk}/remove/"
    digest = re.search(
        r'name="preview_digest" value="([0-9a-f]{64})"', admin.post(url).content.decode()
    )
    assert digest
    late = version_store(actor=owner, folder=team_folder, name="Holter.pdf", content=b"x").file
    links.share_link_create(actor=teammate, target=late, expires_at=week())

    again = admin.post(url, {"preview_digest": digest.group(1), **CONFIRMED})

    assert again.status_code == 200
    # Sam does not manage Cardiologie: the new link is counted, its file not named.
    assert "Something changed since you looked" in again.content.decode()
    assert "1 link" in again.content.decode()
    assert "Holter.pdf" not in again.content.decode()
    assert TeamMembership.objects.filter(pk=membership.pk).exists()


def test_removing_the_only_manager_says_the_team_is_left_without_one(
    site_admin: User, owner: User, team: Team
) -> None:
    """Alice is Cardiologie's only manager: nobody would manage it, and no access review
    opens for a team without a manager. Said before, as the offboarding plan says it."""
    membership = TeamMembership.objects.get(team=team, user=owner)

    page = (
        client_signed_in(site_admin)
        .post(f"/accounts/teams/{team.slug}/members/{membership.pk}/remove/")
        .content.decode()
    )

    assert "Cardiologie is left without a manager" in page
    tom = TeamMembership.objects.get(team=team, role=TeamRole.MEMBER)
    other = (
        client_signed_in(site_admin)
        .post(f"/accounts/teams/{team.slug}/members/{tom.pk}/remove/")
        .content.decode()
    )
    assert "left without a manager" not in other


def test_revoking_a_folder_share_to_a_person_names_the_folder_and_all_inside(
    owner: User, team: Team, team_folder: Folder, outsider: User
) -> None:
    folder = files.folder_create(actor=owner, parent=team_folder, name="Dossiers Dupont")
    share = Share.objects.create(folder=folder, user=outsider, role="editor", created_by=owner)
    review, item = review_item(team, ItemKind.SHARE, share.pk)

    page = (
        client_signed_in(owner)
        .post(f"/reviews/{review.pk}/items/{item}/", {"decision": "revoked"})
        .content.decode()
    )

    assert (
        "Oscar Outsider can no longer open the folder “Dossiers Dupont” and everything in "
        "it (editor)" in page
    )
    assert Share.objects.filter(pk=share.pk).exists()


def test_an_administrator_is_not_asked_to_confirm_a_revocation_he_may_not_make(
    site_admin: User, teammate: User, team: Team, tom_opened: dict[str, Any]
) -> None:
    """Before the escalation the review is its managers': Sam's revocation is refused
    at once, recorded, without a confirmation page listing what it would end."""
    from audit.actions import Action
    from audit.models import AuditEvent

    membership = TeamMembership.objects.get(team=team, user=teammate)
    review, item = review_item(team, ItemKind.MEMBER, membership.pk)

    answer = client_signed_in(site_admin).post(
        f"/reviews/{review.pk}/items/{item}/", {"decision": "revoked"}
    )

    assert answer.status_code == 302
    assert AuditEvent.objects.filter(
        action=Action.REVIEWS_ITEM_DECIDE, outcome="denied", details__reason="not_reviewer"
    ).exists()
    nothing_withdrawn_yet(teammate, team)
