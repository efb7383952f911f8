"""A form refused by the check against forged cross-site requests leaves an audit event
(``request.csrf.refuse``, securedrive.views.csrf_failure) and a page saying what to do.

The story: Alice is signed in on the ward PC; a page of another site she has open posts
"create a link to this file" and "delete this file" in her name. Django refuses both;
the log says so (the view, the other site's host, never a path that may hold a token)."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import PersonalAccessToken, User
from audit import refusals as refusals_recorder
from audit.actions import Action
from audit.models import AuditEvent
from files.models import File
from sharing.models import ShareLink
from tests.files_helpers import root_of, version_store
from tests.helpers import CONFIRMED, client_signed_in, expiry_fields

pytestmark = pytest.mark.django_db

EVIL = "https://evil.example"


def csrf_refusals() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=Action.REQUEST_CSRF_REFUSE).order_by("pk"))


def alices_browser(owner: User) -> Client:
    client = client_signed_in(owner)
    client.handler.enforce_csrf_checks = True
    return client


def test_a_forged_link_creation_from_another_site_is_refused_and_audited(
    owner: User, folder_backend: Any
) -> None:
    file = version_store(actor=owner, folder=root_of(owner), name="Bilan.pdf", content=b"b").file
    answer = alices_browser(owner).post(
        f"/sharing/files/{file.pk}/links/",
        {**expiry_fields(7), **CONFIRMED},
        HTTP_ORIGIN=EVIL,
        HTTP_REFERER=f"{EVIL}/s/secret-token-in-a-path/?q=1",
    )
    assert answer.status_code == 403
    assert not ShareLink.objects.exists()
    [event] = csrf_refusals()
    assert event.outcome == "denied"
    assert event.actor_id == str(owner.pk)
    assert event.details["view"] == "sharing:file_links"
    assert event.details["route"] == "sharing/files/<int:file_id>/links/"
    assert event.details["method"] == "POST"
    assert event.details["origin"] == EVIL
    assert event.details["referer"] == EVIL
    assert event.details["reason"].startswith("Origin checking failed - https://evil.example ")
    assert "secret-token" not in str(event.details)


def test_a_forged_deletion_shows_a_clear_page_in_the_sites_layout(
    owner: User, folder_backend: Any
) -> None:
    file = version_store(actor=owner, folder=root_of(owner), name="Bilan.pdf", content=b"b").file
    answer = alices_browser(owner).post(f"/files/{file.pk}/delete/", {})
    assert answer.status_code == 403
    assert File.objects.get(pk=file.pk).deleted_at is None
    page = answer.content.decode()
    assert "The form has expired" in page
    assert "reload the page and send the form again" in page
    assert "another site may have tried to act in your name" in page
    assert 'href="/files/"' in page  # Alice's own navigation: the page knows her
    [event] = csrf_refusals()
    assert event.details["reason"] == "CSRF cookie not set."
    assert event.details["view"] == "files:file_delete"


def test_the_expired_form_page_is_in_french(owner: User) -> None:
    browser = alices_browser(owner)
    browser.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    page = browser.post("/accounts/login/", {"username": owner.email}).content.decode()
    assert "Le formulaire a expiré" in page
    assert "un autre site a peut-être tenté d\u2019agir en votre nom" in page


def test_a_forged_session_api_call_is_audited_too(owner: User) -> None:
    answer = alices_browser(owner).post(
        "/api/v1/tokens/",
        {"name": "Cross-site", "scopes": ["read"], "expires_in_days": 7},
        content_type="application/json",
    )
    assert answer.status_code == 403
    assert not PersonalAccessToken.objects.exists()
    [event] = csrf_refusals()
    assert event.details["reason"] == "CSRF cookie not set."
    assert event.details["route"].startswith("api/v1/tokens")


def test_someone_not_signed_in_is_recorded_as_anonymous() -> None:
    answer = Client(enforce_csrf_checks=True).post("/accounts/login/", {"username": "x"})
    assert answer.status_code == 403
    [event] = csrf_refusals()
    assert event.actor_id in (None, "")
    assert event.actor_label == "anonymous"


@pytest.mark.usefixtures("rate_limit_cache")
def test_a_flood_of_forged_requests_cannot_fill_the_log(
    owner: User, folder_backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(refusals_recorder, "RECORDED_RATE", "3/10m")
    file = version_store(actor=owner, folder=root_of(owner), name="Bilan.pdf", content=b"b").file
    browser = alices_browser(owner)
    for _ in range(8):
        assert browser.post(f"/files/{file.pk}/delete/", {}).status_code == 403
    assert [bool(event.details.get("next_not_recorded")) for event in csrf_refusals()] == [
        False,
        False,
        False,
        True,
    ]
