"""Hostile input on every door: each page and endpoint a person may use, tried with the
values an attacker or a broken client sends (NUL bytes, SQL/LIKE wildcards, absurd
numbers, garbage ids, huge strings), in its query string and in every field of every
form it shows. Nothing may answer 500, and nothing already stored may change."""

# Fixtures are imported by name from tests.files_helpers and tests.test_url_access.

from __future__ import annotations

import datetime as dt
import html.parser
import json
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.test import Client
from django.urls import Resolver404, resolve
from django.utils import timezone

from accounts.models import User
from accounts.throttling import ExactRateThrottleMixin
from audit import refusals as refusals_recorder
from audit.actions import Action
from audit.models import AuditEvent, Outcome
from audit.refusals import input_refused
from directory.tokens import directory_token_create
from files import services, tus
from files.models import File, FileVersion, Folder, UploadSession
from sharing.models import ShareLink
from sharing.services import transfers
from sharing.services.links import share_link_create
from tests.files_helpers import root_of, version_store
from tests.helpers import (
    CONFIRMED,
    client_password_only,
    client_signed_in,
    totp_code,
    totp_device_confirmed,
)
from tests.test_tus import TUS, metadata, token_client
from tests.test_url_access import ALL_URLS, alices, rate_limit_cache, url_of  # noqa: F401
from tests.url_access_registry import COVERED

HOSTILE = [
    "\x00",
    "scan\x00.pdf",
    "%",
    "_",
    "\\",
    "%_\\%",
    "' OR 1=1 --",
    "9" * 400,
    "9" * 5000,  # more digits than int() reads (CVE-2020-10735's limit)
    "\u00b2",  # str.isdigit() says yes, int() says no
    "-1",
    "0",
    "1e309",
    "NaN",
    "00000000-0000-0000-0000-00000000000g",
    "\u202egpj.exe",
    "../../etc/passwd",
    "x" * 20_000,
    "2026-13-45",
    "[]",
]

# Fewer for forms (each field of each form): what broke something in the first sweeps.
FORM_HOSTILE = ["\x00", "scan\x00.pdf", "%_\\%", "9" * 5000, "\u00b2", "x" * 20_000, "0", "-1"]

# Every query parameter a view reads (grep request.GET / query_params).
QUERY_PARAMETERS = [
    "q",
    "page",
    "sort",
    "view",
    "inline",
    "item",
    "actor",
    "before",
    "size",
    "first",
    "second",
    "name",
    "modality",
    "from",
    "to",
    "file",
    "folder",
    "link",
    "state",
    "next",
]


class FormFinder(html.parser.HTMLParser):
    """The forms of a page: action, method and the fields with their default values."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.forms.append(
                {
                    "action": values.get("action", ""),
                    "method": values.get("method", "get").lower(),
                    "fields": {},
                }
            )
        elif not self.forms:
            return
        elif tag in {"input", "textarea"} and values.get("name"):
            if values.get("type") in {"checkbox", "radio"} and "checked" not in values:
                self.forms[-1]["fields"].setdefault(values["name"], None)
                return
            if values.get("type") == "file":
                return
            self.forms[-1]["fields"][values["name"]] = values.get("value", "")
        elif tag == "select" and values.get("name"):
            self._select = values["name"]
            self.forms[-1]["fields"][self._select] = ""
        elif tag == "option" and self._select and "selected" in values:
            self.forms[-1]["fields"][self._select] = values.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def forms_of(body: bytes) -> list[dict[str, Any]]:
    finder = FormFinder()
    finder.feed(body.decode("utf-8", errors="replace"))
    return finder.forms


def stored() -> set[tuple[Any, ...]]:
    """What must survive: every file, folder and version, with its name and place."""
    return (
        {
            ("file", *row)
            for row in File.objects.values_list("pk", "name", "folder_id", "deleted_at")
        }
        | {
            ("folder", *row)
            for row in Folder.objects.values_list("pk", "name", "parent_id", "deleted_at")
        }
        | {("version", *row) for row in FileVersion.objects.values_list("pk", "blob_key", "size")}
    )


def last_event() -> int:
    return AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def refusal_unaudited(status: int, since: int) -> bool:
    """A refusal of what was sent (audit/refusals.py draws the line: 400, 409, 413...,
    not a 404 of a page that is not there) with no refusal event recorded for it."""
    if not input_refused(status):
        return False
    return not AuditEvent.objects.filter(pk__gt=since).exclude(outcome=Outcome.SUCCESS).exists()


def person_for(name: str) -> str:
    people = COVERED[name]
    for person in ("owner", "site_admin", "auditor"):
        if person in people:
            return person
    return sorted(people)[0]


def _client(request: pytest.FixtureRequest, cache: dict[str, Client], person: str) -> Client:
    if person not in cache:
        user: User = request.getfixturevalue(person)
        cache[person] = client_signed_in(user)
        # A 500 is a finding to list, not an exception that stops the sweep.
        cache[person].raise_request_exception = False
    return cache[person]


@pytest.fixture(autouse=True)
def no_api_throttle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Thousands of requests from one person: the API's 600 a minute would answer 429
    before the view reads anything, hiding what the sweep looks for."""
    monkeypatch.setattr(ExactRateThrottleMixin, "allow_request", lambda *_args: True)
    # Nor may the audit's flood limit (audit/refusals.py, 100 per 10 minutes) stop
    # recording half-way through: the sweep asserts every refusal leaves its event.
    monkeypatch.setattr(refusals_recorder, "RECORDED_RATE", "1000000/10m")


