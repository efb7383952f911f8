"""Offboarding that explains itself (issue #17, item 3): the admin sees exactly what will
happen before, the same numbers after (report page and e-mails), outside recipients get
a neutral notice, and the successor picker offers only people who may hold files."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts.models import OffboardingReport, PersonalAccessToken, User
from audit.actions import Action
from audit.models import AuditEvent
from files import services
from sharing.models import Share, ShareLink
from sharing.services import file_requests, links, transfers
from tests.files_helpers import content_of, root_of, version_store
from tests.helpers import client_signed_in

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("folder_backend", "small_segments"),
]

SUBJECT = "IRM de M. Dupont"
FILE_NAME = "dupont-irm.dcm"


def alice_busy_week(owner: User, teammate: User, capture: Any) -> dict[str, str]:
    """Alice has a session, a token, a link, a transfer to a radiologist outside, a file
    request and a folder Tom shared with her."""
    week = timezone.now() + timedelta(days=7)
    client_signed_in(owner)
    PersonalAccessToken.objects.create(
        user=owner, name="scanner", prefix="sdpat_abc", token_hash="0" * 64,
        scopes=["read"], expires_at=week,
    )  # fmt: skip
    report = version_store(
        actor=owner, folder=root_of(owner), name="compte-rendu.pdf", content=content_of(300)
    ).file
    links.share_link_create(
        actor=owner, target=report, expires_at=week, recipient_email="dr.who@clinique.example"
    )
    transfer = transfers.transfer_create(actor=owner, subject=SUBJECT, expires_at=week)
    assert transfer.folder is not None
    version_store(actor=owner, folder=transfer.folder, name=FILE_NAME, content=content_of(500))
    with capture(execute=True):
        transfers.transfer_send(
            actor=owner, transfer=transfer, recipients=["dr.radio@clinique.example"]
        )
    labo = services.folder_create(actor=owner, parent=root_of(owner), name="Labo")
    _request, request_token = file_requests.file_request_create(
        actor=owner, folder=labo, title="Résultats", expires_at=week
    )
    shared = services.folder_create(actor=teammate, parent=root_of(teammate), name="Garde")
    Share.objects.create(folder=shared, user=owner, role="viewer", created_by=teammate)
    mail.outbox.clear()
    return {"request_token": request_token}


def lines_of(html: str) -> dict[str, int]:
    return {
        key: int(count)
        for key, count in re.findall(r'data-key="([a-z_]+)" data-count="(\d+)"', html)
    }


EXPECTED = {
    "sessions_ended": 1,
    "tokens_revoked": 1,
    "mfa_devices_disabled": 1,  # client_signed_in set up an authenticator app
    "links_withdrawn": 1,
    "transfers_withdrawn": 1,
    "file_requests_closed": 1,
    "shares_removed": 1,
    "files_handed_over": 2,
}


def test_the_admin_sees_the_plan_then_a_report_with_the_same_numbers(
    owner: User,
    teammate: User,
    site_admin: User,
    settings: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    settings.ORGANISATION_NAME = "Hôpital Nord"
    User.objects.filter(pk=teammate.pk).update(language="fr")
    tokens = alice_busy_week(owner, teammate, django_capture_on_commit_callbacks)
    admin = client_signed_in(site_admin)
    url = f"/accounts/admin/users/{owner.pk}/deactivate/"

    preview = admin.post(url, {"when": "now", "successor": str(teammate.pk)})
    page = preview.content.decode()
    assert preview.status_code == 200
    assert lines_of(page) == EXPECTED
    assert "dr.radio@clinique.example" in page  # the transfer's recipient is listed
    assert "dr.who@clinique.example" in page  # and the link's
    assert "Tom Teammate &lt;tom.teammate@hopital.example&gt;" in page
    assert "“De Alice Martin (" in page  # the folder, named in Tom's language
    digest = re.search(r'name="plan_digest" value="([0-9a-f]{64})"', page)
    assert digest
    assert owner.__class__.objects.get(pk=owner.pk).is_active  # nothing done yet

    with django_capture_on_commit_callbacks(execute=True):
        done = admin.post(
            url,
            {"when": "now", "successor": str(teammate.pk), "confirmed": "yes",
             "plan_digest": digest.group(1)},
        )  # fmt: skip
    report = OffboardingReport.objects.get(user=owner)
    assert done.status_code == 302
    assert done["Location"] == f"/accounts/admin/users/{owner.pk}/offboarding/{report.pk}/"
    assert report.digest == digest.group(1)
    shown = admin.get(done["Location"]).content.decode()
    assert lines_of(shown) == EXPECTED
    assert "1 transfer withdrawn; its recipients were told" in shown
    # The person's page keeps the way to it.
    assert done["Location"] in admin.get(f"/accounts/admin/users/{owner.pk}/").content.decode()
    # The audit event holds what each step did, with the same numbers.
    details = AuditEvent.objects.get(action=Action.ACCOUNTS_USER_DEACTIVATE).details
    assert details["sharing_revoke_for_leaver"]["transfers_revoked"] == 1
    assert details["shares_remove_for_leaver"] == {"shares_removed": 1}
    assert details["personal_files_hand_over"]["files_moved"] == 2
    assert not Share.objects.filter(user=owner).exists()

    by_recipient = {message.to[0]: message for message in mail.outbox}
    assert set(by_recipient) == {
        "tom.teammate@hopital.example",
        "sam.admin@hopital.example",
        "dr.radio@clinique.example",
    }
    to_tom = by_recipient["tom.teammate@hopital.example"]
    assert to_tom.subject == "Départ de Alice Martin\u00a0: ce qui a été fait"
    assert "1 transfert retiré" in str(to_tom.body)
    to_admin = by_recipient["sam.admin@hopital.example"]
    assert "1 transfer withdrawn; its recipients were told" in str(to_admin.body)
    assert f"/offboarding/{report.pk}/" in str(to_admin.body)
    notice = by_recipient["dr.radio@clinique.example"]
    whole = str(notice.subject) + str(notice.body) + str(notice.alternatives[0][0])  # type: ignore[attr-defined]
    assert "Alice Martin of Hôpital Nord" in whole
    for secret in (SUBJECT, "Dupont", FILE_NAME, "compte-rendu", "Résultats"):
        assert secret not in whole

    # The outside sender of the file request reads that it is closed, nothing more.
    closed = Client().get(f"/r/{tokens['request_token']}/")
    assert closed.status_code == 410
    text = closed.content.decode()
    assert "This file request is closed" in text
    assert "person who created it" not in text


def test_nothing_is_done_when_the_plan_changed_since_the_preview(
    owner: User, teammate: User, site_admin: User
) -> None:
    admin = client_signed_in(site_admin)
    url = f"/accounts/admin/users/{owner.pk}/deactivate/"
    preview = admin.post(url, {"when": "now", "successor": str(teammate.pk)})
    digest = re.search(r'name="plan_digest" value="([0-9a-f]{64})"', preview.content.decode())
    assert digest
    # Meanwhile Alice sends one more link.
    report = version_store(actor=owner, folder=root_of(owner), name="cr.pdf", content=b"x").file
    links.share_link_create(
        actor=owner, target=report, expires_at=timezone.now() + timedelta(days=2)
    )

    again = admin.post(
        url,
        {"when": "now", "successor": str(teammate.pk), "confirmed": "yes",
         "plan_digest": digest.group(1)},
    )  # fmt: skip

    assert again.status_code == 200
    assert "Something changed since you looked" in again.content.decode()
    assert lines_of(again.content.decode())["links_withdrawn"] == 1
    owner.refresh_from_db()
    assert owner.is_active
    assert ShareLink.objects.filter(created_by=owner, revoked_at__isnull=True).count() == 1


def test_the_successor_picker_shows_names_and_roles_and_never_an_auditor(
    owner: User, teammate: User, site_admin: User, auditor: User, team: Any
) -> None:
    gone = User.objects.create_user("ghost@hopital.example", "x", is_active=False)
    page = client_signed_in(site_admin).get(f"/accounts/admin/users/{owner.pk}/").content.decode()
    options = re.findall(r'<option value="(\d+)"[^>]*>([^<]*)</option>', page)
    offered = {int(pk): label for pk, label in options}
    assert offered[teammate.pk] == "Tom Teammate — tom.teammate@hopital.example · Cardiologie"
    assert auditor.pk not in offered
    assert gone.pk not in offered
    assert owner.pk not in offered
    # Posting the auditor anyway is refused by the form and by the service.
    refused = client_signed_in(site_admin).post(
        f"/accounts/admin/users/{owner.pk}/deactivate/",
        {"when": "now", "successor": str(auditor.pk), "confirmed": "yes"},
    )
    assert refused.status_code == 400
    owner.refresh_from_db()
    assert owner.is_active


def line_of(html: str, key: str) -> str:
    """The text of one line of the plan: from its key to the next line's."""
    start = html.index(f'data-key="{key}"')
    following = html.find("data-key=", start + 1)
    return html[start : following if following != -1 else len(html)]


