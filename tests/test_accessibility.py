"""WCAG 2.2 AA on every page of the main journeys, in English and in French (issue #15).

axe-core (pinned in package.json, copied to tests/vendor/axe-core by ``make vendor``;
never served to users) runs in Chromium on each page below, as the person the page is
for: a clinician, an administrator, an auditor, someone signing in, a link recipient on
/s/ and an uploader on /r/. Zero violations of the WCAG 2.0/2.1/2.2 A and AA rules.
The same page at 390 x 844 (a phone) must not scroll sideways.

To cover a new page, add one line to ``PAGES``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import Team, User
from audit.models import AuditEvent
from files import services
from sharing.models import ShareRole
from sharing.services import file_requests, shares, transfers
from sharing.services.links import share_link_create, share_link_revoke
from tests.conftest import user_create
from tests.files_helpers import Backend, root_of, version_store
from tests.helpers import client_password_only, client_signed_in, totp_device_confirmed

pytestmark = [
    pytest.mark.usefixtures("rate_limit_cache"),
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@dataclass(frozen=True)
class Page:
    """One page of a journey: who opens it, and its address (``{names}`` filled from the
    world the test builds). ``phone=False`` for pages whose phone layout another test owns."""

    name: str
    who: str
    url: str
    phone: bool = True


# Who: clinician (Alice), admin (Sam), auditor (Audrey), anonymous, signing_in (password
# given, second factor asked), enrolling (password given, no second factor yet).
PAGES = [
    # Signing in
    Page("sign-in", "anonymous", "/accounts/login/"),
    Page("second factor", "signing_in", "/accounts/mfa/verify/"),
    Page("recovery code", "signing_in", "/accounts/mfa/verify/recovery-code/"),
    Page("second factor set-up", "enrolling", "/accounts/mfa/setup/"),
    Page("authenticator app set-up", "enrolling", "/accounts/mfa/setup/authenticator-app/"),
    Page("invitation (invalid)", "anonymous", "/accounts/invitation/not-a-token/"),
    # The clinician's day (the files list's phone layout: tests of the files list)
    Page("home", "clinician", "/"),
    Page("my files", "clinician", "/files/folders/{root}/", phone=False),
    Page("folder", "clinician", "/files/folders/{folder}/", phone=False),
    Page("team files", "clinician", "/files/teams/{team}/", phone=False),
    Page("search", "clinician", "/files/search/?q=bilan", phone=False),
    Page("trash", "clinician", "/files/spaces/{space}/trash/", phone=False),
    Page("file", "clinician", "/files/{file}/", phone=False),
    Page("file sharing", "clinician", "/sharing/files/{file}/share/"),
    Page("folder sharing", "clinician", "/sharing/folders/{folder}/share/"),
    Page("file links", "clinician", "/sharing/files/{file}/links/"),
    Page("folder links", "clinician", "/sharing/folders/{folder}/links/"),
    Page("shared with me", "clinician", "/sharing/shared-with-me/"),
    Page("my links", "clinician", "/sharing/links/"),
    Page("transfers", "clinician", "/sharing/transfers/"),
    Page("new transfer", "clinician", "/sharing/transfers/new/"),
    Page("transfer", "clinician", "/sharing/transfers/{transfer}/"),
    Page("file requests", "clinician", "/sharing/requests/"),
    Page("new file request", "clinician", "/sharing/requests/new/"),
    Page("file request", "clinician", "/sharing/requests/{request}/"),
    Page("teams", "clinician", "/accounts/teams/"),
    Page("team", "clinician", "/accounts/teams/{team}/"),
    Page("security", "clinician", "/accounts/security/"),
    Page("sessions", "clinician", "/accounts/sessions/"),
    Page("API tokens", "clinician", "/accounts/tokens/"),
    Page("my data", "clinician", "/privacy/"),
    Page("not found", "clinician", "/files/987654/"),
    Page("forbidden", "clinician", "/accounts/admin/users/"),
    # Administration
    Page("people", "admin", "/accounts/admin/users/"),
    Page("person", "admin", "/accounts/admin/users/{alice}/"),
    Page("invitations", "admin", "/accounts/admin/invitations/"),
    Page("role approvals", "admin", "/accounts/admin/role-approvals/"),
    Page("account policy", "admin", "/accounts/admin/policy/"),
    Page("access review", "admin", "/accounts/admin/access-review/"),
    Page("sharing policy", "admin", "/sharing/policy/"),
    Page("personal data", "admin", "/privacy/people/"),
    Page("personal data of one person", "admin", "/privacy/people/{alice}/"),
    # The audit console
    Page("audit questions", "auditor", "/audit/"),
    Page("a file's history", "auditor", "/audit/file/?file={file}"),
    Page("who can read a file", "auditor", "/audit/file/access/?file={file}"),
    Page("a person's activity", "auditor", "/audit/person/?person={alice}"),
    Page("what went outside", "auditor", "/audit/outside/"),
    Page("failures", "auditor", "/audit/failures/"),
    Page("events", "auditor", "/audit/explore/"),
    Page("one event", "auditor", "/audit/events/{event}/"),
    Page("integrity", "auditor", "/audit/integrity/"),
    Page("alerts", "auditor", "/audit/alerts/"),
    # Outside recipients
    Page("link", "anonymous", "/s/{link}/"),
    Page("link with a password", "anonymous", "/s/{protected_link}/"),
    Page("transfer received", "anonymous", "/s/{transfer_link}/"),
    Page("withdrawn link", "anonymous", "/s/{withdrawn_link}/"),
    Page("file request (uploader)", "anonymous", "/r/{request_token}/"),
    Page("not found (signed out)", "anonymous", "/nowhere/"),
]


def world_build(owner: User, site_admin: User, auditor: User) -> dict[str, Any]:
    """Something of Alice's behind every page: files, a team, shares, links, a transfer
    and a file request."""
    soon = timezone.now() + dt.timedelta(days=3)
    root = root_of(owner)
    folder = services.folder_create(actor=owner, parent=root, name="Résultats")
    version = version_store(actor=owner, folder=folder, name="bilan.pdf", content=b"%PDF 1")
    version_store(actor=owner, folder=root, name="compte rendu.txt", content=b"RAS")
    old = version_store(actor=owner, folder=root, name="ancien.txt", content=b"x")
    services.file_delete(actor=owner, file=old.file)
    teammate = user_create("tom.teammate@hopital.example", full_name="Dr Tom Teammate")
    team = Team.objects.create(name="Cardiologie", slug="cardiologie")
    team.memberships.create(user=owner, role="manager")
    team.memberships.create(user=teammate)
    shares.share_create(actor=owner, item=folder, recipient=teammate, role=ShareRole.VIEWER)
    _link, link_token = share_link_create(actor=owner, target=version.file, label="Dr Radio")
    _protected, protected_token = share_link_create(
        actor=owner, target=version.file, password="Genou-droit-2026"
    )
    withdrawn, withdrawn_token = share_link_create(actor=owner, target=folder)
    share_link_revoke(actor=owner, link=withdrawn)
    transfer = transfers.transfer_create(actor=owner, subject="IRM genou", expires_at=soon)
    transfers.transfer_files_add(actor=owner, transfer=transfer, files=[version.file])
    sent = transfers.transfer_send(
        actor=owner, transfer=transfer, recipients=["dr.radio@clinique.example"]
    )
    file_request, request_token = file_requests.file_request_create(
        actor=owner, folder=folder, title="Bilan sanguin", expires_at=soon
    )
    return {
        "root": root.pk,
        "folder": folder.pk,
        "space": root.space_id,
        "file": version.file_id,
        "team": team.slug,
        "transfer": transfer.pk,
        "request": file_request.pk,
        "alice": owner.pk,
        "event": AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True)[0],
        "link": link_token,
        "protected_link": protected_token,
        "withdrawn_link": withdrawn_token,
        "transfer_link": sent[0].token,
        "request_token": request_token,
    }


def browser_as(chromium: Any, live_server: Any, language: str, session: str | None) -> Any:
    context = chromium.new_context(
        base_url=live_server.url, locale="en-GB" if language == "en" else "fr-FR"
    )
    cookies = [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}]
    if session:
        cookies.append(
            {"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}
        )
    context.add_cookies(cookies)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


# The elements sticking out on the right, deepest first (to say what to fix).
WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
    && ![...e.children].some(c => c.getBoundingClientRect().right > window.innerWidth + 1))
  .slice(0, 3)
  .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
    + (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ').join('.') : '')
    + ' ' + Math.round(e.getBoundingClientRect().right) + 'px')"""


