"""An outside review of "admins cut access the minute staff leave": a leaver tries to
keep access through every channel left open before the deactivation."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client

from accounts import invitations, offboarding
from accounts.models import Invitation, Team, TeamMembership, User
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from tests.conftest import PASSWORD, user_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def departing_admin(db: None) -> User:
    return user_create("dana.depart@hopital.example", full_name="Dana Depart", is_site_admin=True)


def test_invitation_a_departing_admin_sent_to_their_own_alias_opens_nothing_after(
    site_admin: User, departing_admin: User
) -> None:
    # Before leaving, the administrator invites a private address into the team that
    # holds the patients' files...
    cardiology = Team.objects.create(name="Cardiologie", slug="cardiologie")
    sent = invitations.invitation_create(
        actor=departing_admin, email="dana.perso@mail.example", teams=[cardiology]
    )
    offboarding.user_deactivate(actor=site_admin, user=departing_admin, successor=None)

    # ...and, once gone, opens the link to come back in under that address.
    path = urlsplit(sent.url).path
    outside = Client()
    assert outside.get(path).status_code == 410
    answer = outside.post(
        path,
        {"full_name": "Dana", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert answer.status_code == 410
    assert not User.objects.filter(email="dana.perso@mail.example").exists()
    assert not TeamMembership.objects.filter(team=cardiology).exists()

    # The administrators see it: revoked with the offboarding, which says so.
    assert Invitation.objects.get().revoked_at is not None
    event = AuditEvent.objects.get(action=Action.ACCOUNTS_USER_DEACTIVATE)
    assert event.details["invitations_revoked"] == 1
    assert AuditEvent.objects.filter(
        action=Action.ACCOUNTS_INVITATION_USE, outcome=Outcome.DENIED
    ).exists()