def test_the_deactivation_preview_counts_what_ends_and_names_no_file(
    owner: User,
    teammate: User,
    site_admin: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    """Sam manages accounts, not Alice's patients: each line counts what it ends and
    names the people it reaches, never a file, a transfer's subject or a request's
    title (they name patients), on the page, the report page or in the e-mails. The
    audit log, which an auditor reads, keeps the names."""
    alice_busy_week(owner, teammate, django_capture_on_commit_callbacks)
    admin = client_signed_in(site_admin)
    url = f"/accounts/admin/users/{owner.pk}/deactivate/"
    names = ["compte-rendu.pdf", SUBJECT, "Résultats", "Garde"]

    page = admin.post(url, {"when": "now", "successor": str(teammate.pk)}).content.decode()

    assert "dr.who@clinique.example" in line_of(page, "links_withdrawn")
    assert "1 transfer is withdrawn" in line_of(page, "transfers_withdrawn")
    assert "1 file request is closed" in line_of(page, "file_requests_closed")
    assert "1 internal share with them is removed" in line_of(page, "shares_removed")
    for name in names:
        assert name not in page
    assert owner.__class__.objects.get(pk=owner.pk).is_active  # nothing done yet

    digest = re.search(r'name="plan_digest" value="([0-9a-f]{64})"', page)
    assert digest
    with django_capture_on_commit_callbacks(execute=True):
        done = admin.post(
            url,
            {"when": "now", "successor": str(teammate.pk), "confirmed": "yes",
             "plan_digest": digest.group(1)},
        )  # fmt: skip
    report = admin.get(done["Location"]).content.decode()
    assert "1 transfer withdrawn" in line_of(report, "transfers_withdrawn")
    reports = [m for m in mail.outbox if m.to[0] != "dr.radio@clinique.example"]
    assert reports
    for text in [report, *(str(message.body) for message in reports)]:
        for name in names:
            assert name not in text
