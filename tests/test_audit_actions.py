"""The catalogue of audit actions (audit/actions.py) is the only place an action is named.

An auditor reads labels, not codes; the alert rules and the privacy export read the
catalogue; and a code written anywhere else (a typo, a new action nobody catalogued)
fails here before it reaches the log.
"""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest
from django.test import Client
from django.utils import translation

from audit import services as audit
from audit.actions import Action, Category, action_catalogued, action_label
from audit.models import AuditEvent
from audit.selectors import audit_chain_verify
from tests.conftest import user_create
from tests.helpers import client_signed_in

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = Path("audit/actions.py")
# This module names a stored code and an uncatalogued one as plain strings on purpose:
# record() must accept the first and refuse the second.
THIS_MODULE = Path("tests/test_audit_actions.py")
DOTTED = re.compile(r"^[a-z][a-z_]*(\.[a-z_]+)+$")


def _sources() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [
        Path(name)
        for name in listed
        if Path(name) not in (CATALOGUE, THIS_MODULE) and "/migrations/" not in name
    ]


def _string_constants(tree: ast.AST) -> list[ast.Constant]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def test_no_action_code_is_written_outside_the_catalogue() -> None:
    """``Action.FILES_VERSION_DOWNLOAD``, never ``"files.version.download"``: the code is
    stored once, in the catalogue, and every call site, rule and test refers to it."""
    codes = {action.value for action in Action}
    found = []
    for path in _sources():
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        found += [
            f"{path}:{node.lineno}: {node.value!r}"
            for node in _string_constants(tree)
            if node.value in codes
        ]
    assert found == []


def test_no_uncatalogued_action_is_recorded() -> None:
    """A string given as an action (``action=``, or the first argument of a ``record``
    helper) must be a catalogue entry; a dotted string there is an action nobody added."""
    found = []
    for path in _sources():
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call):
                continue
            given = [keyword.value for keyword in call.keywords if keyword.arg == "action"]
            name = ast.unparse(call.func).rsplit(".", 1)[-1]
            if "record" in name.lower() and call.args:
                given.append(call.args[0])
            found += [
                f"{path}:{value.lineno}: {value.value!r}"
                for value in given
                if isinstance(value, ast.Constant)
                and isinstance(value.value, str)
                and DOTTED.match(value.value)
                # A prefix filter ("sharing.link") names no single action.
                and not any(action.value.startswith(value.value + ".") for action in Action)
            ]
    assert found == []


@pytest.mark.django_db
def test_recording_an_uncatalogued_action_is_refused() -> None:
    with pytest.raises(ValueError, match="not in the catalogue"):
        audit.record(action="files.version.delete", actor_label="someone")  # type: ignore[arg-type]
    assert not AuditEvent.objects.exists()
    event = audit.record(action="accounts.login", actor_label="someone")  # type: ignore[arg-type]
    assert event.action == Action.ACCOUNTS_LOGIN
    assert audit_chain_verify().intact


def test_every_action_has_a_code_a_label_a_category() -> None:
    """Member names follow the stored codes, so a renamed code (which would orphan the
    events already stored) cannot go unnoticed: its name, and every reference, changes."""
    for action in Action:
        assert re.fullmatch(r"[a-z]+(\.[a-z_]+)+", action.value), action
        assert action.name == action.value.upper().replace(".", "_")
        assert str(action.label)
        assert action.category in Category
        assert all(re.fullmatch(r"[a-z_]+", field) for field in action.personal_details)
    labels = [str(action.label) for action in Action]
    assert len(labels) == len(set(labels)), "two actions an auditor could not tell apart"
    assert action_catalogued("no.such.action") is None
    assert action_label("no.such.action") == "no.such.action"


