"""When the e-mail address of a person still at work changes, what colleagues sent to
her *former* address stops: a transfer or a personal link names its recipient by
address, not by account, and its one-time code goes to that address. The former
mailbox may be handed to someone else (a namesake, a locum), or the change may be an
administrator pointing the account at a mailbox he reads. Tom changes address; Alice had
sent him an MRI by transfer (with the radiologist outside) and a report by personal
link. Nothing is re-pointed to the new address (whoever changed the address would then
receive the codes); the links are withdrawn, Alice is told in her language which files
to send again, and the log says which file, to which former address, now which one."""

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
from accounts.models import Invitation, User
from audit.actions import Action
from audit.models import AuditEvent
from directory.tokens import directory_token_create
from sharing.models import ShareLink, Transfer
from sharing.services import links
from tests.files_helpers import body_of, content_of, root_of, version_store
from tests.helpers import client_signed_in
from tests.test_offboarding_addressed_to_leaver import (
    RADIOLOGIST,
    SUBJECT,
    code_confirmed,
    token_mailed_to,
    transfer_sent,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("folder_backend", "small_segments", "rate_limit_cache"),
]

FORMER = "tom.teammate@hopital.example"
NEW = "tom.durand@hopital.example"
REASON = "recipient address changed"


def scim_user(person: User, email: str) -> dict[str, Any]:
    """The directory's whole record of the person (a PUT), with ``email``."""
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": email,
        "displayName": person.full_name,
        "emails": [{"value": email, "type": "work", "primary": True}],
        "active": True,
    }


