"""A link's token is a capability to patient files: it must never be written into the
audit log, which auditors read and a SIEM receives, and auditors may not read content
(separation of duties). The refusals recorded by the site's middleware name the path
they refused: for /s/<token>/ that path carries the token, so it is recorded redacted
(``/s/[token]/``), as the application's log lines are (core/log_format.py)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from accounts.models import User, UserSession
from audit.actions import Action
from audit.models import AuditEvent
from sharing.services.links import share_link_create
from tests.files_helpers import Backend, content_of, root_of, version_store
from tests.helpers import client_signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rate_limit_cache")]

PASSWORD = "Radiologie-2026"


@pytest.fixture
def redis_down() -> Iterator[None]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": f"redis://127.0.0.1:{port}/0"}}  # fmt: skip
    with override_settings(CACHES=closed):
        yield


def link_token(owner: User, **options: object) -> str:
    version = version_store(
        actor=owner, folder=root_of(owner), name="irm.dcm", content=content_of(3000)
    )
    _link, token = share_link_create(actor=owner, target=version.file, **options)  # type: ignore[arg-type]
    return token


def audited_text() -> str:
    return json.dumps([event.details for event in AuditEvent.objects.all()], ensure_ascii=False)


def test_a_password_refused_while_the_counters_are_down_leaves_no_token_in_the_log(
    owner: User, folder_backend: Backend, redis_down: None
) -> None:
    token = link_token(owner, password=PASSWORD)
    answer = Client().post(
        reverse("share_link:open", args=[token]), {"action": "password", "password": "x"}
    )
    assert answer.status_code == 503
    [event] = AuditEvent.objects.filter(action=Action.RATELIMIT_UNAVAILABLE)
    assert event.details["path"] == "/s/[token]/"
    assert token not in audited_text()


def test_a_nul_in_a_links_address_is_refused_without_its_token_in_the_log(
    owner: User, folder_backend: Backend
) -> None:
    token = link_token(owner)
    answer = Client().get(reverse("share_link:open", args=[token]) + "?page=%00")
    assert answer.status_code == 400
    [event] = AuditEvent.objects.filter(action=Action.REQUEST_QUERY_REFUSE)
    assert event.details["path"] == "/s/[token]/"
    assert token not in audited_text()


def test_a_revoked_session_opening_a_link_leaves_no_token_in_the_log(
    owner: User, folder_backend: Backend
) -> None:
    """Someone whose session Alice signed out opens one of her links in that browser:
    the refusal of the dead session is recorded, the link's token is not."""
    token = link_token(owner)
    alice = client_signed_in(owner)
    holder = client_signed_in(owner, user_agent="curl/8")
    stolen = UserSession.objects.get(user=owner, user_agent="curl/8")
    assert alice.post(f"/accounts/sessions/{stolen.pk}/revoke/").status_code == 302
    holder.get(reverse("share_link:open", args=[token]))
    [event] = AuditEvent.objects.filter(action=Action.ACCOUNTS_SESSION_ENDED_REFUSE)
    assert event.details["path"] == "/s/[token]/"
    assert token not in audited_text()