@pytest.fixture(autouse=True)
def quick_password_hashes(settings: Any) -> None:
    """The sweeps' people (six of them) are made with Argon2 at its production cost,
    0.7 s each, for passwords nobody here types but once: no hostile input reaches the
    hasher, so a cheap one serves (autouse: in place before the people are made)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# Pages that stream big exports or run long checks: their parameters are path segments.
SKIP = {"audit:export", "audit:export_signature", "audit:integrity_verify"}


@pytest.mark.django_db
def test_hostile_query_strings_never_break_a_page(
    request: pytest.FixtureRequest,
    alices: dict[str, Any],  # noqa: F811
) -> None:
    clients: dict[str, Client] = {}
    before = stored()
    broken: list[tuple[str, str, int]] = []
    unaudited: list[tuple[str, str, int]] = []
    for name in sorted(COVERED):
        if name in SKIP:
            continue
        client = _client(request, clients, person_for(name))
        url = url_of(name, alices)
        for value in HOSTILE:
            query = urlencode(dict.fromkeys(QUERY_PARAMETERS, value))
            since = last_event()
            answer = client.get(f"{url}?{query}")
            if answer.status_code >= 500:
                broken.append((name, ascii(value)[:20], answer.status_code))
            elif refusal_unaudited(answer.status_code, since):
                unaudited.append((name, ascii(value)[:20], answer.status_code))
        # Bytes that are not UTF-8 at all, straight in the query string.
        since = last_event()
        answer = client.get(f"{url}?q=%ff%fe&page=%00&sort=%c0%af")
        if answer.status_code >= 500:
            broken.append((name, "not utf-8", answer.status_code))
        elif refusal_unaudited(answer.status_code, since):
            unaudited.append((name, "not utf-8", answer.status_code))
    assert not broken, "\n".join(map(str, broken))
    assert not unaudited, "refused without an audit event:\n" + "\n".join(map(str, unaudited))
    # A first visit may create the visitor's personal root: what was there must stay.
    assert before <= stored()


@pytest.mark.django_db
def test_hostile_values_in_every_form_field_never_break_a_page(
    request: pytest.FixtureRequest,
    alices: dict[str, Any],  # noqa: F811
) -> None:
    clients: dict[str, Client] = {}
    broken: list[tuple[str, str, str, str, int]] = []
    unaudited: list[tuple[str, str, str, str, int]] = []
    seen: set[tuple[str, str, tuple[str, ...]]] = set()
    for name in sorted(COVERED):
        if name in SKIP:
            continue
        client = _client(request, clients, person_for(name))
        url = url_of(name, alices)
        page = client.get(url)
        if page.status_code != 200 or "html" not in page.get("Content-Type", ""):
            continue
        for form in forms_of(page.content):
            action = form["action"] or url
            if not action.startswith("/"):
                continue
            fields = {key: value for key, value in form["fields"].items() if value is not None}
            # One try per kind of form: a list of 200 links shows 200 "withdraw" forms.
            try:
                kind = resolve(action.split("?")[0]).view_name
            except Resolver404:
                continue
            signature = (kind, form["method"], tuple(sorted(form["fields"])))
            if signature in seen:
                continue
            seen.add(signature)
            for field in form["fields"]:
                if field == "csrfmiddlewaretoken":
                    continue
                for value in FORM_HOSTILE:
                    data = {**fields, field: value}
                    since = last_event()
                    if form["method"] == "post":
                        answer = client.post(action, data)
                    else:
                        answer = client.get(action, data)
                    tried = (name, action, field, ascii(value)[:20], answer.status_code)
                    if answer.status_code >= 500:
                        broken.append(tried)
                    elif refusal_unaudited(answer.status_code, since):
                        unaudited.append(tried)
                # The field twice, and missing altogether.
                doubled = f"{urlencode(fields)}&{quote(field)}=a&{quote(field)}=b"
                missing = {key: value for key, value in fields.items() if key != field}
                for body in (doubled, urlencode(missing)):
                    since = last_event()
                    if form["method"] == "post":
                        answer = client.post(
                            action, body, content_type="application/x-www-form-urlencoded"
                        )
                    else:
                        answer = client.get(f"{action}?{body}")
                    tried = (name, action, field, "doubled/missing", answer.status_code)
                    if answer.status_code >= 500:
                        broken.append(tried)
                    elif refusal_unaudited(answer.status_code, since):
                        unaudited.append(tried)
    assert not broken, "\n".join(map(str, broken))
    assert not unaudited, "refused without an audit event:\n" + "\n".join(map(str, unaudited))


# --- JSON API: wrong types, NUL bytes, absurd numbers, broken bodies ------------------------

API_FIELDS = [
    "name",
    "folder",
    "parent",
    "file",
    "files",
    "link",
    "recipient_email",
    "recipients",
    "role",
    "email",
    "expires_at",
    "expires_in_days",
    "title",
    "instructions",
    "subject",
    "message",
    "password",
    "scopes",
    "max_downloads",
    "max_files",
    "max_bytes",
    "view_only",
    "notify_owner",
    "send_email",
    "team",
    "user",
    "label",
    "kind",
    "state",
    ").split(",
]

HOSTILE_JSON: list[Any] = [
    "\x00",
    "a\x00b",
    "\u00b2",
    "9" * 5000,
    10**30,
    -1,
    1.5,
    True,
    None,
    [],
    {},
    ["\x00"],
    {"a": "\x00"},
    "2026-02-30T25:00:00Z",
]

RAW_BODIES = [
    b"{",
    b'{"name": "a", "name": "b"}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"name": "\\u0000"}',
    b'{"name": "\\ud800"}',
    b"\xff\xfe{}",
    b"1e99999",
    b'"just a string"',
]


def api_names() -> list[str]:
    return sorted(name for name in COVERED if name.split(":")[0].endswith("_api"))


@pytest.mark.django_db
def test_hostile_json_bodies_never_break_the_api(
    request: pytest.FixtureRequest,
    alices: dict[str, Any],  # noqa: F811
) -> None:
    clients: dict[str, Client] = {}
    broken: list[tuple[str, str, str, int]] = []
    unaudited: list[tuple[str, str, str, int]] = []
    for name in api_names():
        client = _client(request, clients, person_for(name))
        url = url_of(name, alices)
        for method in ("post", "patch", "put"):
            send = getattr(client, method)
            bodies = [json.dumps(dict.fromkeys(API_FIELDS, value)) for value in HOSTILE_JSON]
            for body in [*bodies, *RAW_BODIES]:
                since = last_event()
                answer = send(url, body, content_type="application/json")
                tried = (name, method, ascii(body)[:20], answer.status_code)
                if answer.status_code >= 500:
                    broken.append(tried)
                elif refusal_unaudited(answer.status_code, since):
                    unaudited.append(tried)
    assert not broken, "\n".join(map(str, broken))
    assert not unaudited, "refused without an audit event:\n" + "\n".join(map(str, unaudited))


# --- Stories behind the sweep's findings ----------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("person", "url"),
    [
        ("owner", "/files/search/?q=bilan%00.pdf"),
        ("owner", "/api/v1/files/search/?q=bilan%00.pdf"),
        ("owner", "/privacy/people/?q=%00"),
        ("site_admin", "/accounts/admin/users/?q=%00"),
        ("auditor", "/audit/person/?actor=%00"),
    ],
)
def test_a_nul_in_a_search_is_a_clear_400_and_audited_not_a_500(
    request: pytest.FixtureRequest, person: str, url: str
) -> None:
    """PostgreSQL cannot compare text holding NUL: each page read ``q`` raw and
    answered 500 ("PostgreSQL text fields cannot contain NUL (0x00) bytes")."""
    user: User = request.getfixturevalue(person)
    client = client_signed_in(user)
    answer = client.get(url)
    assert answer.status_code == 400
    assert "null character" in answer.content.decode()
    event = AuditEvent.objects.get(action=Action.REQUEST_QUERY_REFUSE)
    assert event.outcome == "denied"
    assert event.actor_id == str(user.pk)
    assert "bilan" not in str(event.details)  # the parameter's name, never what was typed


@pytest.mark.django_db
@pytest.mark.parametrize("back", ["%", "home", "0", "report.pdf"])
def test_withdrawing_a_link_with_a_next_that_is_no_path_lands_on_my_links(
    owner: User, folder_backend: Any, back: str
) -> None:
    """``next`` was handed to ``redirect()``, which reads a bare word as a URL name:
    "%" or "0" raised NoReverseMatch, a 500 after the link was withdrawn."""
    version = version_store(actor=owner, folder=root_of(owner), name="bilan.pdf", content=b"1")
    link, _token = share_link_create(actor=owner, target=version.file)
    client = client_signed_in(owner)
    answer = client.post(f"/sharing/links/{link.pk}/revoke/", {"next": back, **CONFIRMED})
    assert answer.status_code == 302
    assert answer["Location"] == "/sharing/links/"
    link.refresh_from_db()
    assert link.revoked_at is not None


@pytest.mark.django_db
def test_a_next_that_is_no_path_is_ignored_by_the_second_factor_step(owner: User) -> None:
    client = client_password_only(owner)
    totp_device_confirmed(owner)
    answer = client.get("/accounts/mfa/verify/?next=%25")
    assert answer.status_code == 200
    answer = client.post(
        "/accounts/mfa/verify/?next=0",
        {"code": totp_code(totp_device_confirmed(owner)), "next": "0"},
    )
    assert answer.status_code == 302
    assert answer["Location"] == "/"


SUPERSCRIPT_TWO = "\u00b2"  # str.isdigit() says yes, int() raises ValueError
TOO_MANY_DIGITS = "9" * 5000  # int() refuses more than 4,300 digits (CVE-2020-10735)


@pytest.mark.django_db
@pytest.mark.parametrize("garbage", [SUPERSCRIPT_TWO, TOO_MANY_DIGITS], ids=["superscript", "long"])
def test_an_id_that_is_no_number_is_refused_or_ignored_never_a_500(
    owner: User, auditor: User, site_admin: User, folder_backend: Any, garbage: str
) -> None:
    """Each place read an id with ``str.isdigit()`` then ``int()``: 500 on both."""
    transfer = transfers.transfer_create(
        actor=owner, subject="IRM", expires_at=timezone.now() + dt.timedelta(days=3)
    )
    alice = client_signed_in(owner)
    asked = [
        (alice, "get", f"/sharing/requests/new/?folder={garbage}", {}),
        (alice, "post", "/sharing/requests/new/", {"folder": garbage, "title": "Bilan"}),
        (alice, "get", f"/api/v1/sharing/shares/?file={garbage}", {}),
        (alice, "post", f"/sharing/transfers/{transfer.pk}/files/", {"file_ids": garbage}),
        (alice, "post", f"/api/v1/sharing/transfers/{transfer.pk}/revoke/?link={garbage}", {}),
        (client_signed_in(auditor), "get", f"/audit/consistency.json?first={garbage}", {}),
        (client_signed_in(auditor), "get", f"/audit/events/1/inclusion.json?size={garbage}", {}),
    ]
    for client, method, url, data in asked:
        answer = getattr(client, method)(url, data)
        assert answer.status_code in {200, 400, 404}, (url, answer.status_code)
    _token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    directory = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    for url in (f"/scim/v2/Users/{garbage}", f"/scim/v2/Groups/{garbage}"):
        assert directory.get(url).status_code == 404


DEEP_JSON = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.django_db
def test_a_deeply_nested_json_body_is_a_400_on_the_api_and_scim(
    owner: User, site_admin: User, folder_backend: Any
) -> None:
    """Python's JSON decoder recurses once per bracket: RecursionError, which DRF's
    parser and the SCIM view did not catch (they catch ValueError), was a 500."""
    alice = client_signed_in(owner)
    folder = root_of(owner)
    for url in (f"/api/v1/files/folders/{folder.pk}/folders/", "/api/v1/sharing/transfers/"):
        answer = alice.post(url, DEEP_JSON, content_type="application/json")
        assert answer.status_code == 400, (url, answer.status_code)
        assert "JSON" in answer.json()["detail"]
    _token, raw = directory_token_create(actor=site_admin, name="Entra ID")
    directory = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
    answer = directory.post("/scim/v2/Users", DEEP_JSON, content_type="application/scim+json")
    assert answer.status_code == 400
    assert answer.json()["scimType"] == "invalidSyntax"
    assert Folder.objects.filter(parent=folder).count() == 0


@pytest.mark.django_db
def test_an_absurd_number_of_days_is_refused_by_the_sharing_policy_not_a_500(
    owner: User, folder_backend: Any
) -> None:
    """``expires_in_days`` had a minimum and no maximum: 10^30 days overflowed
    ``timedelta`` (OverflowError, a 500) before the policy's limit was checked."""
    alice = client_signed_in(owner)
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Labo")
    asked: list[tuple[str, dict[str, Any]]] = [
        ("/api/v1/sharing/transfers/", {"subject": "IRM"}),
        ("/api/v1/sharing/requests/", {"title": "Bilan", "folder": folder.pk}),
    ]
    for url, body in asked:
        answer = alice.post(
            url, json.dumps({**body, "expires_in_days": 10**30}), content_type="application/json"
        )
        assert answer.status_code == 400, (url, answer.status_code)
        assert "30" in answer.json()["detail"]  # the policy's maximum, in words


