"""Offboarding cuts what colleagues sent *to* the leaver's address, not only what she
sent: a transfer or a personal link names its recipient by e-mail address, so neither
her sessions nor her shares cover it. Tom leaves the ward; Alice had sent him an MRI by
transfer (with the radiologist outside) and a report by personal link. Whoever keeps
reading Tom's mailbox, or the ward computer where his browser still holds the e-mailed
code, must open nothing after the administrator deactivates him; Alice is told, in her
language, which files to send to whoever took over; the log and the report say so."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from accounts import invitations
from accounts.models import Invitation, OffboardingReport, Team, User
from accounts.offboarding_report import plan_in_words
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from directory.tokens import directory_token_create
from files.models import File
from sharing.models import ShareLink, Transfer
from sharing.services import links
from tests.files_helpers import body_of, content_of, root_of, version_store
from tests.helpers import client_signed_in, expiry_fields

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("folder_backend", "small_segments", "rate_limit_cache"),
]

RADIOLOGIST = "dr.radio@clinique.example"
LINK_PATTERN = re.compile(r"https?://[^\s\"<>]+/s/([A-Za-z0-9_-]{43})/")
SUBJECT = "IRM genou — Mme Durand"


def token_mailed_to(address: str) -> str:
    """The link token in the latest e-mail to ``address``."""
    for message in reversed(mail.outbox):
        if address in message.to and (found := LINK_PATTERN.search(str(message.body))):
            return found.group(1)
    raise AssertionError(f"no link e-mailed to {address}")


def transfer_sent(alice: User, to: list[str], capture: Any) -> tuple[Transfer, File]:
    """Alice sends an MRI from the transfers page, as a clinician does (the recipients
    confirm their address with a code, the site's default)."""
    client = client_signed_in(alice)
    created = client.post(
        "/sharing/transfers/new/", {"subject": SUBJECT, "message": "", **expiry_fields(7)}
    )
    assert created.status_code == 302, created.content.decode()[:2000]
    transfer = Transfer.objects.latest("pk")
    assert transfer.folder is not None
    file = version_store(
        actor=alice, folder=transfer.folder, name="irm-genou.dcm", content=content_of(3000)
    ).file
    with capture(execute=True):
        sent = client.post(f"/sharing/transfers/{transfer.pk}/send/", {"recipients": "\n".join(to)})
    assert sent.status_code == 302, sent.content.decode()[:3000]
    return transfer, file


def code_confirmed(browser: Client, token: str, capture: Any) -> None:
    """The recipient asks for the code and types it, in this browser."""
    with capture(execute=True):
        browser.post(f"/s/{token}/", {"action": "send_code"})
    code = str(mail.outbox[-1].subject.rsplit(" ", 1)[-1])
    typed = browser.post(f"/s/{token}/", {"action": "code", "code": code})
    assert typed.status_code == 302


def deactivated(admin: Client, leaver: User, capture: Any) -> tuple[str, Any]:
    """The administrator previews Tom's deactivation, then confirms it; returns the
    preview page and the answer to the confirmation."""
    url = f"/accounts/admin/users/{leaver.pk}/deactivate/"
    preview = admin.post(url, {"when": "now", "successor": ""})
    page = preview.content.decode()
    assert preview.status_code == 200, page[:2000]
    digest = re.search(r'name="plan_digest" value="([0-9a-f]{64})"', page)
    assert digest
    with capture(execute=True):
        done = admin.post(
            url,
            {"when": "now", "successor": "", "confirmed": "yes", "plan_digest": digest.group(1)},
        )
    assert done.status_code == 302, done.content.decode()[:2000]
    return page, done


def test_what_colleagues_sent_to_a_leavers_address_stops_at_his_deactivation(
    owner: User, teammate: User, site_admin: User, django_capture_on_commit_callbacks: Any
) -> None:
    capture = django_capture_on_commit_callbacks
    alice, tom = owner, teammate
    transfer, mri = transfer_sent(alice, [tom.email, RADIOLOGIST], capture)
    tom_transfer, radio_transfer = token_mailed_to(tom.email), token_mailed_to(RADIOLOGIST)
    report = version_store(
        actor=alice, folder=root_of(alice), name="compte-rendu.pdf", content=content_of(900)
    ).file
    _link, tom_link = links.share_link_create(actor=alice, target=report, recipient_email=tom.email)

    # Tom's browser on the ward computer: the code typed, both opened and downloaded.
    ward_pc = Client()
    code_confirmed(ward_pc, tom_transfer, capture)
    assert ward_pc.get(f"/s/{tom_transfer}/").status_code == 200
    assert body_of(ward_pc.get(f"/s/{tom_transfer}/files/{mri.pk}/")) == content_of(3000)
    assert ward_pc.get(f"/s/{tom_link}/").status_code == 200
    radiologist = Client()
    code_confirmed(radiologist, radio_transfer, capture)

    User.objects.filter(pk=alice.pk).update(language="fr")  # Alice reads French
    admin = client_signed_in(site_admin)
    preview, done = deactivated(admin, tom, capture)
    # The administrator sees it before confirming, with who sent them; not which files
    # (they name patients; Alice is told which, by e-mail).
    assert "2 links colleagues sent to their address" in preview
    assert "<li>Alice Martin &lt;alice.martin@hopital.example&gt;</li>" in preview
    for name in ["compte-rendu.pdf", SUBJECT, "irm-genou.dcm"]:
        assert name not in preview

    # The same browser, the same mailbox: a clear refusal on every way in, never a 500.
    for url in (
        f"/s/{tom_transfer}/",
        f"/s/{tom_transfer}/files/{mri.pk}/",
        f"/s/{tom_transfer}/archive/",
        f"/s/{tom_link}/",
        f"/s/{tom_link}/files/{report.pk}/",
    ):
        answer = ward_pc.get(url)
        assert answer.status_code == 410, url
        assert "This link was withdrawn" in answer.content.decode(), url
    # A fresh browser with the e-mail is refused too, and no new code is sent.
    sent_before = len(mail.outbox)
    assert Client().post(f"/s/{tom_transfer}/", {"action": "send_code"}).status_code == 410
    assert len(mail.outbox) == sent_before
    # The radiologist outside was not Tom: her link still works.
    assert radiologist.get(f"/s/{radio_transfer}/").status_code == 200
    assert Transfer.objects.get(pk=transfer.pk).revoked_at is None

    # Alice is told, in French, what to send again and to whom it no longer goes.
    told = [message for message in mail.outbox if message.to == [alice.email]]
    assert len(told) == 1
    assert told[0].subject == (
        "Tom Teammate a quitté l\u2019établissement\u00a0: les fichiers envoyés à son adresse "
        "ont été retirés"
    )
    assert "irm-genou.dcm" in told[0].body
    assert "compte-rendu.pdf" in told[0].body
    assert f"Transfert «\u00a0{SUBJECT}\u00a0»" in told[0].body
    assert tom.email in told[0].body
    # The report e-mailed to the administrator counts them and names no file.
    [report_mail] = [message for message in mail.outbox if message.to == [site_admin.email]]
    assert "Alice Martin <alice.martin@hopital.example>" in report_mail.body
    for name in ["compte-rendu.pdf", SUBJECT, "irm-genou.dcm"]:
        assert name not in report_mail.body

    # One event per link in the log, naming sender, recipient and what it gave.
    events = AuditEvent.objects.filter(
        action=Action.SHARING_LINK_REVOKE, details__reason="recipient left"
    ).order_by("sequence")
    assert [(event.details["name"], event.details["owner"]) for event in events] == [
        (SUBJECT, alice.email),
        ("compte-rendu.pdf", alice.email),
    ]
    assert all(event.details["recipient"] == tom.email for event in events)
    assert events[0].details["files"] == ["irm-genou.dcm"]
    summary = AuditEvent.objects.get(action=Action.ACCOUNTS_USER_DEACTIVATE).details
    assert summary["links_to_leaver_withdraw"] == {"links_withdrawn": 2, "senders_told": 1}

    # The report the administrator keeps says the same.
    kept = OffboardingReport.objects.get(user=tom)
    shown = admin.get(done["Location"]).content.decode()
    assert done["Location"].endswith(f"/offboarding/{kept.pk}/")
    assert "2 links sent to their address by colleagues withdrawn; the senders were told" in (shown)
    assert "<li>Alice Martin &lt;alice.martin@hopital.example&gt;</li>" in shown
    assert "compte-rendu.pdf" not in shown

    # Tom comes back: what was withdrawn stays withdrawn (Alice sends again if needed).
    back = admin.post(f"/accounts/admin/users/{tom.pk}/reactivate/", {"confirmed": "yes"})
    assert back.status_code == 302
    assert User.objects.get(pk=tom.pk).is_active
    assert ward_pc.get(f"/s/{tom_transfer}/").status_code == 410
    assert ward_pc.get(f"/s/{tom_link}/").status_code == 410


def test_nothing_new_goes_to_the_address_of_a_colleague_who_left(
    owner: User, teammate: User, site_admin: User, django_capture_on_commit_callbacks: Any
) -> None:
    capture = django_capture_on_commit_callbacks
    deactivated(client_signed_in(site_admin), teammate, capture)
    alice = client_signed_in(owner)
    report = version_store(
        actor=owner, folder=root_of(owner), name="compte-rendu.pdf", content=content_of(900)
    ).file

    # A personal link from the page: refused, with what to do instead.
    refused = alice.post(
        f"/sharing/files/{report.pk}/links/",
        {
            **expiry_fields(7),
            "recipient_email": "Tom.Teammate@hopital.example",
            "send_email": "on",
            "notify_owner": "on",
        },
    )
    assert refused.status_code == 409
    assert "address of a colleague who left" in refused.content.decode()
    # A transfer: refused as a whole, nothing e-mailed to anyone.
    created = alice.post(
        "/sharing/transfers/new/", {"subject": SUBJECT, "message": "", **expiry_fields(7)}
    )
    assert created.status_code == 302
    transfer = Transfer.objects.latest("pk")
    assert transfer.folder is not None
    version_store(actor=owner, folder=transfer.folder, name="irm.dcm", content=content_of(500))
    sent_before = len(mail.outbox)
    with capture(execute=True):
        answer = alice.post(
            f"/sharing/transfers/{transfer.pk}/send/",
            {"recipients": f"{RADIOLOGIST}\n{teammate.email}"},
        )
    assert answer.status_code in (400, 409), answer.status_code
    assert "address of a colleague who left" in answer.content.decode()
    assert len(mail.outbox) == sent_before
    assert not ShareLink.objects.filter(created_by=owner).exists()
    assert Transfer.objects.get(pk=transfer.pk).sent_at is None
    # Both refusals on record, in words a person reads.
    link_refused = AuditEvent.objects.get(action=Action.SHARING_LINK_CREATE, outcome=Outcome.DENIED)
    assert link_refused.details["rule"] == "recipient_inactive"
    assert link_refused.details["recipient"] == teammate.email
    transfer_refused = AuditEvent.objects.get(
        action=Action.SHARING_TRANSFER_SEND, outcome=Outcome.DENIED
    )
    assert "address of a colleague who left" in transfer_refused.details["reason"]


def test_the_directory_renaming_a_leaver_as_it_deactivates_him_withdraws_what_went_to_his_address(
    owner: User, teammate: User, site_admin: User, django_capture_on_commit_callbacks: Any
) -> None:
    """Directories often rename a leaver's address in the request that deactivates him
    (``tom.teammate.left@...``): what colleagues sent to the address he had, a mailbox
    someone may still read, is withdrawn all the same."""
    report = version_store(
        actor=owner, folder=root_of(owner), name="compte-rendu.pdf", content=content_of(900)
    ).file
    _link, token = links.share_link_create(
        actor=owner, target=report, recipient_email=teammate.email
    )
    mailbox = Client()
    assert mailbox.get(f"/s/{token}/").status_code == 200
    _directory_token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    directory = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    with django_capture_on_commit_callbacks(execute=True):
        answer = directory.patch(
            f"/scim/v2/Users/{teammate.pk}",
            json.dumps(
                {
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [
                        {"op": "replace", "path": "active", "value": False},
                        {
                            "op": "replace",
                            "path": "emails",
                            "value": [
                                {"value": "tom.teammate.left@hopital.example", "primary": True}
                            ],
                        },
                    ],
                }
            ),
            content_type="application/scim+json",
        )
    assert answer.status_code == 200, answer.content
    tom = User.objects.get(pk=teammate.pk)
    assert not tom.is_active
    assert tom.email == "tom.teammate.left@hopital.example"

    answer = mailbox.get(f"/s/{token}/")
    assert answer.status_code == 410
    assert "This link was withdrawn" in answer.content.decode()
    told = [message for message in mail.outbox if message.to == [owner.email]]
    assert len(told) == 1
    assert "compte-rendu.pdf" in told[0].body
    assert "teammate@hopital.example" in told[0].body  # the address it had been sent to
    event = AuditEvent.objects.get(action=Action.SHARING_LINK_REVOKE)
    assert event.details["reason"] == "recipient left"
    assert event.actor_label.startswith("directory") or event.actor_label == "system"
    kept = OffboardingReport.objects.get(user=tom)
    assert [line["key"] for line in kept.plan["lines"]].count("links_to_them_withdrawn") == 1


def scim_deactivated_and_renamed(site_admin: User, person: User, new_address: str) -> None:
    _directory_token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    answer = Client(HTTP_AUTHORIZATION=f"Bearer {raw}").patch(
        f"/scim/v2/Users/{person.pk}",
        json.dumps(
            {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [
                    {"op": "replace", "path": "active", "value": False},
                    {"op": "replace", "path": "emails", "value": [{"value": new_address}]},
                ],
            }
        ),
        content_type="application/scim+json",
    )
    assert answer.status_code == 200, answer.content


def test_an_invitation_still_pending_for_a_leavers_address_never_opens_a_new_account(
    owner: User, teammate: User, site_admin: User, team: Team
) -> None:
    """Sam invited Tom into the ward's team; the directory made Tom's account before he
    used the invitation (refused while the account holds the address). Tom leaves and
    the directory renames him: whoever reads tom.teammate@... must not get a new account
    in the ward's team from that invitation."""
    token = "pending-invitation-" + "x" * 30
    invitation = Invitation.objects.create(
        email="Tom.Teammate@hopital.example",
        token_hash=invitations.token_hash(token),
        invited_by=site_admin,
        expires_at=timezone.now() + timedelta(days=3),
    )
    invitation.teams.set([team])
    assert Client().get(f"/accounts/invitation/{token}/").status_code == 200  # still live

    scim_deactivated_and_renamed(site_admin, teammate, "tom.teammate.left@hopital.example")

    answer = Client().get(f"/accounts/invitation/{token}/")
    assert answer.status_code == 410
    assert Invitation.objects.get(pk=invitation.pk).revoked_at is not None
    assert not User.objects.filter(email__iexact="tom.teammate@hopital.example").exists()
    revoked = AuditEvent.objects.get(action=Action.ACCOUNTS_INVITATION_REVOKE)
    assert revoked.details == {
        "email": "Tom.Teammate@hopital.example",
        "invited_by": site_admin.email,
        "reason": "account deactivated",
    }
    kept = OffboardingReport.objects.get(user=teammate)
    line = next(line for line in kept.plan["lines"] if line["key"] == "invitations_to_them_revoked")
    assert line["withdrawn"] == ["Sam Admin <sam.admin@hopital.example>"]
    words = [line["text"] for line in plan_in_words(kept.plan, done=True)]
    assert "1 pending invitation to their address revoked" in words


def test_an_upload_under_a_leavers_address_into_a_colleagues_request_is_kept_and_said(
    owner: User, teammate: User, site_admin: User, django_capture_on_commit_callbacks: Any
) -> None:
    """Tom was sending lab results into Alice's file request from the ward computer when
    he left. The request's link, not Tom, allows the upload, and it reads nothing back:
    it is not cut (Alice asked for those results; nothing is lost), but the
    administrator's plan and report say it is still arriving under his address."""
    from tests.test_sharing_requests import (
        create_request,
        location,
        results_folder,
        tus_create,
        tus_patch,
    )

    _request, token = create_request(owner, results_folder(owner))
    ward_pc = Client()
    content = content_of(2000)
    created = tus_create(
        ward_pc,
        token,
        len(content),
        "bilan.pdf",
        uploader_name="Tom Teammate",
        uploader_email="TOM.teammate@hopital.example",
    )
    assert created.status_code == 201
    url = location(created)
    assert tus_patch(ward_pc, url, 0, content[:1000]).status_code == 204

    preview, _done = deactivated(
        client_signed_in(site_admin), teammate, django_capture_on_commit_callbacks
    )

    assert "1 upload under their address is still arriving into a colleague" in preview
    # Counted, not named: the request's title and the file name a patient.
    assert "Bilan sanguin M. Petit" not in preview
    assert "bilan.pdf" not in preview
    assert tus_patch(ward_pc, url, 1000, content[1000:]).status_code == 204
    kept = OffboardingReport.objects.get(user=teammate)
    line = next(
        line for line in kept.plan["lines"] if line["key"] == "uploads_arriving_under_address"
    )
    assert line["count"] == 1
