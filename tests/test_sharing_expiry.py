"""One way of choosing an expiry for links, transfers and file requests: 1 day, 7 days,
30 days or a date, within the sharing policy. A preset means N days on the site's
clock (a week from Thursday 10:00 is next Thursday 10:00, across a change of summer
time too); a date past the policy is refused with its limit named, by the forms and
by the API alike."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.db.models import Model
from django.test import Client
from django.utils import translation

from accounts import tokens as account_tokens
from accounts.models import User
from sharing.models import FileRequest, ShareLink, SharingPolicy, Transfer
from tests.files_helpers import Backend, content_of, root_of, version_store
from tests.helpers import client_signed_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("folder_backend")]

PARIS = ZoneInfo("Europe/Paris")
# Thursday 25 March 2027, 10:00 in Paris; summer time starts on Sunday the 28th.
BEFORE_SUMMER_TIME = dt.datetime(2027, 3, 25, 10, 0, tzinfo=PARIS)


@dataclass(frozen=True)
class Way:
    """One of the three things with an expiry: its creation page and form."""

    name: str
    model: type[Model]
    page: Callable[[User], str]
    fields: Callable[[User], dict[str, str]]
    created_status: int


def _file_links_page(owner: User) -> str:
    version = version_store(
        actor=owner, folder=root_of(owner), name="IRM genou.dcm", content=content_of(2000)
    )
    return f"/sharing/files/{version.file_id}/links/"


WAYS = [
    Way("link", ShareLink, _file_links_page, lambda owner: {"notify_owner": "on"}, 200),
    Way(
        "transfer",
        Transfer,
        lambda owner: "/sharing/transfers/new/",
        lambda owner: {"subject": "IRM"},
        302,
    ),
    Way(
        "file request",
        FileRequest,
        lambda owner: "/sharing/requests/new/",
        lambda owner: {
            "title": "Bilan sanguin",
            "folder": str(root_of(owner).pk),
            "max_files": "5",
            "max_megabytes": "10",
        },
        201,
    ),
]


def policy_set(**changes: Any) -> None:
    SharingPolicy.current()
    SharingPolicy.objects.filter(pk=1).update(**changes)


def expiry_of(way: Way) -> dt.datetime:
    created: Any = way.model.objects.latest("pk")  # type: ignore[attr-defined]
    return created.expires_at.astimezone(PARIS)  # type: ignore[no-any-return]


@pytest.mark.parametrize("way", WAYS, ids=lambda way: way.name)
def test_every_form_offers_the_same_presets_and_a_date_in_a_fieldset(owner: User, way: Way) -> None:
    policy_set(link_max_days=14, link_default_days=7)
    html = client_signed_in(owner).get(way.page(owner)).content.decode()
    fieldset = re.search(
        r"<fieldset[^>]*>\s*<legend[^>]*>Available for</legend>.*?</fieldset>", html, re.S
    )
    assert fieldset, "the expiry is a group with its name"
    group = fieldset.group(0)
    offered = re.findall(r'<label class="form-check-label" for="[^"]+">([^<]+)</label>', group)
    # 30 days is past this site's maximum of 14: not offered.
    assert offered == ["1 day", "7 days", "until a date"]
    assert re.search(r'type="radio" name="expiry" id="id_expiry_7" value="7" checked', group)
    assert 'type="date" name="expiry_date"' in group
    assert (
        '<label class="form-label small mb-1" for="id_expiry_day">Last day (included)</label>'
        in group
    )
    assert "At most 14 days (sharing policy)." in html
    assert "securedrive/expiry.js" in html


@pytest.mark.parametrize("way", WAYS, ids=lambda way: way.name)
def test_a_week_chosen_ends_a_week_later_on_the_sites_clock(owner: User, way: Way) -> None:
    with time_machine.travel(BEFORE_SUMMER_TIME, tick=False):
        client = client_signed_in(owner)
        response = client.post(way.page(owner), {**way.fields(owner), "expiry": "7"})
        assert response.status_code == way.created_status, response.content.decode()[:3000]
    # Next Thursday at 10:00 in Paris: 7 x 24 hours would have said 11:00.
    assert expiry_of(way) == dt.datetime(2027, 4, 1, 10, 0, tzinfo=PARIS)


@pytest.mark.parametrize("way", WAYS, ids=lambda way: way.name)
def test_a_chosen_day_lasts_until_its_end(owner: User, way: Way) -> None:
    with time_machine.travel(BEFORE_SUMMER_TIME, tick=False):
        client = client_signed_in(owner)
        response = client.post(
            way.page(owner),
            {**way.fields(owner), "expiry": "date", "expiry_date": "2027-04-09"},
        )
        assert response.status_code == way.created_status, response.content.decode()[:3000]
    assert expiry_of(way) == dt.datetime(2027, 4, 9, 23, 59, tzinfo=PARIS)


@pytest.mark.parametrize("way", WAYS, ids=lambda way: way.name)
def test_a_date_past_the_policy_is_refused_with_its_limit_named(owner: User, way: Way) -> None:
    policy_set(link_max_days=14)
    with time_machine.travel(BEFORE_SUMMER_TIME, tick=False):
        client = client_signed_in(owner)
        page = way.page(owner)
        too_far = client.post(
            page, {**way.fields(owner), "expiry": "date", "expiry_date": "2027-04-09"}
        )
        forged = client.post(page, {**way.fields(owner), "expiry": "30"})
        french = client_signed_in(owner)
        french.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
        in_french = french.post(
            page, {**way.fields(owner), "expiry": "date", "expiry_date": "2027-04-09"}
        )
        # The last allowed day is accepted.
        last_day = client.post(
            page, {**way.fields(owner), "expiry": "date", "expiry_date": "2027-04-08"}
        )
    message = "The sharing policy allows at most 14 days: choose 8 April 2027 or earlier."
    for refused in (too_far, forged):
        assert refused.status_code == 400
        assert message in refused.content.decode()
    assert (
        "La politique de partage permet au plus 14\u00a0jours\u00a0: choisissez le 8 avril "
        "2027 ou avant." in in_french.content.decode()
    )
    assert last_day.status_code == way.created_status
    assert way.model.objects.count() == 1  # type: ignore[attr-defined]
    assert expiry_of(way) == dt.datetime(2027, 4, 8, 10, 0, tzinfo=PARIS)


def test_the_api_keeps_its_fields_and_says_the_same_limit(
    owner: User, folder_backend: Backend
) -> None:
    """The API takes ``expires_at`` (links) and ``expires_in_days`` (transfers, file
    requests) as before; past the policy it answers with the forms' words."""
    version = version_store(
        actor=owner, folder=root_of(owner), name="ct.dcm", content=content_of(1500)
    )
    message = "The sharing policy allows at most 30 days: choose 24 April 2027 or earlier."
    with time_machine.travel(BEFORE_SUMMER_TIME, tick=False), translation.override("en"):
        _token, plaintext = account_tokens.token_create(
            actor=owner, name="PACS gateway", scopes=["read", "write", "share"], expires_in_days=30
        )
        api = Client(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
        link = api.post(
            f"/api/v1/sharing/files/{version.file_id}/links/",
            {"expires_at": "2027-04-30T12:00:00+02:00"},
            content_type="application/json",
        )
        transfer = api.post(
            "/api/v1/sharing/transfers/",
            {"subject": "Scanner", "expires_in_days": 31},
            content_type="application/json",
        )
        request = api.post(
            "/api/v1/sharing/requests/",
            {"title": "Bilan", "folder": root_of(owner).pk, "expires_in_days": 31},
            content_type="application/json",
        )
        week = api.post(
            "/api/v1/sharing/transfers/",
            {"subject": "Scanner", "expires_in_days": 7},
            content_type="application/json",
        )
    assert link.status_code == 403
    assert transfer.status_code == request.status_code == 400
    for refused in (link, transfer, request):
        assert refused.json()["detail"] == message
    assert week.status_code == 201
    assert dt.datetime.fromisoformat(week.json()["expires_at"]) == dt.datetime(
        2027, 4, 1, 10, 0, tzinfo=PARIS
    )