def test_labels_are_translated() -> None:
    with translation.override("en"):
        english = {action: str(action.label) for action in Action}
    with translation.override("fr"):
        assert str(Action.FILES_VERSION_DOWNLOAD.label) == "a téléchargé"
        assert str(Action.ACCOUNTS_LOGIN.label) == "s\u2019est connecté"
        assert str(Category.SHARING.label) == "partage"
        untranslated = [action.name for action in Action if str(action.label) == english[action]]
    assert untranslated == []


def test_labels_use_the_verbs_of_the_screens() -> None:
    """An auditor reads the words the clinician clicked: a link, a transfer or a share is
    withdrawn ("Withdraw", "Retirer"); a token, an invitation is revoked. The stored
    codes keep their old verb (the hash chain covers them)."""
    expected = {
        Action.SHARING_LINK_REVOKE: ("withdrew a link", "a retiré un lien"),
        Action.SHARING_TRANSFER_REVOKE: ("withdrew a transfer", "a retiré un transfert"),
        Action.SHARING_SHARE_DELETE: ("withdrew a share", "a retiré un partage"),
        Action.ACCOUNTS_TOKEN_REVOKE: (
            "revoked an access token",
            "a révoqué un jeton d\u2019accès",
        ),
        Action.ACCOUNTS_INVITATION_REVOKE: ("revoked an invitation", "a révoqué une invitation"),
    }
    for language, index in (("en", 0), ("fr", 1)):
        with translation.override(language):
            assert {action: str(action.label) for action in expected} == {
                action: words[index] for action, words in expected.items()
            }
    assert Action.SHARING_LINK_REVOKE.value == "sharing.link.revoke"


@pytest.mark.django_db
def test_the_console_shows_labels_and_filters_by_category(db: None) -> None:
    auditor = user_create("audrey.auditor@hopital.example", is_auditor=True)
    alice = user_create("alice.owner@hopital.example")
    audit.record(action=Action.FILES_VERSION_DOWNLOAD, actor=alice)
    audit.record(action=Action.SHARING_LINK_CREATE, actor=alice)
    client: Client = client_signed_in(auditor)

    page = client.get("/audit/explore/").content.decode()
    assert "downloaded" in page
    assert "shared by link" in page

    sharing_only = client.get("/audit/", {"category": Category.SHARING}).context["events"]
    assert {event.action for event in sharing_only} == {Action.SHARING_LINK_CREATE}

    french = client.get("/audit/explore/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "a téléchargé" in french
    assert "a partagé par lien" in french


# Detail names that hold someone's address or name wherever they appear.
PERSONAL_DETAIL = re.compile(r"(email|recipient|uploader_name|full_name|person|ip_address)")
NOT_PERSONAL = {"email_verified"}  # whether the provider checked it: a yes or no


def test_every_detail_naming_a_person_is_catalogued_as_personal_data() -> None:
    """The privacy export finds a person's events, and hides others' data in them, by
    the detail fields the catalogue marks as personal: a field left out means events
    about someone missing from their copy (GDPR Art. 15), or someone else's address
    handed to them. Read from every call that names its action and its details."""
    missing = []
    for path in _sources():
        tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
        for call in (node for node in ast.walk(tree) if isinstance(node, ast.Call)):
            keywords = {keyword.arg: keyword.value for keyword in call.keywords if keyword.arg}
            action = keywords.get("action")
            if not (
                isinstance(action, ast.Attribute)
                and isinstance(action.value, ast.Name)
                and action.value.id == "Action"
            ):
                continue
            names: set[object] = set(keywords)
            details = keywords.get("details")
            if isinstance(details, ast.Dict):
                names |= {key.value for key in details.keys if isinstance(key, ast.Constant)}
            personal = {name for name in names if isinstance(name, str)}
            personal = {name for name in personal - NOT_PERSONAL if PERSONAL_DETAIL.search(name)}
            uncatalogued = personal - Action[action.attr].personal_details
            if uncatalogued:
                missing.append(f"{path}:{call.lineno} {action.attr} {sorted(uncatalogued)}")
    assert missing == []