@pytest.mark.django_db
def test_a_tus_folder_of_five_thousand_digits_is_a_400_not_a_500(
    owner: User, folder_backend: Any
) -> None:
    """``header_count`` saturates a long number (right for a size), then ``int()`` of
    the raw text refused it: the folder id now goes through ``id_number``."""
    answer = token_client(owner).post(
        "/api/v1/uploads/",
        b"",
        content_type=tus.OFFSET_CONTENT_TYPE,
        headers={
            **TUS,
            "Upload-Length": "3",
            "Upload-Metadata": metadata(filename="scan.dcm", folder=TOO_MANY_DIGITS),
        },
    )
    assert answer.status_code == 400
    assert not UploadSession.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("garbage", [SUPERSCRIPT_TWO, TOO_MANY_DIGITS], ids=["superscript", "long"])
def test_an_expiry_that_is_no_number_of_days_is_a_form_error_not_a_500(
    owner: User, folder_backend: Any, garbage: str
) -> None:
    """The expiry field read its choice with ``isdigit()`` then ``int()``."""
    version = version_store(actor=owner, folder=root_of(owner), name="bilan.pdf", content=b"1")
    answer = client_signed_in(owner).post(
        f"/sharing/files/{version.file_id}/links/", {"expiry": garbage}
    )
    assert answer.status_code in {200, 400}
    assert not ShareLink.objects.exists()
