"""Four eyes before a key to an account goes to an address someone else just set.

The attack (one site administrator, alone): with a directory (SCIM) token he created
himself, Sam moves Alice's e-mail address to a mailbox he holds, has the directory
deactivate and reactivate her (her password is gone), then sends her a set-up link from
her page: it arrives in his mailbox, he chooses her password and reads her patient
files. Each step was audited and her former address told, but nothing stopped it.

Now, for ``CREDENTIAL_APPROVAL_DAYS`` after someone other than Alice changed her
address, a set-up link (alone or with a reactivation) or a link to the identity
provider needs a second site administrator's approval (accounts/credential_approvals.py).

The people: Alice, a clinician; Sam, the site administrator who created the token;
Rita, a second site administrator; Mallory's mailbox, which Sam holds.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import re
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts import credential_approvals as approvals
from accounts.errors import AccountRuleError
from accounts.models import CredentialApproval, User
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from directory.tokens import directory_token_create
from sso import account_link
from sso.providers import _provider_from
from tests.conftest import user_create
from tests.helpers import CONFIRMED, client_signed_in

# Committed for real: the e-mails leave after the commit (transaction.on_commit).
pytestmark = pytest.mark.django_db(transaction=True)

MALLORY = "mallory@attacker.example"
NEW_PASSWORD = "sam chose this passphrase 77"


def scim_patch(raw_token: str, person: User, operations: list[dict[str, Any]]) -> Any:
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations}
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw_token}").patch(
        f"/scim/v2/Users/{person.pk}", json.dumps(body), content_type="application/scim+json"
    )


def move_address_through_own_token(admin: User, person: User) -> None:
    """Sam's token, Sam's directory requests: the address moves to Mallory's mailbox,
    then a deactivation and a reactivation drop Alice's password."""
    _token, raw = directory_token_create(actor=admin, name="Entra ID")
    moved = scim_patch(
        raw,
        person,
        [
            {
                "op": "replace",
                "path": "emails",
                "value": [{"value": MALLORY, "type": "work", "primary": True}],
            }
        ],
    )
    assert moved.status_code == 200, moved.content
    for active in (False, True):
        toggled = scim_patch(raw, person, [{"op": "replace", "path": "active", "value": active}])
        assert toggled.status_code == 200, toggled.content
    person.refresh_from_db()
    assert person.email == MALLORY
    assert person.is_active
    assert not person.has_usable_password()


def setup_link_post(admin: User, person: User) -> Any:
    return client_signed_in(admin).post(f"/accounts/admin/users/{person.pk}/setup-link/", CONFIRMED)


def links_to(address: str) -> list[str]:
    return [
        found.group(1)
        for message in mail.outbox
        if message.to == [address]
        for found in [re.search(r"https?://\S+(/accounts/setup/\S+/\S+/)", str(message.body))]
        if found is not None
    ]


def test_an_administrator_alone_cannot_move_an_address_and_send_himself_the_key(
    site_admin: User, owner: User
) -> None:
    move_address_through_own_token(site_admin, owner)
    mail.outbox.clear()

    sent = setup_link_post(site_admin, owner)

    assert links_to(MALLORY) == []
    assert sent.status_code == 409
    page = sent.content.decode()
    # Only one administrator: the web refuses and says what the operator does instead.
    assert "manage.py setup_link" in page
    owner.refresh_from_db()
    assert owner.setup_link_sent_at is None
    refusal = AuditEvent.objects.filter(
        action=Action.ACCOUNTS_SETUP_LINK_SEND, outcome=Outcome.DENIED, target_id=str(owner.pk)
    ).get()
    assert refusal.details["reason"] == "address changed by someone else"
    assert refusal.details["address_changed_by"].startswith("directory “Entra ID”")
    assert refusal.details["token_created_by"] == "Sam Admin <sam.admin@hopital.example>"
    # Nor through a reactivation that sends a link, nor through the identity provider.
    with pytest.raises(AccountRuleError):
        account_link.account_link_send(actor=site_admin, user=owner, provider=hospital_provider())
    assert mail.outbox == []


