"""The French console (issue #14): an auditor who reads French finds no English word and
no raw action code on any page of the console (questions, answers, explorer, integrity,
alerts, investigation report). The English is harvested from the console's own
templates and from the action catalogue, so a string added untranslated fails here.

Left out on purpose: an event's own page, which shows the event as recorded (its code
and its JSON) for experts, and the downloads of exports and proofs, which are data.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.utils import translation

from accounts.models import User
from audit import services as audit
from audit.actions import Action, Category
from audit.alerts import alerts_evaluate
from audit.models import AlertRule, Outcome
from tests.files_helpers import Backend
from tests.helpers import client_signed_in
from tests.test_audit_questions import (
    audit_folders,  # noqa: F401  (autouse fixture: checkpoints and key in tmp_path)
    downloads_of_the_echo,
    echo_in_cardiology,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rate_limit_cache")]
TEMPLATES = Path(settings.BASE_DIR) / "templates" / "audit"
SATURDAY_NIGHT = dt.datetime(2026, 11, 21, 3, 0, tzinfo=ZoneInfo("Europe/Paris"))


def english_of_the_console() -> set[str]:
    """Every English sentence the console may show whose French differs: the templates'
    literal strings and the catalogue's labels (actions, categories, alert rules)."""
    found: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        found.update(re.findall(r'{% translate "([^"{}%]+)"', text))
        blocks = re.findall(r"{% blocktranslate[^%]*%}(.*?){% (?:endblocktranslate|plural)", text)
        for block in blocks:
            # The literal runs between placeholders: "then in", "now:".
            found.update(part.strip() for part in re.split(r"{{[^}]+}}", block))
    with translation.override("en"):
        labels = [str(action.label) for action in Action]
        labels += [str(label) for _value, label in [*Category.choices, *AlertRule.choices]]
    found.update(labels)
    with translation.override("fr"):
        return {
            english
            for english in found
            if len(english) >= 4
            and re.search(r"[A-Za-z]{3}", english)
            and translation.gettext(english) != english
        }


def visible_text(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r"<[^>]+>", " ", page)
    return html.unescape(page)


def test_the_french_console_has_no_english_and_no_action_codes(
    auditor: User, owner: User, folder_backend: Backend
) -> None:
    User.objects.filter(pk=auditor.pk).update(language="fr")
    echo = echo_in_cardiology(owner)
    downloads_of_the_echo(owner, echo)
    audit.record(
        action=Action.ACCOUNTS_LOGIN,
        outcome=Outcome.DENIED,
        actor_label=owner.email,
        details={"reason": "invalid credentials"},
    )
    audit.record(
        action=Action.FILES_VERSION_DOWNLOAD,
        actor=owner,
        target_type="files.version",
        target_id="v-night",
        details={"file": echo.pk, "name": echo.name, "number": 1},
        occurred_at=SATURDAY_NIGHT,
    )
    assert alerts_evaluate()  # an alert to read in French
    client = client_signed_in(auditor)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    pages = {
        "/audit/": {},
        "/audit/file/": {"q": "dupont"},
        "/audit/file/?item": {"item": f"file:{echo.pk}"},
        "/audit/file/access/": {"item": f"file:{echo.pk}"},
        "/audit/person/": {"actor": owner.email},
        "/audit/outside/": {},
        "/audit/failures/": {},
        "/audit/explore/": {},
        "/audit/integrity/": {},
        "/audit/alerts/": {},
        "/audit/report/": {"item": f"file:{echo.pk}"},
    }
    english = english_of_the_console()
    assert "downloaded" in english  # the harvest works
    codes = [action.value for action in Action]
    for url, query in pages.items():
        response = client.get(url.split("?")[0], query)
        assert response.status_code == 200, url
        text = visible_text(response.content.decode())
        left = sorted(
            word for word in english if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text)
        )
        assert left == [], (url, left)
        raw = [code for code in codes if code in text]
        assert raw == [], (url, raw)
        assert "link:" not in text, url
