"""Names and words (issue #15, item 7): people named in full, dates in the reader's
language with the site's time zone named, success messages that say what happened, one
verb ("withdraw") for ending a link, a transfer or a share."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.utils import translation

from accounts.models import User
from core.templatetags.dates import when
from sharing.models import ShareRole
from sharing.services import shares
from sharing.services.links import share_link_create
from tests.conftest import user_create
from tests.files_helpers import root_of, version_store
from tests.helpers import CONFIRMED, client_signed_in

pytestmark = pytest.mark.django_db

MOMENT = dt.datetime(2026, 12, 6, 17, 30, tzinfo=dt.UTC)  # 18:30 in Paris


def test_a_date_reads_in_the_readers_language_with_the_time_zone_named() -> None:
    with translation.override("en"):
        assert when(MOMENT) == "6 December 2026, 18:30 (Paris time)"
    with translation.override("fr"):
        assert when(MOMENT) == "6 décembre 2026 à 18:30 (heure de Paris)"
    assert when(None) == ""


def test_a_doctor_is_greeted_by_her_full_name_not_her_title() -> None:
    claire = user_create("claire.martin@hopital.example", full_name="Dr Claire Martin")
    page = client_signed_in(claire).get("/").content.decode()
    assert "Welcome, Dr Claire Martin" in page
    assert claire.get_short_name() == "Dr Claire Martin"


def messages_after(client: object, response: object) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]  # type: ignore[attr-defined]


@pytest.mark.usefixtures("folder_backend")
def test_withdrawing_a_link_or_a_share_says_what_was_withdrawn(owner: User) -> None:
    version = version_store(actor=owner, folder=root_of(owner), name="IRM genou.dcm", content=b"x")
    link, _token = share_link_create(actor=owner, target=version.file)
    colleague = user_create("tom@hopital.example", full_name="Dr Tom Durand")
    share = shares.share_create(
        actor=owner, item=version.file, recipient=colleague, role=ShareRole.VIEWER
    )
    clinician = client_signed_in(owner)
    clinician.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    answer = clinician.post(f"/sharing/links/{link.pk}/revoke/", CONFIRMED)
    assert messages_after(clinician, answer) == [
        "Link to “IRM genou.dcm” withdrawn: it no longer opens."
    ]
    answer = clinician.post(f"/sharing/shares/{share.pk}/remove/")
    assert messages_after(clinician, answer)[-1:] == [
        "Access of Dr Tom Durand to “IRM genou.dcm” withdrawn."
    ]
    page = clinician.get(f"/sharing/files/{version.file_id}/links/").content.decode()
    assert "withdrawn" in page
    assert "revoked" not in page.replace('data-state="revoked"', "")