def axe_violations(page: Any) -> list[str]:
    """axe-core's WCAG A/AA violations on the page, one readable line each."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol: the page's CSP (no inline script) stays.
        page.evaluate(AXE.read_text())
    found = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags},"
        " resultTypes: ['violations']})"
        ".then(r => r.violations.map(v => ({id: v.id, help: v.help,"
        " nodes: v.nodes.map(n => n.target.join(' ') + ' :: ' + (n.failureSummary || ''))})))",
        WCAG_AA,
    )
    return [
        f"{v['id']} ({v['help']}) x{len(v['nodes'])}: {json.dumps(v['nodes'][:3])}" for v in found
    ]


@pytest.mark.parametrize("language", ["en", "fr"])
def test_every_page_passes_axe_and_fits_a_phone(
    language: str,
    chromium: Any,
    live_server: Any,
    owner: User,
    site_admin: User,
    auditor: User,
    folder_backend: Backend,
) -> None:
    world = world_build(owner, site_admin, auditor)
    newcomer = user_create("nina.new@hopital.example", full_name="Dr Nina Nouvelle")
    totp_device_confirmed(owner)
    sessions = {
        "clinician": client_signed_in(owner),
        "admin": client_signed_in(site_admin),
        "auditor": client_signed_in(auditor),
        "signing_in": client_password_only(owner),
        "enrolling": client_password_only(newcomer),
    }
    browsers = {
        who: browser_as(
            chromium,
            live_server,
            language,
            sessions[who].cookies[settings.SESSION_COOKIE_NAME].value if who in sessions else None,
        )
        for who in {page.who for page in PAGES}
    }
    problems: list[str] = []
    for entry in PAGES:
        page = browsers[entry.who]
        page.set_viewport_size(DESKTOP)
        url = entry.url.format(**world)
        page.goto(url)
        page.wait_for_load_state("networkidle")
        lang = page.locator("html").get_attribute("lang")
        if lang != language:
            problems.append(f"{entry.name} ({url}): lang={lang}")
        if page.locator("h1").count() != 1:
            problems.append(f"{entry.name} ({url}): {page.locator('h1').count()} <h1>")
        problems += [f"{entry.name} ({url}): {line}" for line in axe_violations(page)]
        if entry.phone:
            page.set_viewport_size(PHONE)
            width = page.evaluate("() => document.scrollingElement.scrollWidth")
            if width > PHONE["width"]:
                problems.append(
                    f"{entry.name} ({url}): {width} px wide on a 390 px phone: "
                    + ", ".join(page.evaluate(WIDEST))
                )
    for page in browsers.values():
        page.context.close()
    assert not problems, "\n".join(problems)


def test_axe_is_for_the_tests_only() -> None:
    """The checker is pinned like the other front-end files, and never served."""
    package = json.loads((settings.BASE_DIR / "package.json").read_text())
    assert re.fullmatch(r"\d+\.\d+\.\d+", package["devDependencies"]["axe-core"])
    assert f"axe v{package['devDependencies']['axe-core']}" in AXE.read_text()[:200]
    assert not list((settings.BASE_DIR / "static").rglob("axe*"))
