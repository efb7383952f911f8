"""An outside review of the tus uploads (December 2026): what a hostile or unlucky client
can do to an upload in flight, each story checked against the real services."""

# Fixtures are imported by name from tests.files_helpers; pytest injects them.

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from accounts import services as account_services
from accounts.models import Team, TeamMembership, User
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from files import services, tus
from files.models import File, UploadSession
from tests.files_helpers import Backend, content_of
from tests.test_tus import create, location, token_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("small_segments")]


def _reader_that_runs(
    body: bytes, *, after: int, action: Callable[[], None]
) -> Callable[[int], bytes]:
    """A request body that runs ``action`` once ``after`` bytes were read: something that
    happens elsewhere while the bytes are still arriving."""
    sent = 0
    done = False

    def read(size: int) -> bytes:
        nonlocal sent, done
        if sent >= after and not done:
            done = True
            action()
        piece = body[sent : sent + min(size, after - sent if sent < after else size)]
        sent += len(piece)
        return piece

    return read


def test_removed_from_the_team_while_the_last_chunk_arrives_keeps_no_file_and_no_blob(
    owner: User,
    teammate: User,
    team: Team,
    backend: Backend,
    django_capture_on_commit_callbacks: Any,
) -> None:
    # Tom sends an echocardiogram into the cardiology space; his last chunk is on its
    # way when the manager moves him to another department.
    team_root = services.space_root(services.space_team_get_or_create(team=team))
    api = token_client(teammate)
    content = content_of(1000, seed="last-chunk")
    url = location(create(api, len(content), folder=team_root.pk, name="echo-dupont.dcm"))
    session = UploadSession.objects.get()

    def removed() -> None:
        account_services.team_member_remove(
            actor=owner,
            membership=TeamMembership.objects.get(team=team, user=teammate),
            reason=account_services.MembershipEndReason.TEAM_MANAGEMENT,
        )

    with pytest.raises(tus.TusError) as refused, django_capture_on_commit_callbacks(execute=True):
        tus.upload_append(
            actor=teammate,
            session=session,
            offset_header="0",
            content_length=len(content),
            read=_reader_that_runs(content, after=500, action=removed),
        )

    # Refused like the next PATCH of a leaver is: no file in the team's space, no upload
    # holding its room, no ciphertext left in storage with nothing pointing at it.
    assert refused.value.status == 403
    assert not File.objects.filter(name="echo-dupont.dcm").exists()
    assert not UploadSession.objects.exists()
    assert not backend.exists(session.blob_key)
    assert not [key for key, _data in backend.everything()]
    refusal = AuditEvent.objects.get(action=Action.FILES_UPLOAD_REJECT)
    assert refusal.outcome == Outcome.DENIED
    assert refusal.details["name"] == "echo-dupont.dcm"
    assert api.head(url, headers={"Tus-Resumable": "1.0.0"}).status_code == 404