def test_the_token_creator_is_named_with_the_directory_when_an_address_moves(
    site_admin: User, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    former = owner.email
    with django_capture_on_commit_callbacks(execute=True):
        move_address_through_own_token(site_admin, owner)
    [notice] = [message for message in mail.outbox if message.to == [former]]
    assert "The directory's token was created by Sam Admin <sam.admin@hopital.example>." in (
        notice.body
    )
    [moved] = AuditEvent.objects.filter(
        action=Action.DIRECTORY_USER_UPDATE,
        target_id=str(owner.pk),
        details__changes__has_key="email",
    )
    assert moved.actor_label.startswith("directory “Entra ID”")
    assert moved.details["token_created_by"] == "Sam Admin <sam.admin@hopital.example>"


def test_a_second_administrator_approves_once_and_the_link_goes_once(
    site_admin: User, owner: User, django_capture_on_commit_callbacks: Any
) -> None:
    rita = user_create("rita.second@hopital.example", full_name="Rita Second", is_site_admin=True)
    move_address_through_own_token(site_admin, owner)
    mail.outbox.clear()
    sam = client_signed_in(site_admin)

    refused = sam.post(f"/accounts/admin/users/{owner.pk}/setup-link/", CONFIRMED)
    assert refused.status_code == 409
    assert b"Ask a second administrator" in refused.content
    asked = sam.post(
        f"/accounts/admin/users/{owner.pk}/credential-approval/", {"kind": "setup_link"}
    )
    assert asked.status_code == 200  # a confirmation first
    assert CredentialApproval.objects.count() == 0
    asked = sam.post(
        f"/accounts/admin/users/{owner.pk}/credential-approval/",
        {"kind": "setup_link", **CONFIRMED},
    )
    assert asked.status_code == 302
    request = CredentialApproval.objects.get()

    # Sam cannot approve his own request; still no link.
    own = sam.post(
        f"/accounts/admin/credential-approvals/{request.pk}/decide/",
        {"decision": "approve", f"c{request.pk}-confirm": "on"},
    )
    assert own.status_code == 302
    request.refresh_from_db()
    assert request.decided_at is None
    assert sam.post(f"/accounts/admin/users/{owner.pk}/setup-link/", CONFIRMED).status_code == 409

    # Rita sees who changed the address (Sam's own token) and approves.
    rita_browser = client_signed_in(rita)
    listing = rita_browser.get("/accounts/admin/credential-approvals/").content.decode()
    assert MALLORY in listing
    assert "Sam Admin" in listing
    approved = rita_browser.post(
        f"/accounts/admin/credential-approvals/{request.pk}/decide/",
        {"decision": "approve", f"c{request.pk}-confirm": "on"},
    )
    assert approved.status_code == 302
    request.refresh_from_db()
    assert request.approved is True
    assert request.decided_by == rita

    with django_capture_on_commit_callbacks(execute=True):
        first = sam.post(f"/accounts/admin/users/{owner.pk}/setup-link/", CONFIRMED)
    assert first.status_code == 302
    assert len(links_to(MALLORY)) == 1
    request.refresh_from_db()
    assert request.used_at is not None
    # One-time: a second link needs a second approval.
    again = sam.post(f"/accounts/admin/users/{owner.pk}/setup-link/", CONFIRMED)
    assert again.status_code == 409
    assert len(links_to(MALLORY)) == 1

    actions = list(
        AuditEvent.objects.filter(
            action__in=[
                Action.ACCOUNTS_CREDENTIAL_APPROVAL_REQUEST,
                Action.ACCOUNTS_CREDENTIAL_APPROVAL_APPROVE,
                Action.ACCOUNTS_CREDENTIAL_APPROVAL_USE,
            ],
            outcome=Outcome.SUCCESS,
        )
        .order_by("sequence")
        .values_list("action", "actor_id")
    )
    assert actions == [
        (Action.ACCOUNTS_CREDENTIAL_APPROVAL_REQUEST, str(site_admin.pk)),
        (Action.ACCOUNTS_CREDENTIAL_APPROVAL_APPROVE, str(rita.pk)),
        (Action.ACCOUNTS_CREDENTIAL_APPROVAL_USE, str(site_admin.pk)),
    ]
    denied_own = AuditEvent.objects.get(
        action=Action.ACCOUNTS_CREDENTIAL_APPROVAL_APPROVE, outcome=Outcome.DENIED
    )
    assert denied_own.details["reason"] == "requester"
    assert denied_own.details["name"] == "Alice Martin"


def test_a_refused_or_expired_approval_sends_nothing(site_admin: User, owner: User) -> None:
    rita = user_create("rita.second@hopital.example", full_name="Rita Second", is_site_admin=True)
    move_address_through_own_token(site_admin, owner)
    mail.outbox.clear()
    refused = approvals.approval_request(
        actor=site_admin, user=owner, kind=approvals.CredentialKind.SETUP_LINK
    )
    approvals.approval_decide(actor=rita, approval_id=refused.pk, approve=False)
    assert setup_link_post(site_admin, owner).status_code == 409

    later = approvals.approval_request(
        actor=site_admin, user=owner, kind=approvals.CredentialKind.SETUP_LINK
    )
    approvals.approval_decide(actor=rita, approval_id=later.pk, approve=True)
    lapsed = timezone.now() + approvals.APPROVAL_LIFETIME + dt.timedelta(minutes=1)
    with time_machine.travel(lapsed):
        assert setup_link_post(site_admin, owner).status_code == 409
    assert [message for message in mail.outbox if message.to == [MALLORY]] == []


def test_the_rule_lapses_after_the_configured_days_and_the_console_stays_open(
    site_admin: User, owner: User, settings: Any
) -> None:
    move_address_through_own_token(site_admin, owner)
    mail.outbox.clear()
    # The operator at the console already has full access: the command still works.
    call_command("setup_link", MALLORY)
    assert AuditEvent.objects.filter(action=Action.ACCOUNTS_SETUP_LINK_ISSUE).exists()
    owner.set_unusable_password()
    owner.save(update_fields=["password"])
    settings.CREDENTIAL_APPROVAL_DAYS = 14
    with time_machine.travel(timezone.now() + dt.timedelta(days=15)):
        assert setup_link_post(site_admin, owner).status_code == 302
    assert len(links_to(MALLORY)) == 1


def test_an_address_nobody_changed_needs_no_second_administrator(
    site_admin: User, owner: User
) -> None:
    owner.set_unusable_password()
    owner.save(update_fields=["password"])
    assert setup_link_post(site_admin, owner).status_code == 302
    assert len(links_to(owner.email)) == 1


def hospital_provider(slug: str = "test") -> Any:
    return _provider_from(
        slug,
        {
            "name": "Hospital ID",
            "issuer": "https://id.hopital.example",
            "discovery_url": "https://id.hopital.example/.well-known/openid-configuration",
            "client_id": "securedrive",
            "client_secret": "not-a-secret",
        },
    )


def test_a_reactivation_that_would_send_the_link_is_refused_before_anything_changes(
    site_admin: User, owner: User
) -> None:
    _token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    moved = scim_patch(
        raw,
        owner,
        [{"op": "replace", "path": "emails", "value": [{"value": MALLORY, "primary": True}]}],
    )
    assert moved.status_code == 200, moved.content
    assert (
        scim_patch(raw, owner, [{"op": "replace", "path": "active", "value": False}]).status_code
        == 200
    )
    mail.outbox.clear()
    answer = client_signed_in(site_admin).post(
        f"/accounts/admin/users/{owner.pk}/reactivate/", {"send_setup_link": "yes", **CONFIRMED}
    )
    assert answer.status_code == 409
    owner.refresh_from_db()
    assert not owner.is_active
    assert links_to(MALLORY) == []


def test_an_approval_serves_only_its_asker_and_only_the_address_it_was_given_for(
    site_admin: User, owner: User
) -> None:
    rita = user_create("rita.second@hopital.example", full_name="Rita Second", is_site_admin=True)
    move_address_through_own_token(site_admin, owner)
    approval = approvals.approval_request(
        actor=site_admin, user=owner, kind=approvals.CredentialKind.SETUP_LINK
    )
    approvals.approval_decide(actor=rita, approval_id=approval.pk, approve=True)
    mail.outbox.clear()
    # Rita approved Sam's request: that lets Sam send the link, not her.
    assert setup_link_post(rita, owner).status_code == 409
    # The address moves again (the directory, Sam's token): the approval no longer fits.
    _token, raw = directory_token_create(actor=site_admin, name="HR")
    other = "other@attacker.example"
    moved = scim_patch(
        raw,
        owner,
        [{"op": "replace", "path": "emails", "value": [{"value": other, "primary": True}]}],
    )
    assert moved.status_code == 200, moved.content
    assert setup_link_post(site_admin, owner).status_code == 409
    assert links_to(MALLORY) == []
    assert links_to(other) == []


def test_an_address_moved_before_the_upgrade_is_under_the_rule_too(
    site_admin: User, owner: User
) -> None:
    """The migration reads the directory's address changes of the last days from the
    audit log: an attack begun before the upgrade does not finish after it."""
    from django.apps import apps

    backfill = importlib.import_module(
        "accounts.migrations.0008_credential_approval_four_eyes"
    ).address_changes_backfill
    move_address_through_own_token(site_admin, owner)
    User.objects.filter(pk=owner.pk).update(
        email_changed_at=None,
        email_changed_by="",
        email_previous="",
        email_changed_token_creator=None,
    )
    assert setup_link_post(site_admin, owner).status_code == 302  # as before the rule
    owner.set_unusable_password()
    owner.save(update_fields=["password"])

    backfill(apps, None)

    owner.refresh_from_db()
    assert owner.email_previous == "alice.martin@hopital.example"
    assert owner.email_changed_token_creator == site_admin
    assert owner.email_changed_by.startswith("directory “Entra ID”")
    assert setup_link_post(site_admin, owner).status_code == 409
