"""External links, the owner's side: creating links within the site's policy, seeing
them with their receipts, withdrawing them; the policy page; the REST API; offboarding.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.conf import settings
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import tokens as account_tokens
from accounts.models import Team, User
from audit.actions import Action
from audit.models import AuditEvent
from files import services
from files.models import FileVersion
from sharing.errors import LinkPolicyError, LinkRuleError
from sharing.models import ExternalSharing, ShareLink, SharingPolicy, Transfer
from sharing.services.links import (
    share_link_create,
    share_link_policy_check_may_share,
    share_links_revoke_for_owner,
)
from sharing.services.policy import expiry_in_days
from tests.files_helpers import Backend, root_of, version_store
from tests.helpers import CONFIRMED, client_signed_in, expiry_fields
from tests.test_sharing_links import file_url, open_url, shared_file

pytestmark = [pytest.mark.usefixtures("rate_limit_cache"), pytest.mark.django_db]

URL_PATTERN = re.compile(r"http://[^\s\"<]+/s/([A-Za-z0-9_-]{43})/")


def policy_set(**changes: Any) -> None:
    SharingPolicy.current()
    SharingPolicy.objects.filter(pk=1).update(**changes)


def links_page(version: FileVersion) -> str:
    return reverse("sharing:file_links", args=[version.file_id])


def form_for(days: int = 3, **extra: Any) -> dict[str, Any]:
    return {**expiry_fields(days), "notify_owner": "on", **extra}


def denied(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, outcome="denied"))


# --- Creating a link from the file's page -------------------------------------------------


def test_a_clinician_creates_a_link_and_sees_its_address_only_once(
    owner: User, folder_backend: Backend
) -> None:
    version = shared_file(owner)
    clinician = client_signed_in(owner)
    page = clinician.get(links_page(version))
    assert page.status_code == 200
    assert "No links yet." in page.content.decode()

    created = clinician.post(links_page(version), form_for(label="Dr Radio", password="s3cret!"))
    assert created.status_code == 200
    html = created.content.decode()
    match = URL_PATTERN.search(html)
    assert match is not None
    token = match.group(1)
    assert 'id="new-link"' in html
    assert created["Cache-Control"].startswith("max-age=0")
    link = ShareLink.objects.get()
    assert link.label == "Dr Radio"
    assert link.expires_at.date() == timezone.localdate() + dt.timedelta(days=3)

    later = clinician.get(links_page(version)).content.decode()
    assert token not in later
    assert 'data-state="active"' in later
    assert (
        AuditEvent.objects.filter(action=Action.SHARING_LINK_CREATE, outcome="success").count() == 1
    )
    assert Client().get(open_url(token)).status_code == 200


def test_the_link_can_be_emailed_to_its_recipient_with_the_token_only_there(
    owner: User, folder_backend: Backend, django_capture_on_commit_callbacks: Any
) -> None:
    version = shared_file(owner)
    with django_capture_on_commit_callbacks(execute=True):
        created = client_signed_in(owner).post(
            links_page(version),
            form_for(recipient_email="Dr.Radio@Clinique.example", send_email="on"),
        )
    assert created.status_code == 200
    (message,) = [m for m in mail.outbox if m.to == ["dr.radio@clinique.example"]]
    assert message.reply_to == [owner.email]
    match = URL_PATTERN.search(str(message.body))
    assert match is not None
    html_body = str(getattr(message, "alternatives", [("",)])[0][0])
    assert match.group(1) in html_body
    assert match.group(1) not in str(list(AuditEvent.objects.values_list("details", flat=True)))


def test_expiry_is_mandatory_and_capped_by_the_policy(owner: User, folder_backend: Backend) -> None:
    version = shared_file(owner)
    clinician = client_signed_in(owner)
    too_long = clinician.post(links_page(version), form_for(days=31))
    assert too_long.status_code == 400
    assert "The sharing policy allows at most 30 days: choose" in too_long.content.decode()
    assert not ShareLink.objects.exists()
    with pytest.raises(LinkPolicyError):
        share_link_create(
            actor=owner, target=version.file, expires_at=timezone.now() + dt.timedelta(days=45)
        )
    with pytest.raises(LinkRuleError):
        share_link_create(
            actor=owner, target=version.file, expires_at=timezone.now() - dt.timedelta(hours=1)
        )
    assert len(denied(Action.SHARING_LINK_CREATE)) == 2

    # The last allowed day works (its end is clamped to the maximum).
    assert clinician.post(links_page(version), form_for(days=30)).status_code == 200
    link = ShareLink.objects.get()
    assert link.expires_at <= expiry_in_days(30)


def test_the_policy_decides_who_may_share_outside(
    owner: User, teammate: User, team: Team, folder_backend: Backend
) -> None:
    version = shared_file(teammate, name="lettre.pdf")
    policy_set(external_sharing=ExternalSharing.TEAM_MANAGERS)
    with pytest.raises(LinkPolicyError):
        share_link_policy_check_may_share(actor=teammate)
    refused = client_signed_in(teammate).post(links_page(version), form_for())
    assert refused.status_code == 403
    assert "only team managers" in refused.content.decode()
    # The refused form is audited where the 403 is decided, on the file it named.
    [page_refusal] = denied(Action.SHARING_LINK_CREATE)
    assert page_refusal.target_id == str(version.file.pk)
    share_link_policy_check_may_share(actor=owner)  # a manager of Cardiologie

    policy_set(external_sharing=ExternalSharing.NOBODY)
    with pytest.raises(LinkPolicyError):
        share_link_create(actor=teammate, target=version.file)
    assert not ShareLink.objects.exists()
    assert denied(Action.SHARING_LINK_CREATE)


def test_a_refused_link_reads_in_the_auditors_language_not_the_refused_persons(
    owner: User, teammate: User, team: Team, auditor: User, folder_backend: Backend
) -> None:
    """Tom reads SecureDrive in French and may not share outside; Audrey audits in
    English, Claude in French: each reads why in their own language."""
    version = shared_file(teammate, name="lettre.pdf")
    policy_set(external_sharing=ExternalSharing.TEAM_MANAGERS)
    tom = client_signed_in(teammate)
    tom.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    refused = tom.post(links_page(version), form_for())
    shown_in_french = "seuls les responsables d’équipe"  # noqa: RUF001
    assert shown_in_french in refused.content.decode()
    [event] = denied(Action.SHARING_LINK_CREATE)
    english = "On this site only team managers may share outside the organisation."
    assert event.details["reason"] == english

    audrey = client_signed_in(auditor)
    audrey.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = audrey.get(f"/audit/events/{event.sequence}/").content.decode()
    assert english in page
    assert "seuls les responsables" not in page
    claude = client_signed_in(auditor)
    claude.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    assert shown_in_french in claude.get(f"/audit/events/{event.sequence}/").text


def test_the_policy_can_require_a_password_verification_and_a_domain(
    owner: User, folder_backend: Backend
) -> None:
    version = shared_file(owner)
    policy_set(
        password_required=True,
        email_verification_required=True,
        allowed_recipient_domains="chu-exemple.fr\nclinique.example",
    )
    with pytest.raises(LinkPolicyError, match="password"):
        share_link_create(actor=owner, target=version.file, recipient_email="a@clinique.example")
    with pytest.raises(LinkPolicyError, match="code"):
        share_link_create(
            actor=owner, target=version.file, password="pw", recipient_email="a@clinique.example"
        )
    with pytest.raises(LinkPolicyError, match=r"clinique\.example"):
        share_link_create(
            actor=owner,
            target=version.file,
            password="pw",
            recipient_email="someone@gmail.example",
            email_verification=True,
        )
    link, _token = share_link_create(
        actor=owner,
        target=version.file,
        password="pw",
        recipient_email="a@clinique.example",
        email_verification=True,
    )
    assert link.email_verification
    assert len(denied(Action.SHARING_LINK_CREATE)) == 3


def test_nobody_shares_what_they_cannot_see(
    owner: User, outsider: User, folder_backend: Backend
) -> None:
    version = shared_file(owner)
    assert client_signed_in(outsider).get(links_page(version)).status_code == 404
    with pytest.raises(LinkRuleError):
        share_link_create(actor=outsider, target=version.file)
    link, _token = share_link_create(actor=owner, target=version.file)
    revoke = client_signed_in(outsider).post(reverse("sharing:link_revoke", args=[link.pk]))
    assert revoke.status_code == 404
    link.refresh_from_db()
    assert link.revoked_at is None


# --- Listing and withdrawing --------------------------------------------------------------


def test_the_owner_sees_receipts_and_withdraws_a_link(owner: User, folder_backend: Backend) -> None:
    version = shared_file(owner)
    link, token = share_link_create(
        actor=owner, target=version.file, recipient_email="dr.radio@clinique.example"
    )
    recipient = Client()
    assert recipient.get(file_url(token, version.file)).status_code == 200

    clinician = client_signed_in(owner)
    mine = clinician.get(reverse("sharing:my_links")).content.decode()
    assert "IRM genou.dcm" in mine
    assert 'class="link-receipt"' in mine
    assert "dr.radio@clinique.example" in mine

    back = links_page(version)
    asked = clinician.post(reverse("sharing:link_revoke", args=[link.pk]), {"next": back})
    # Irreversible: a page says what ends, and nothing ends before the second POST.
    assert asked.status_code == 200
    assert "dr.radio@clinique.example can no longer open “IRM genou.dcm”" in asked.text
    assert recipient.get(file_url(token, version.file)).status_code == 200
    assert not AuditEvent.objects.filter(action=Action.SHARING_LINK_REVOKE).exists()
    withdrawn = clinician.post(
        reverse("sharing:link_revoke", args=[link.pk]), {"next": back, **CONFIRMED}
    )
    assert withdrawn.status_code == 302
    assert withdrawn["Location"] == back
    assert 'data-state="revoked"' in clinician.get(back).content.decode()
    assert recipient.get(file_url(token, version.file)).status_code == 410
    event = AuditEvent.objects.get(action=Action.SHARING_LINK_REVOKE)
    assert event.actor_id == str(owner.pk)


def test_a_teammate_may_withdraw_a_link_on_a_team_file(
    owner: User, teammate: User, team: Team, folder_backend: Backend
) -> None:
    team_root = services.space_root(services.space_team_get_or_create(team=team))
    version = version_store(actor=owner, folder=team_root, name="bilan.pdf", content=b"%PDF")
    link, _token = share_link_create(actor=owner, target=version.file)
    page = client_signed_in(teammate).get(links_page(version)).content.decode()
    assert f'data-link="{link.pk}"' in page
    client_signed_in(teammate).post(reverse("sharing:link_revoke", args=[link.pk]), CONFIRMED)
    link.refresh_from_db()
    assert link.revoked_by == teammate


def test_offboarding_revokes_every_live_link_of_the_leaver(
    owner: User, site_admin: User, folder_backend: Backend
) -> None:
    version = shared_file(owner)
    file_link, _token = share_link_create(actor=owner, target=version.file)
    folder_link, _token = share_link_create(actor=owner, target=root_of(owner))
    transfer = Transfer.objects.create(
        created_by=owner,
        subject="Examens",
        folder=root_of(owner),
        expires_at=timezone.now() + dt.timedelta(days=3),
    )
    transfer_link, _token = share_link_create(
        actor=owner, target=transfer, recipient_email="x@clinique.example"
    )
    ShareLink.objects.filter(pk=folder_link.pk).update(revoked_at=timezone.now())

    assert share_links_revoke_for_owner(owner=owner, actor=site_admin) == 2
    for link in (file_link, transfer_link):
        link.refresh_from_db()
        assert link.revoked_at is not None
        assert link.revoked_by == site_admin
    events = AuditEvent.objects.filter(action=Action.SHARING_LINK_REVOKE)
    assert sorted(int(event.target_id) for event in events) == sorted(
        [file_link.pk, transfer_link.pk]
    )
    assert share_links_revoke_for_owner(owner=owner) == 0


# --- The policy page ----------------------------------------------------------------------


def test_a_site_admin_edits_the_sharing_policy_and_it_is_audited(
    owner: User, site_admin: User
) -> None:
    url = reverse("sharing:policy")
    assert client_signed_in(owner).get(url).status_code == 403
    admin = client_signed_in(site_admin)
    assert admin.get(url).status_code == 200
    fields = {
        "external_sharing": "team_managers",
        "link_default_days": "5",
        "link_max_days": "14",
        "password_required": "on",
        "allowed_recipient_domains": "@CHU-Exemple.fr\n",
        "file_request_max_files": "50",
        "file_request_max_gib": "10",
    }
    assert admin.post(url, fields).status_code == 302
    policy = SharingPolicy.current()
    assert policy.link_max_days == 14
    assert policy.password_required
    assert policy.allowed_domains() == ["chu-exemple.fr"]
    assert policy.file_request_max_bytes == 10 * 1024**3
    event = AuditEvent.objects.get(action=Action.SHARING_POLICY_UPDATE)
    assert event.details["changed"]["link_max_days"] == {"before": 30, "after": 14}

    wrong = admin.post(url, {**fields, "link_default_days": "20", "allowed_recipient_domains": "x"})
    assert wrong.status_code == 400  # refused input, recorded (audit/refusals.py)
    assert "Not a domain name" in wrong.content.decode()
    assert AuditEvent.objects.filter(action=Action.SHARING_POLICY_UPDATE).count() == 1


# --- REST API -----------------------------------------------------------------------------


def test_a_token_made_to_upload_cannot_send_files_outside(
    owner: User, folder_backend: Backend
) -> None:
    version = shared_file(owner)
    url = reverse("sharing_api:file_links", args=[version.file_id])

    def api(*scopes: str) -> Client:
        _token, secret = account_tokens.token_create(
            actor=owner, name=" ".join(scopes), scopes=list(scopes), expires_in_days=30
        )
        return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")

    uploader = api("read", "write")
    assert uploader.get(url).status_code == 200
    assert uploader.post(url, {}, content_type="application/json").status_code == 403
    assert not ShareLink.objects.exists()
    created = api("share").post(url, {}, content_type="application/json")
    assert created.status_code == 201, created.content


def test_the_api_creates_lists_and_revokes_links(
    owner: User, outsider: User, folder_backend: Backend
) -> None:
    version = shared_file(owner)
    api = client_signed_in(owner)
    url = reverse("sharing_api:file_links", args=[version.file_id])
    created = api.post(
        url,
        {"password": "pw", "max_downloads": 3, "label": "API"},
        content_type="application/json",
    )
    assert created.status_code == 201
    # The token's only showing: kept by no cache (a browser's, a proxy's), as the page's.
    assert "no-store" in created["Cache-Control"]
    body = created.json()
    assert len(body["token"]) == 43
    assert body["url"].endswith(f"/s/{body['token']}/")
    assert body["state"] == "active"
    assert body["has_password"] is True

    listed = api.get(url).json()
    assert [row["id"] for row in listed] == [body["id"]]
    assert "token" not in listed[0]
    assert body["token"] not in str(listed)

    assert client_signed_in(outsider).get(url).status_code == 404
    too_long = api.post(
        url,
        {"expires_at": (timezone.now() + dt.timedelta(days=60)).isoformat()},
        content_type="application/json",
    )
    assert too_long.status_code == 403

    revoked = api.post(reverse("sharing_api:link_revoke", args=[body["id"]]))
    assert revoked.status_code == 200
    assert revoked.json()["state"] == "revoked"
    assert Client().get(open_url(body["token"])).status_code == 410
    outsider_revoke = client_signed_in(outsider).post(
        reverse("sharing_api:link_revoke", args=[body["id"]])
    )
    assert outsider_revoke.status_code == 404


# --- Pages obey the CSP -------------------------------------------------------------------


def test_link_pages_hold_no_inline_script_or_style(owner: User, folder_backend: Backend) -> None:
    version = shared_file(owner)
    _link, token = share_link_create(actor=owner, target=version.file, password="pw")
    clinician = client_signed_in(owner)
    pages = [
        clinician.get(links_page(version)),
        clinician.get(reverse("sharing:my_links")),
        Client().get(open_url(token)),
        Client().get(open_url("N" * 43)),
    ]
    for response in pages:
        html = response.content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
        assert not re.search(r"\sstyle=", html)


def test_the_owner_of_a_view_only_link_sees_what_its_recipient_viewed(
    owner: User, folder_backend: Backend
) -> None:
    """A "view only" link is never downloaded: without its views, its owner saw no trace
    of the recipient at all."""
    version = version_store(
        actor=owner, folder=root_of(owner), name="bilan.txt", content=b"RAS, bilan normal."
    )
    FileVersion.objects.filter(pk=version.pk).update(content_type="text/plain")
    _link, token = share_link_create(
        actor=owner,
        target=version.file,
        recipient_email="dr.radio@clinique.example",
        view_only=True,
    )
    clinician = client_signed_in(owner)
    assert "Viewed in the browser" not in clinician.get(links_page(version)).content.decode()
    recipient = Client()
    assert recipient.get(reverse("share_link:open", args=[token])).status_code == 200
    preview = recipient.get(reverse("share_link:preview", args=[token, version.file_id]))
    assert preview.status_code == 200
    for page in (links_page(version), reverse("sharing:my_links")):
        row = clinician.get(page).content.decode()
        assert "Viewed in the browser" in row
        assert "bilan.txt" in row.split("Viewed in the browser")[1]