def directory_for(site_admin: User) -> Client:
    _token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def text_of(response: Any) -> str:
    """The page as read on screen: tags out, blanks folded."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_the_directory_changing_an_address_withdraws_what_was_sent_to_the_former_one(
    owner: User,
    teammate: User,
    site_admin: User,
    auditor: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    capture = django_capture_on_commit_callbacks
    alice, tom = owner, teammate
    assert tom.email == FORMER
    transfer, mri = transfer_sent(alice, [tom.email, RADIOLOGIST], capture)
    tom_transfer, radio_transfer = token_mailed_to(tom.email), token_mailed_to(RADIOLOGIST)
    report = version_store(
        actor=alice, folder=root_of(alice), name="compte-rendu.pdf", content=content_of(900)
    ).file
    _link, tom_link = links.share_link_create(
        actor=alice, target=report, recipient_email=tom.email, email_verification=True
    )
    # Tom's former mailbox, read in this browser: the codes typed, both open.
    mailbox = Client()
    code_confirmed(mailbox, tom_transfer, capture)
    assert body_of(mailbox.get(f"/s/{tom_transfer}/files/{mri.pk}/")) == content_of(3000)
    code_confirmed(mailbox, tom_link, capture)
    assert mailbox.get(f"/s/{tom_link}/").status_code == 200
    radiologist = Client()
    code_confirmed(radiologist, radio_transfer, capture)
    User.objects.filter(pk=alice.pk).update(language="fr")  # Alice reads French

    # The directory gives Tom a new address (a PUT of his whole record); he stays active.
    with capture(execute=True):
        answer = directory_for(site_admin).put(
            f"/scim/v2/Users/{tom.pk}",
            json.dumps(scim_user(tom, NEW)),
            content_type="application/scim+json",
        )
    assert answer.status_code == 200, answer.content
    tom.refresh_from_db()
    assert tom.is_active
    assert tom.email == NEW

    # Whoever reads the former mailbox: a clear refusal on every way in, never a 500.
    for url in (
        f"/s/{tom_transfer}/",
        f"/s/{tom_transfer}/files/{mri.pk}/",
        f"/s/{tom_transfer}/archive/",
        f"/s/{tom_link}/",
        f"/s/{tom_link}/files/{report.pk}/",
    ):
        refused = mailbox.get(url)
        assert refused.status_code == 410, url
        assert "This link was withdrawn" in refused.content.decode(), url
    sent_before = len(mail.outbox)
    assert Client().post(f"/s/{tom_link}/", {"action": "send_code"}).status_code == 410
    assert len(mail.outbox) == sent_before
    # Nothing follows Tom to his new address: the links are not re-pointed.
    assert not ShareLink.objects.filter(recipient_email__iexact=NEW).exists()
    # The radiologist is not Tom: her link of the same transfer still works.
    assert radiologist.get(f"/s/{radio_transfer}/").status_code == 200
    assert Transfer.objects.get(pk=transfer.pk).revoked_at is None

    # Alice is told once, in French, which files, and that Tom's address changed.
    told = [message for message in mail.outbox if message.to == [alice.email]]
    assert len(told) == 1
    assert told[0].subject == (
        "L\u2019adresse de Tom Teammate a changé\u00a0: les fichiers envoyés à "
        "l\u2019ancienne ont été retirés"
    )
    body = str(told[0].body)
    assert f"Transfert «\u00a0{SUBJECT}\u00a0»" in body
    assert "irm-genou.dcm" in body
    assert "compte-rendu.pdf" in body
    assert FORMER in body
    assert NEW in body

    # One event per link, naming the file, the former and the new address.
    events = AuditEvent.objects.filter(
        action=Action.SHARING_LINK_REVOKE, details__reason=REASON
    ).order_by("sequence")
    assert [(event.details["name"], event.details["owner"]) for event in events] == [
        (SUBJECT, alice.email),
        ("compte-rendu.pdf", alice.email),
    ]
    assert all(event.details["recipient"] == FORMER for event in events)
    assert all(event.details["recipient_new_address"] == NEW for event in events)
    assert events[0].details["files"] == ["irm-genou.dcm"]
    assert all(event.actor_label.startswith("directory “Entra ID”") for event in events)
    # The directory's own event counts them.
    updated = AuditEvent.objects.get(action=Action.DIRECTORY_USER_UPDATE)
    assert updated.details["links_to_former_address_withdrawn"] == 2

    # The auditor's console says it in a sentence.
    page = text_of(client_signed_in(auditor).get("/audit/explore/"))
    assert f"withdrew a link with {FORMER} compte-rendu.pdf (link made by {alice.email})" in page
    assert (
        f"withdrew a link with {FORMER} transfer “{SUBJECT}” (irm-genou.dcm) "
        f"(link made by {alice.email})" in page
    )
    assert f"the address of its recipient changed from {FORMER} to {NEW}" in page


def test_a_patch_of_the_address_withdraws_too_and_revokes_invitations_to_the_former_one(
    owner: User, teammate: User, site_admin: User, django_capture_on_commit_callbacks: Any
) -> None:
    """An invitation sent to Tom's address before the directory made his account is
    refused while the account holds the address; once it no longer does, it would open
    a new account, with its teams, to whoever reads the former mailbox."""
    report = version_store(
        actor=owner, folder=root_of(owner), name="compte-rendu.pdf", content=content_of(900)
    ).file
    _link, token = links.share_link_create(actor=owner, target=report, recipient_email=FORMER)
    mailbox = Client()
    assert mailbox.get(f"/s/{token}/").status_code == 200
    invitation_token = "pending-invitation-" + "y" * 30
    invitation = Invitation.objects.create(
        email="Tom.Teammate@hopital.example",
        token_hash=invitations.token_hash(invitation_token),
        invited_by=site_admin,
        expires_at=timezone.now() + timedelta(days=3),
    )

    with django_capture_on_commit_callbacks(execute=True):
        answer = directory_for(site_admin).patch(
            f"/scim/v2/Users/{teammate.pk}",
            json.dumps(
                {
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [
                        {"op": "replace", "path": "emails", "value": [{"value": NEW}]},
                    ],
                }
            ),
            content_type="application/scim+json",
        )
    assert answer.status_code == 200, answer.content
    assert User.objects.get(pk=teammate.pk).email == NEW

    assert mailbox.get(f"/s/{token}/").status_code == 410
    told = [message for message in mail.outbox if message.to == [owner.email]]
    assert len(told) == 1
    assert told[0].subject == (
        "Tom Teammate's address changed: the files you sent to the former one were withdrawn"
    )
    assert "compte-rendu.pdf" in told[0].body
    assert Client().get(f"/accounts/invitation/{invitation_token}/").status_code == 410
    assert Invitation.objects.get(pk=invitation.pk).revoked_at is not None
    revoked = AuditEvent.objects.get(action=Action.ACCOUNTS_INVITATION_REVOKE)
    assert revoked.details == {
        "email": "Tom.Teammate@hopital.example",
        "invited_by": site_admin.email,
        "reason": "address changed",
    }


def test_a_change_of_letter_case_only_withdraws_nothing(
    owner: User, teammate: User, site_admin: User, django_capture_on_commit_callbacks: Any
) -> None:
    """An account stored as "Tom.Teammate@…" (before addresses were kept in lower case)
    that the directory sends as "tom.teammate@…" is the same mailbox: Tom's links stay.
    (A guard for the case-insensitive comparison: it passes on the code before too.)"""
    User.objects.filter(pk=teammate.pk).update(email="Tom.Teammate@hopital.example")
    report = version_store(
        actor=owner, folder=root_of(owner), name="compte-rendu.pdf", content=content_of(900)
    ).file
    _link, token = links.share_link_create(actor=owner, target=report, recipient_email=FORMER)
    with django_capture_on_commit_callbacks(execute=True):
        answer = directory_for(site_admin).put(
            f"/scim/v2/Users/{teammate.pk}",
            json.dumps(scim_user(teammate, FORMER)),
            content_type="application/scim+json",
        )
    assert answer.status_code == 200, answer.content
    assert Client().get(f"/s/{token}/").status_code == 200
    assert not AuditEvent.objects.filter(action=Action.SHARING_LINK_REVOKE).exists()
    assert not [message for message in mail.outbox if message.to == [owner.email]]


def test_a_set_up_link_sent_to_the_former_address_no_longer_opens_the_account(
    teammate: User, site_admin: User
) -> None:
    """The set-up link's token hashes the account's address: one e-mailed to Tom's former
    mailbox no longer checks once the directory changed it. (A guard: Django's token
    generator does this, so it passes on the code before too.)"""
    from accounts.services import setup_link_token_generator

    User.objects.filter(pk=teammate.pk).update(password="!unusable")
    teammate.refresh_from_db()
    token = setup_link_token_generator.make_token(teammate)
    assert setup_link_token_generator.check_token(teammate, token)
    answer = directory_for(site_admin).put(
        f"/scim/v2/Users/{teammate.pk}",
        json.dumps(scim_user(teammate, NEW)),
        content_type="application/scim+json",
    )
    assert answer.status_code == 200, answer.content
    teammate.refresh_from_db()
    assert not setup_link_token_generator.check_token(teammate, token)
