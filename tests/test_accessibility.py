"""WCAG 2.2 AA on every page of the main journeys, in English and in French (issue #15).

axe-core (pinned in package.json, copied to tests/vendor/axe-core by ``make vendor``;
never served to users) runs in Chromium on each page below, as the person the page is
for: a clinician, an administrator, an auditor, someone signing in, a link recipient on
/s/ and an uploader on /r/. Zero violations of the WCAG 2.0/2.1/2.2 A and AA rules.
The same page at 390 x 844 (a phone) must not scroll sideways, neither the whole page
nor a list inside it (a table in a scrolling wrapper), except genuinely wide data.

To cover a new page, add one line to its journey in ``JOURNEYS``; one test per journey
and language, so ``-k previews`` checks the previews alone.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from playwright.sync_api import expect
from pydicom.uid import ExplicitVRLittleEndian

from accounts import credential_approvals, invitations, offboarding, tokens
from accounts.models import OffboardingReport, Team, User
from accounts.reauth import PROOF_SESSION_KEY, SIGN_IN_SESSION_KEY
from audit.models import AuditEvent
from directory.tokens import directory_token_create
from files import services
from files.favourites import favourite_set
from files.models import File, Folder, ScanStatus
from imaging import services as imaging_services
from imaging.models import Study
from reviews.models import AccessReview
from reviews.services import access_reviews_open
from sharing.models import ShareLink, ShareRole, SharingPolicy
from sharing.services import file_requests, shares, transfers
from sharing.services.links import share_link_create, share_link_revoke
from sso import account_link, providers
from sso.models import ExternalIdentity
from sso.views import PENDING_LINK_SESSION_KEY
from tests.conftest import BROWSER_TIMEOUT_MS, user_create
from tests.dicom_factory import ct_study
from tests.files_helpers import Backend, root_of, version_store
from tests.helpers import (
    client_password_only,
    client_signed_in,
    client_signed_in_long_ago,
    totp_device_confirmed,
)
from tests.media_samples import MP4_CLIP, jpeg_bytes, pdf_bytes
from tests.oidc_helpers import WEAK_ACR, OpenIDProvider
from tests.test_sso_oidc import provider_standing_alice

pytestmark = [
    pytest.mark.usefixtures("rate_limit_cache"),
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# An identity provider as configured on the site: the sign-in page shows its button, and
# a person invited by e-mail confirms the link to it. Nothing here contacts it.
OIDC_PROVIDERS = {
    "hopital": {
        "name": "Pro Santé Connect",
        "issuer": "https://auth.hopital.example",
        "discovery_url": "https://auth.hopital.example/.well-known/openid-configuration",
        "client_id": "securedrive",
        "client_secret": "not-used-in-this-test",
    }
}


@dataclass(frozen=True)
class Page:
    """One page of a journey: who opens it, and its address (``{names}`` filled from the
    world the test builds). A page reached by a click rather than an address (a
    confirmation after a POST, an open dialog) says what the person does there first;
    ``shows``, what proves it is that page (a selector), where a redirect elsewhere (the
    session not as the page needs) would pass unnoticed. ``on_phone``: axe checks the page
    on the phone too, where it is laid out differently (a compact list, a table that
    scrolls in its own region)."""

    name: str
    who: str
    url: str
    then: Callable[[Any], None] | None = None
    shows: str = ""
    on_phone: bool = False


def _files_opened_on_a_phone(page: Any) -> None:
    """The study page opened on a phone (the viewer sizes its canvas to the screen it
    starts on), then a series' list of files opened."""
    page.set_viewport_size(PHONE)
    page.reload()
    page.wait_for_load_state("networkidle")
    page.locator("#study-series details summary").first.click()


def _submit(page: Any, button: str) -> None:
    with page.expect_navigation():
        page.locator(button).click()


def departure_scheduled(page: Any) -> None:
    """The deactivation form set to a date: the confirmation page with the plan and the
    moment access ends."""
    page.locator("input[name=when][value=later]").check()
    page.locator("input[name=departure_on]").fill(
        (timezone.localdate() + dt.timedelta(days=30)).isoformat()
    )
    _submit(page, "form[action$='/deactivate/'] button[type=submit]")


def form_expired_then_sent(page: Any) -> None:
    """The token form sent with a CSRF token that no longer matches (expired, or a
    form forged elsewhere): the 403 page that says what to do."""
    page.evaluate(
        "() => document.querySelectorAll('input[name=csrfmiddlewaretoken]')"
        ".forEach(e => { e.value = 'x'.repeat(64); })"
    )
    _submit(page, "form[action='/accounts/tokens/'] button[type=submit]")


def wrong_link_code_typed(page: Any) -> None:
    """A code typed on a link's code page that is not the one e-mailed: the refusal
    with what to do, and the field marked as the one to correct."""
    page.locator("#link-code").fill("00000000")
    _submit(page, "#link-code-confirm")


def invitation_to_no_address_sent(page: Any) -> None:
    page.locator("#id_email").fill("not an address")
    _submit(page, "main form[method=post] button[type=submit] >> nth=0")


def rows_ticked_and_more_actions_open(page: Any) -> None:
    for box in page.locator('input[type="checkbox"][form="selection-form"]').all()[:2]:
        box.check()
    page.locator(".selection-more summary").click()


def nothing_ticked_then_zip(page: Any) -> None:
    _submit(page, "#selection-download")


def trash_ticked_then_delete_permanently(page: Any) -> None:
    page.locator('input[type="checkbox"][form="selection-form"]').first.check()
    _submit(page, "#selection-purge")


def team_file_moved_out(page: Any) -> None:
    """A team file's "Move to" set to a folder of the manager's own space (listed first):
    the confirmation that it leaves the team."""
    page.locator("#id_move-destination").select_option(index=0)
    _submit(page, "form[action$='/move/'] button[type=submit]")


def file_copied_into_a_linked_folder(page: Any) -> None:
    """The file's "Copy to" set to "Archives 2025", which an external link reaches: the
    confirmation naming the link, its maker and until when."""
    value = page.evaluate(
        "() => [...document.querySelectorAll('#id_copy-destination option')]"
        ".find(o => o.textContent.endsWith('Archives 2025')).value"
    )
    page.locator("#id_copy-destination").select_option(value)
    _submit(page, "form[action$='/copy/'] button[type=submit]")


def file_ticked_then(button: str, recipient: str = "") -> Callable[[Any], None]:
    def act(page: Any) -> None:
        page.locator('input[name="file"][form="selection-form"]').first.check()
        page.locator(".selection-more summary").click()
        if recipient:
            page.locator("#selection-recipient").fill(recipient)
        else:
            page.locator("#selection-destination").select_option(index=1)
        _submit(page, button)

    return act


def account_link_to_an_unknown_provider_sent(page: Any) -> None:
    """The administrator's "Send a link" form naming a provider the site does not know
    (removed meanwhile, or a forged form): the page saying the link was not sent."""
    page.evaluate(
        "() => document.querySelector('#identity-providers [name=provider]').value = 'gone'"
    )
    _submit(page, "#identity-providers button[type=submit]")


def shortcuts_help_open(page: Any) -> None:
    page.locator("body").press("?")
    page.locator("#shortcuts-help[open]").wait_for()


# Who: clinician (Alice), admin (Sam), auditor (Audrey), anonymous, signing_in (password
# given, second factor asked), enrolling (password given, no second factor yet), linking
# (back from the identity provider, an invitation waiting for that address), confirming
# (signed in longer ago than the window of recent authentication); the same two past
# that window: enrolling_long_ago, and through the identity provider only (no password,
# no device of their own): enrolling_through_provider_long_ago (its second factor not
# accepted) and confirming_through_provider (accepted).
JOURNEYS: dict[str, list[Page]] = {
    "signing-in": [
        Page("sign-in, with an identity provider", "anonymous", "/accounts/login/"),
        Page("second factor", "signing_in", "/accounts/mfa/verify/"),
        Page("recovery code", "signing_in", "/accounts/mfa/verify/recovery-code/"),
        Page("second factor set-up", "enrolling", "/accounts/mfa/setup/"),
        Page("authenticator app set-up", "enrolling", "/accounts/mfa/setup/authenticator-app/"),
        Page(
            "password again before a first second factor",
            "enrolling_long_ago",
            "/accounts/mfa/setup/confirm/?next=/accounts/mfa/setup/authenticator-app/",
            shows="input[name=password]",
        ),
        Page(
            "identity provider again before a first second factor",
            "enrolling_through_provider_long_ago",
            "/accounts/mfa/setup/confirm/?next=/accounts/mfa/setup/passkey/",
            shows="form[action$='/hopital/confirm/'] button",
        ),
        Page(
            "confirm it is you before a sensitive action",
            "confirming",
            "/accounts/security/confirm/?next=/accounts/tokens/&resubmit=1",
        ),
        Page(
            "confirm it is you with the identity provider",
            "confirming_through_provider",
            "/accounts/security/confirm/?next=/accounts/tokens/&resubmit=1",
            shows="form[action$='/hopital/confirm/'] button",
        ),
        Page("invitation (invalid)", "anonymous", "/accounts/invitation/not-a-token/"),
        Page("link to the identity provider", "linking", "/sso/link/"),
        Page("nothing to link", "anonymous", "/sso/link/"),
        Page("account link sent by an administrator", "anonymous", "/sso/account-link/{link}/"),
        Page("account link (invalid)", "anonymous", "/sso/account-link/not-a-token/"),
    ],
    # The files list and its actions on ticked rows.
    "files": [
        Page("home: favourites and recent files", "clinician", "/"),
        Page("keyboard shortcuts", "clinician", "/", then=shortcuts_help_open),
        Page("my files", "clinician", "/files/folders/{root}/"),
        Page("my files by size", "clinician", "/files/folders/{root}/?sort=-size"),
        Page("my files as a grid", "clinician", "/files/folders/{root}/?view=grid"),
        Page("folder", "clinician", "/files/folders/{folder}/"),
        Page("long folder, page 2", "clinician", "/files/folders/{long_folder}/?page=2"),
        Page("long folder as a grid", "clinician", "/files/folders/{long_folder}/?view=grid"),
        Page(
            "rows ticked", "clinician", "/files/folders/{root}/", rows_ticked_and_more_actions_open
        ),
        Page("nothing ticked", "clinician", "/files/folders/{root}/", nothing_ticked_then_zip),
        Page("team files", "clinician", "/files/teams/{team}/"),
        Page("search", "clinician", "/files/search/?q=bilan"),
        Page("trash", "clinician", "/files/spaces/{space}/trash/"),
        Page(
            "delete ticked items permanently",
            "clinician",
            "/files/spaces/{space}/trash/",
            trash_ticked_then_delete_permanently,
        ),
        Page("file", "clinician", "/files/{file}/"),
        Page(
            "file, copy it into a folder an external link reaches (confirmation)",
            "clinician",
            "/files/{file}/",
            then=file_copied_into_a_linked_folder,
            shows="#confirmation",
        ),
        Page(
            "ticked file copied",
            "clinician",
            "/files/folders/{root}/",
            file_ticked_then("#selection-copy"),
        ),
        Page(
            "ticked file shared",
            "clinician",
            "/files/folders/{root}/",
            file_ticked_then("#selection-share", recipient="tom.teammate@hopital.example"),
        ),
        Page(
            "ticked file moved (undo)",
            "clinician",
            "/files/folders/{root}/",
            file_ticked_then("#selection-move"),
        ),
    ],
    "previews": [
        Page("PDF preview", "clinician", "/files/{pdf}/preview/"),
        Page("photo preview", "clinician", "/files/{jpeg}/preview/"),
        Page("video preview", "clinician", "/files/{mp4}/preview/"),
        Page("text preview", "clinician", "/files/{text}/preview/"),
        Page("table preview", "clinician", "/files/{csv}/preview/", on_phone=True),
        Page("no preview", "clinician", "/files/{svg}/preview/"),
        Page("view-only link", "anonymous", "/s/{media_link}/"),
        Page("PDF through a link", "anonymous", "/s/{media_link}/files/{pdf}/preview/"),
        Page("photo through a link", "anonymous", "/s/{media_link}/files/{jpeg}/preview/"),
        Page("video through a link", "anonymous", "/s/{media_link}/files/{mp4}/preview/"),
        Page("text through a link", "anonymous", "/s/{media_link}/files/{text}/preview/"),
    ],
    "imaging": [
        Page("studies", "clinician", "/imaging/studies/"),
        Page("studies found", "clinician", "/imaging/studies/?q=dupont&modality=CT"),
        Page("study and its viewer", "clinician", "/imaging/studies/{study}/"),
        Page("share a study de-identified", "clinician", "/imaging/studies/{study}/share/"),
        # As a PACS sends it by C-STORE: no descriptions, files and folders named by UIDs
        # (64 digits and dots, no place to break a line), the file list opened.
        Page(
            "study as a PACS sent it",
            "clinician",
            "/imaging/studies/{pacs_study}/",
            then=_files_opened_on_a_phone,
        ),
        Page("share what a PACS sent", "clinician", "/imaging/studies/{pacs_study}/share/"),
    ],
    "clinician": [
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
        Page("access reviews of my team", "clinician", "/reviews/"),
        Page("access review", "clinician", "/reviews/{review}/"),
        Page(
            "access review, revoke (confirmation)",
            "clinician",
            "/reviews/{review}/",
            # Tom's membership ("(member)", "(membre)": the row in the page's language):
            # the page names what he opened on the team's files.
            then=lambda page: _submit(
                page, "tr:has-text('Dr Tom Teammate (') button[value=revoked]"
            ),
            shows="#loss-withdrawn",
        ),
        Page(
            "team file, move it out of the team (confirmation naming what it withdraws)",
            "clinician",
            "/files/{team_file}/",
            then=team_file_moved_out,
            shows="#loss-withdrawn",
        ),
        Page(
            "team, remove a member (confirmation)",
            "clinician",
            "/accounts/teams/{team}/",
            then=lambda page: _submit(
                page, "tr:has-text('Dr Tom Teammate') form[action$='/remove/'] button"
            ),
            shows="#loss-withdrawn",
        ),
        Page(
            "file request, close it (confirmation)",
            "clinician",
            "/sharing/requests/{request}/",
            then=lambda page: _submit(page, "#request-close"),
            shows="#confirmation",
        ),
        Page(
            "link, withdraw it (confirmation)",
            "clinician",
            "/sharing/files/{file}/links/",
            then=lambda page: _submit(page, "form[action$='/revoke/'] button >> nth=0"),
            shows="#confirmation",
        ),
        Page(
            "transfer, withdraw all links (confirmation)",
            "clinician",
            "/sharing/transfers/{transfer}/",
            then=lambda page: _submit(page, "#transfer-revoke"),
            shows="#confirmation",
        ),
        Page(
            "API token, revoke it (confirmation)", "clinician", "/accounts/tokens/{token}/revoke/"
        ),
        Page(
            "authenticator app, rename it",
            "clinician",
            "/accounts/security/totp/{device}/rename/",
        ),
        Page(
            "authenticator app, remove it (confirmation)",
            "clinician",
            "/accounts/security/totp/{device}/remove/",
        ),
        Page(
            "new recovery codes (confirmation)", "clinician", "/accounts/security/recovery-codes/"
        ),
        Page("not found", "clinician", "/files/987654/"),
        Page("forbidden", "clinician", "/accounts/admin/users/"),
        Page("form expired", "clinician", "/accounts/tokens/", form_expired_then_sent),
    ],
    "administration": [
        Page("home with the platform's status", "admin", "/"),
        Page("people", "admin", "/accounts/admin/users/"),
        Page("person", "admin", "/accounts/admin/users/{alice}/"),
        Page(
            "person, send a link to the identity provider (confirmation)",
            "admin",
            "/accounts/admin/users/{alice}/",
            then=lambda page: _submit(page, "#identity-providers button[type=submit]"),
        ),
        Page(
            "person, link to an unknown identity provider refused",
            "admin",
            "/accounts/admin/users/{alice}/",
            then=account_link_to_an_unknown_provider_sent,
            shows="#account-link-refusal",
        ),
        Page(
            "person, schedule a departure (confirmation with the plan)",
            "admin",
            "/accounts/admin/users/{alice}/",
            then=lambda page: departure_scheduled(page),
        ),
        Page("former colleague (reactivation form)", "admin", "/accounts/admin/users/{leo}/"),
        Page(
            "former colleague's offboarding report",
            "admin",
            "/accounts/admin/users/{leo}/offboarding/{leo_report}/",
        ),
        Page(
            "personal data of a former colleague (erasure form)",
            "admin",
            "/privacy/people/{leo}/",
            shows="form[action$='/erase/']",
        ),
        Page(
            "former colleague, reactivate (confirmation)",
            "admin",
            "/accounts/admin/users/{leo}/",
            then=lambda page: _submit(page, "form[action$='/reactivate/'] button[type=submit]"),
        ),
        Page("invitations", "admin", "/accounts/admin/invitations/"),
        Page(
            "invitation, revoke it (confirmation)",
            "admin",
            "/accounts/admin/invitations/",
            then=lambda page: _submit(page, "form[action$='/revoke/'] button >> nth=0"),
            shows="#confirmation",
        ),
        Page("teams", "admin", "/accounts/teams/"),
        Page("team", "admin", "/accounts/teams/{team}/"),
        Page("access reviews", "admin", "/reviews/"),
        Page("directory tokens", "admin", "/directory/tokens/"),
        Page(
            "directory token, revoke it (confirmation)",
            "admin",
            "/directory/tokens/",
            then=lambda page: _submit(page, "form[action$='/revoke/'] button >> nth=0"),
            shows="#confirmation",
        ),
        Page(
            "invitation refused",
            "admin",
            "/accounts/admin/invitations/",
            invitation_to_no_address_sent,
        ),
        Page("role approvals", "admin", "/accounts/admin/role-approvals/"),
        Page("link approvals", "admin", "/accounts/admin/credential-approvals/"),
        Page(
            "person whose address the directory changed",
            "admin",
            "/accounts/admin/users/{ines}/",
            shows="#credential-approval-rule",
        ),
        Page("account policy", "admin", "/accounts/admin/policy/"),
        Page("access review", "admin", "/accounts/admin/access-review/"),
        Page(
            "sharing policy, recommending the transfer code",
            "admin",
            "/sharing/policy/",
            shows="#policy-recommends-transfer-verification",
        ),
        Page(
            "sharing policy, suspend external sharing (confirmation)",
            "admin",
            "/sharing/policy/",
            then=lambda page: _submit(page, "#external-suspension button[type=submit]"),
        ),
        Page(
            "former colleague who signs in through the provider (reactivation form)",
            "admin",
            "/accounts/admin/users/{noor}/",
            shows="#reactivate-provider-only",
        ),
        Page("scanning policy", "admin", "/files/admin/scanning/"),
        Page("personal data", "admin", "/privacy/people/"),
        Page("personal data of one person", "admin", "/privacy/people/{alice}/"),
    ],
    "audit": [
        Page("audit questions", "auditor", "/audit/"),
        Page("which file?", "auditor", "/audit/file/?file={file}"),
        Page("a file's history", "auditor", "/audit/file/?item=file:{file}", on_phone=True),
        Page("who can read a file", "auditor", "/audit/file/access/?file={file}"),
        Page("a person's activity", "auditor", "/audit/person/?person={alice}"),
        Page("what went outside", "auditor", "/audit/outside/"),
        Page("failures", "auditor", "/audit/failures/"),
        Page("events", "auditor", "/audit/explore/", on_phone=True),
        Page("one event", "auditor", "/audit/events/{event}/"),
        Page("integrity", "auditor", "/audit/integrity/"),
        Page("alerts", "auditor", "/audit/alerts/"),
        Page("report on a file", "auditor", "/audit/report/?item=file:{file}"),
        Page(
            "report on a person's week",
            "auditor",
            "/audit/report/?actor={alice}&since={week_ago}&until={tomorrow}",
        ),
        Page("report without a question", "auditor", "/audit/report/"),
    ],
    # Every external link suspended by the administrators (incident response).
    "suspended": [
        Page(
            "sharing policy, external sharing suspended",
            "admin",
            "/sharing/policy/",
            shows="#external-suspension .text-bg-danger",
        ),
        Page(
            "lift the suspension (confirmation)",
            "admin",
            "/sharing/policy/",
            then=lambda page: _submit(page, "#external-suspension button[type=submit]"),
        ),
        Page(
            "file links while external sharing is suspended",
            "clinician",
            "/sharing/files/{file}/links/",
            shows="#external-sharing-suspended",
        ),
        Page(
            "link while external sharing is suspended",
            "anonymous",
            "/s/{link}/",
            shows="#link-refused[data-outcome='suspended']",
        ),
        Page(
            "file request while external sharing is suspended",
            "anonymous",
            "/r/{request_token}/",
            shows="#request-refused",
        ),
    ],
    "outside": [
        Page("link", "anonymous", "/s/{link}/"),
        Page("link with a password", "anonymous", "/s/{protected_link}/"),
        Page("transfer received", "anonymous", "/s/{transfer_link}/"),
        Page("withdrawn link", "anonymous", "/s/{withdrawn_link}/"),
        Page("link asking for an e-mail code", "anonymous", "/s/{verified_link}/"),
        Page(
            "link with a wrong e-mail code typed",
            "anonymous",
            "/s/{verified_link}/",
            wrong_link_code_typed,
            shows="#link-code[aria-invalid=true]",
        ),
        Page("link used up", "anonymous", "/s/{used_up_link}/"),
        Page("transfer with a file being scanned", "anonymous", "/s/{scanning_link}/"),
        Page("file request (uploader)", "anonymous", "/r/{request_token}/"),
        Page("file request closed (410)", "anonymous", "/r/{closed_request_token}/"),
        Page("invitation", "anonymous", "/accounts/invitation/{invitation}/"),
        Page("not found (signed out)", "anonymous", "/nowhere/"),
    ],
}


def world_build(owner: User, site_admin: User, auditor: User) -> dict[str, Any]:
    """Something of Alice's behind every page: files, a team, shares, links, a transfer
    and a file request."""
    # Léo left (first, so that the last event stays one of Alice's): his page offers
    # the reactivation.
    leaver = user_create("leo.leaver@hopital.example", full_name="Léo Martin")
    offboarding.user_deactivate(actor=site_admin, user=leaver, successor=None)
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
    # Team files: one a manager already moved out (the team page lists it), one to move.
    team_root = services.space_root(services.space_team_get_or_create(team=team))
    team_file = version_store(actor=owner, folder=team_root, name="CR Dupont.pdf", content=b"%PDF")
    moved_out = version_store(actor=owner, folder=team_root, name="CR Durand.pdf", content=b"%PDF")
    services.file_move(actor=owner, file=moved_out.file, destination=root)
    # Tom (of Cardiologie only) sent the file to move by link: its confirmation names him.
    share_link_create(actor=teammate, target=team_file.file, label="Dr Echo")
    # A limit, so the pages show the views and downloads used and left.
    _link, link_token = share_link_create(
        actor=owner, target=version.file, label="Dr Radio", max_downloads=5
    )
    _protected, protected_token = share_link_create(
        actor=owner, target=version.file, password="Genou-droit-2026"
    )
    withdrawn, withdrawn_token = share_link_create(actor=owner, target=folder)
    share_link_revoke(actor=owner, link=withdrawn)
    # Transfers whose recipients see their files at once (the page with the code is the
    # e-mail-code link's, below); the policy page then recommends the code.
    SharingPolicy.objects.update_or_create(
        pk=1, defaults={"transfer_email_verification_required": False}
    )
    transfer = transfers.transfer_create(actor=owner, subject="IRM genou", expires_at=soon)
    transfers.transfer_files_add(actor=owner, transfer=transfer, files=[version.file])
    sent = transfers.transfer_send(
        actor=owner, transfer=transfer, recipients=["dr.radio@clinique.example"]
    )
    _verified, verified_token = share_link_create(
        actor=owner,
        target=version.file,
        recipient_email="dr.radio@clinique.example",
        email_verification=True,
    )
    used_up, used_up_token = share_link_create(actor=owner, target=version.file, max_downloads=1)
    ShareLink.objects.filter(pk=used_up.pk).update(download_count=1)
    scanning = transfers.transfer_create(actor=owner, subject="Scanner", expires_at=soon)
    assert scanning.folder is not None
    version_store(actor=owner, folder=scanning.folder, name="coupes.dcm", content=b"x", clean=False)
    transfers.transfer_files_add(actor=owner, transfer=scanning, files=[version.file])
    [scanning_sent] = transfers.transfer_send(
        actor=owner, transfer=scanning, recipients=["dr.radio@clinique.example"]
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
        "team_file": team_file.file_id,
        "transfer": transfer.pk,
        "request": file_request.pk,
        "alice": owner.pk,
        "leo": leaver.pk,
        "event": AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True)[0],
        "link": link_token,
        "protected_link": protected_token,
        "withdrawn_link": withdrawn_token,
        "transfer_link": sent[0].token,
        "verified_link": verified_token,
        "used_up_link": used_up_token,
        "scanning_link": scanning_sent.token,
        "request_token": request_token,
        "week_ago": (timezone.localdate() - dt.timedelta(days=7)).isoformat() + "T00:00",
        "tomorrow": (timezone.localdate() + dt.timedelta(days=1)).isoformat() + "T00:00",
    }


def files_world(owner: User, world: dict[str, Any]) -> dict[str, Any]:
    """A folder longer than one page, a photo for the grid, stars for the home page, a
    report in its second version (the versions table), a name with no space to wrap at."""
    root = root_of(owner)
    folder = Folder.objects.get(pk=world["folder"])
    version_store(actor=owner, folder=folder, name="bilan.pdf", content=pdf_bytes())
    version_store(
        actor=owner,
        folder=root,
        name="Compte-rendu_consultation_cardiologie_Dupont-Marie_2026-12-01_final.pdf",
        content=pdf_bytes(),
    )
    long_folder = services.folder_create(actor=owner, parent=root, name="Archives 2025")
    for number in range(1, 52):
        services.folder_create(actor=owner, parent=long_folder, name=f"Patient {number:03d}")
    photo = version_store(actor=owner, folder=root, name="Plaie J3.jpg", content=jpeg_bytes())
    favourite_set(actor=owner, item=photo.file, starred=True)
    favourite_set(actor=owner, item=long_folder, starred=True)
    # Linked for the archivist: its pages show the banner, a copy into it asks first.
    share_link_create(actor=owner, target=long_folder, label="Archives")
    return {"long_folder": long_folder.pk}


VITAL_SIGNS_CSV = (
    "date;heure;pouls (bpm);tension systolique (mmHg);tension diastolique (mmHg);"
    "saturation (%);température (°C);fréquence respiratoire;glycémie capillaire (g/L);"
    "douleur (EVA);observation de l\u2019infirmière\n"
    + "".join(
        f"2026-12-0{day};08:00;{70 + day};{120 + day};{80 - day};97;37,{day};16;1,0{day};2;"
        "Patiente stable, pansement propre et sec\n"
        for day in range(1, 6)
    )
).encode()


def previews_world(owner: User, world: dict[str, Any]) -> dict[str, Any]:
    """A report, a photo, a clip, a note, a table and a drawing, and a view-only link."""
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Dossier Dupont")
    contents = {
        "pdf": ("Compte rendu opératoire.pdf", pdf_bytes(pages=2)),
        "jpeg": ("Plaie J3.jpg", jpeg_bytes()),
        "mp4": ("Échographie.mp4", MP4_CLIP.read_bytes()),
        "text": ("Note.txt", b"Patient stable, tension 12/8.\n" * 40),
        # As a monitor exports it: more columns than a phone is wide (the table scrolls
        # in its own region, which the keyboard reaches; the page does not).
        "csv": ("Constantes.csv", VITAL_SIGNS_CSV),
        "svg": ("Schéma.svg", b'<svg xmlns="http://www.w3.org/2000/svg"></svg>'),
    }
    ids: dict[str, Any] = {
        key: version_store(actor=owner, folder=folder, name=name, content=content).file_id
        for key, (name, content) in contents.items()
    }
    _link, ids["media_link"] = share_link_create(actor=owner, target=folder, view_only=True)
    return ids


def imaging_world(owner: User, world: dict[str, Any]) -> dict[str, Any]:
    """A small CT study of Alice's, indexed as after its scan."""
    study = ct_study(
        instances_per_series=(2, 2),
        transfer_syntaxes=(ExplicitVRLittleEndian, ExplicitVRLittleEndian),
    )
    folder = services.folder_create(actor=owner, parent=root_of(owner), name="Scanner")
    for instance in study.instances:
        version = version_store(
            actor=owner, folder=folder, name=instance.path.replace("/", "_"), content=instance.data
        )
        imaging_services.version_index(version_id=version.pk)
    pacs = ct_study(instances_per_series=(2,), burned_in_series=True, description="")
    pacs_folder = services.folder_create(actor=owner, parent=root_of(owner), name="PACS")
    for instance in pacs.instances:
        dataset = pydicom.dcmread(io.BytesIO(instance.data))
        del dataset.SeriesDescription
        written = io.BytesIO()
        dataset.save_as(written, enforce_file_format=True)
        version = version_store(
            actor=owner,
            folder=pacs_folder,
            name=f"{instance.sop_instance_uid}.dcm",
            content=written.getvalue(),
        )
        imaging_services.version_index(version_id=version.pk)
    return {
        "study": Study.objects.get(study_instance_uid=study.study_instance_uid).pk,
        "pacs_study": Study.objects.get(study_instance_uid=pacs.study_instance_uid).pk,
    }


def signing_in_world(owner: User, world: dict[str, Any]) -> dict[str, Any]:
    """A link to the identity provider that an administrator sent Alice (sso/)."""
    admin = User.objects.filter(is_site_admin=True).first()
    assert admin is not None
    sent = account_link.account_link_send(
        actor=admin, user=owner, provider=providers.providers_configured()[0]
    )
    return {"link": sent.url.rstrip("/").rsplit("/", 1)[-1]}


def clinician_world(owner: User, world: dict[str, Any]) -> dict[str, Any]:
    """The period's access review of Alice's team, an API token of hers, her
    authenticator app. Tom opened team files to outsiders (a dozen links, a transfer, a
    file request): revoking him names them, ten and "and 2 more"."""
    tom = User.objects.get(email="tom.teammate@hopital.example")
    team_file = File.objects.get(pk=world["team_file"])
    soon = timezone.now() + dt.timedelta(days=3)
    for number in range(1, 12):
        scan = version_store(
            actor=tom, folder=team_file.folder, name=f"Écho Dupont {number:02d}.jpg", content=b"x"
        )
        share_link_create(actor=tom, target=scan.file, recipient_email="dr.radio@clinique.example")
    sent = transfers.transfer_create(actor=tom, subject="Bilan cardiaque Dupont", expires_at=soon)
    transfers.transfer_files_add(actor=tom, transfer=sent, files=[team_file])
    transfers.transfer_send(actor=tom, transfer=sent, recipients=["dr.radio@clinique.example"])
    file_requests.file_request_create(
        actor=tom, folder=team_file.folder, title="Résultats du laboratoire", expires_at=soon
    )
    access_reviews_open()
    review = AccessReview.objects.get(team__slug=world["team"])
    token, _plaintext = tokens.token_create(
        actor=owner, name="Script du service", scopes=["read"], expires_in_days=30
    )
    return {"review": review.pk, "token": token.pk, "device": totp_device_confirmed(owner).pk}


def administration_world(owner: User, world: dict[str, Any]) -> dict[str, Any]:
    """An invitation waiting to be accepted and the directory's token; Noor signed in
    only through the identity provider, and left: her page offers no set-up link."""
    # The directory's page imports the SCIM stack (pydantic models) on its first request:
    # 2 s on an idle machine, past the page's 15 s under a loaded CI. Imported here, once.
    from directory.scim.discovery import base_url

    base_url()
    admin = User.objects.get(is_site_admin=True)
    invitations.invitation_create(actor=admin, email="nina.new@hopital.example")
    directory_token_create(actor=admin, name="Annuaire de l\u2019hôpital")
    noor = provider_only_person("noor.provider@hopital.example", "Dr Noor Haddad")
    offboarding.user_deactivate(actor=None, user=noor, successor=None, actor_label="test")
    # Inès's address was moved by the directory: Rita asked for a set-up link, which
    # awaits a second administrator (accounts/credential_approvals.py).
    ines = user_create(
        "ines.moved@ailleurs.example",
        full_name="Dr Inès Laurent",
        email_changed_at=timezone.now(),
        email_changed_by="directory “Annuaire” (sdscim_abcdef…)",
        email_changed_token_creator=admin,
        email_previous="ines.laurent@hopital.example",
    )
    rita = user_create("rita.second@hopital.example", full_name="Rita Second", is_site_admin=True)
    credential_approvals.approval_request(
        actor=rita, user=ines, kind=credential_approvals.CredentialKind.SETUP_LINK
    )
    return {
        "leo_report": OffboardingReport.objects.get(user_id=world["leo"]).pk,
        "noor": noor.pk,
        "ines": ines.pk,
    }


def outside_world(owner: User, world: dict[str, Any]) -> dict[str, Any]:
    """A file request closed by its owner, and an invitation waiting in a mailbox."""
    closed, closed_token = file_requests.file_request_create(
        actor=owner,
        folder=Folder.objects.get(pk=world["folder"]),
        title="Radio thorax",
        expires_at=timezone.now() + dt.timedelta(days=3),
    )
    file_requests.file_request_close(actor=owner, file_request=closed)
    admin = User.objects.get(is_site_admin=True)
    sent = invitations.invitation_create(actor=admin, email="nina.new@hopital.example")
    return {
        "closed_request_token": closed_token,
        "invitation": sent.url.rstrip("/").rsplit("/", 1)[-1],
    }


def suspended_world(owner: User, world: dict[str, Any]) -> dict[str, Any]:
    """A security officer suspended every external link (the world's links and file
    request included)."""
    SharingPolicy.current()
    SharingPolicy.objects.filter(pk=1).update(external_suspended_at=timezone.now())
    return {}


WORLDS: dict[str, Callable[[User, dict[str, Any]], dict[str, Any]]] = {
    "signing-in": signing_in_world,
    "clinician": clinician_world,
    "administration": administration_world,
    "suspended": suspended_world,
    "outside": outside_world,
    "files": files_world,
    "previews": previews_world,
    "imaging": imaging_world,
}


def session_linking(owner: User) -> str:
    """A browser back from the identity provider for an address with an invitation
    waiting: the link-confirmation step (sso/views.py) is pending in its session."""
    client = Client()
    session = client.session
    session[PENDING_LINK_SESSION_KEY] = {
        "assertion": {
            "provider": "hopital",
            "subject": "psc-0123456789",
            "email": "nina.new@hopital.example",
            "email_verified": True,
            "full_name": "Dr Nina Nouvelle",
            "acr": "",
            "amr": ["pwd"],
            "sid": "",
        },
        "invitation": 1,
        # Just back from the provider: an older answer shows "waited too long" instead.
        "at": time.time(),
    }
    session.save()
    return str(session.session_key)


def provider_only_person(email: str, full_name: str) -> User:
    """Someone who signs in through the identity provider only: no password, no device
    of their own, an identity linked to the provider configured on the site."""
    person = user_create(email, full_name=full_name)
    person.set_unusable_password()
    person.save(update_fields=["password"])
    ExternalIdentity.objects.create(
        user=person,
        name=OIDC_PROVIDERS["hopital"]["name"],
        confirmed=True,
        provider="hopital",
        issuer=OIDC_PROVIDERS["hopital"]["issuer"],
        subject=f"psc-{person.pk}",
    )
    return person


def session_signed_in_long_ago(person: User, *, verified: bool) -> str:
    """A browser signed in longer ago than the window of recent authentication: its
    second factor (``verified``: the provider's, accepted) proved then, not since."""
    client = Client()
    client.force_login(person)
    session = client.session
    if verified:
        identity = ExternalIdentity.objects.get(user=person)
        session[DEVICE_ID_SESSION_KEY] = identity.persistent_id
    session[SIGN_IN_SESSION_KEY] = (timezone.now() - dt.timedelta(hours=2)).isoformat()
    session.pop(PROOF_SESSION_KEY, None)
    session.save()
    return str(session.session_key)


def browser_as(chromium: Any, live_server: Any, language: str, session: str | None) -> Any:
    # Reduced motion: Bootstrap then draws no colour transitions, which axe would catch
    # half-way (a button under the pointer measured between two colours).
    context = chromium.new_context(
        base_url=live_server.url,
        locale="en-GB" if language == "en" else "fr-FR",
        reduced_motion="reduce",
    )
    cookies = [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": live_server.url}]
    if session:
        cookies.append(
            {"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}
        )
    context.add_cookies(cookies)
    page = context.new_page()
    page.set_default_timeout(BROWSER_TIMEOUT_MS)
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


def phone_overflow(page: Any) -> int:
    return int(page.evaluate("() => document.scrollingElement.scrollWidth"))


# Content that is two-dimensional by nature and may scroll sideways in its own frame
# (WCAG 1.4.10 excepts data tables whose meaning needs their columns side by side): a
# spreadsheet's preview, a CSV exported by a monitor with a dozen columns. Its frame is
# a focusable, named region, so the keyboard scrolls it (axe checks it on the phone).
# A list of files, links, people or events is not such content: its rows stack.
WIDE_DATA = "#preview-table"

# The regions that scroll sideways inside the page (a .table-responsive wrapper, a
# <pre>): the document itself fits the screen, but a row's name or buttons are off it
# until the person scrolls that region. Those marked as wide data (above) are allowed.
INNER_SCROLL = """wide => [...document.querySelectorAll('body *')]
  .filter(e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1
    && ['auto', 'scroll'].includes(getComputedStyle(e).overflowX) && !e.matches(wide))
  .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
    + (e.className && typeof e.className === 'string'
      ? '.' + e.className.trim().split(/\\s+/).join('.') : '')
    + ' ' + e.scrollWidth + ' px in ' + e.clientWidth)"""


def phone_inner_scroll(page: Any) -> list[str]:
    return list(page.evaluate(INNER_SCROLL, WIDE_DATA))


@pytest.mark.parametrize("journey", JOURNEYS)
@pytest.mark.parametrize("language", ["en", "fr"])
def test_every_page_passes_axe_and_fits_a_phone(
    language: str,
    journey: str,
    chromium: Any,
    live_server: Any,
    owner: User,
    site_admin: User,
    auditor: User,
    folder_backend: Backend,
    settings: Any,
) -> None:
    settings.OIDC_PROVIDERS = OIDC_PROVIDERS
    pages = JOURNEYS[journey]
    world = world_build(owner, site_admin, auditor)
    if journey in WORLDS:
        world |= WORLDS[journey](owner, world)
    totp_device_confirmed(owner)
    sessions: dict[str, Callable[[], str]] = {
        "clinician": lambda: client_session(client_signed_in(owner)),
        "admin": lambda: client_session(client_signed_in(site_admin)),
        "auditor": lambda: client_session(client_signed_in(auditor)),
        "signing_in": lambda: client_session(client_password_only(owner)),
        "confirming": lambda: client_session(client_signed_in_long_ago(owner)),
        "enrolling": lambda: client_session(
            client_password_only(
                user_create("nina.new@hopital.example", full_name="Dr Nina Nouvelle")
            )
        ),
        "linking": lambda: session_linking(owner),
        "enrolling_long_ago": lambda: session_signed_in_long_ago(
            user_create("noe.late@hopital.example", full_name="Dr Noé Tardif"), verified=False
        ),
        "enrolling_through_provider_long_ago": lambda: session_signed_in_long_ago(
            provider_only_person("paul.provider@hopital.example", "Dr Paul Fournisseur"),
            verified=False,
        ),
        "confirming_through_provider": lambda: session_signed_in_long_ago(
            provider_only_person("pia.provider@hopital.example", "Dr Pia Fournisseur"),
            verified=True,
        ),
    }
    browsers = {
        who: browser_as(
            chromium, live_server, language, sessions[who]() if who in sessions else None
        )
        for who in dict.fromkeys(page.who for page in pages)
    }
    problems: list[str] = []
    for entry in pages:
        page = browsers[entry.who]
        page.set_viewport_size(DESKTOP)
        url = entry.url.format(**world)
        page.goto(url)
        page.wait_for_load_state("networkidle")
        if entry.then:
            entry.then(page)
            page.wait_for_load_state("networkidle")
            page.mouse.move(0, 0)  # axe checks colours at rest, not under the pointer
        problems += page_problems(
            page,
            f"{entry.name} ({url})",
            language,
            shows=entry.shows,
            reload_on_phone=not entry.then,
            axe_on_phone=entry.on_phone,
        )
    for page in browsers.values():
        page.context.close()
    assert not problems, "\n".join(problems)


def page_problems(
    page: Any,
    where: str,
    language: str,
    *,
    shows: str = "",
    reload_on_phone: bool = True,
    axe_on_phone: bool = False,
) -> list[str]:
    """What is wrong with the page open at desktop width: its language, that it is the
    page expected (``shows``), one <h1>, axe's violations; then on a phone, opened there
    (``reload_on_phone``: scripts size canvases and players to the screen they start
    on), or, for a page reached by a POST or a round trip, the same page narrowed."""
    problems = []
    lang = page.locator("html").get_attribute("lang")
    if lang != language:
        problems.append(f"{where}: lang={lang}")
    if shows and page.locator(shows).count() != 1:
        problems.append(f"{where}: not the page expected ({shows} not found)")
    if page.locator("h1").count() != 1:
        problems.append(f"{where}: {page.locator('h1').count()} <h1>")
    problems += [f"{where}: {line}" for line in axe_violations(page)]
    page.set_viewport_size(PHONE)
    if reload_on_phone:
        page.reload()
        page.wait_for_load_state("networkidle")
    if phone_overflow(page) > PHONE["width"]:
        problems.append(
            f"{where}: {phone_overflow(page)} px wide on a 390 px phone: "
            + ", ".join(page.evaluate(WIDEST))
        )
    problems += [
        f"{where}: scrolls sideways inside the page on a 390 px phone: {region}"
        for region in phone_inner_scroll(page)
    ]
    if axe_on_phone:
        problems += [f"{where} on a phone: {line}" for line in axe_violations(page)]
    return problems


@pytest.mark.parametrize("language", ["en", "fr"])
def test_refusals_where_the_provider_is_the_second_factor_pass_axe_and_lead_back_to_it(
    language: str, chromium: Any, live_server: Any, oidc_provider: OpenIDProvider
) -> None:
    """Alice's second factor is her provider's accepted assurance (no app of her own).
    Both refusals: her provider sign-in at a lower level (through the real provider),
    and her SecureDrive password alone at the set-up of a first device. Each passes axe
    and fits a phone, and its "Sign in again" button leads to the provider's sign-in."""
    alice = provider_standing_alice(oidc_provider)
    oidc_provider.assurance(WEAK_ACR, ["pwd"])
    again = "form[action$='/sso/test/again/'] button"
    at_the_provider = "Sign in at the test provider"
    problems: list[str] = []

    page = browser_as(chromium, live_server, language, None)
    page.goto("/accounts/login/")
    page.locator("#sso-providers a").click()
    page.get_by_role("heading", name=at_the_provider).wait_for()
    page.get_by_label("Identifier").fill("alice")
    with page.expect_navigation(url="**/sso/test/callback/**"):
        page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state("networkidle")
    problems += page_problems(
        page, "provider sign-in refused", language, shows=again, reload_on_phone=False
    )
    page.locator(again).click()
    page.get_by_role("heading", name=at_the_provider).wait_for()
    page.context.close()

    page = browser_as(chromium, live_server, language, client_session(client_password_only(alice)))
    page.goto("/accounts/mfa/setup/")
    page.wait_for_load_state("networkidle")
    problems += page_problems(page, "first device refused", language, shows=again)
    page.locator(again).click()
    page.get_by_role("heading", name=at_the_provider).wait_for()
    page.context.close()
    assert not problems, "\n".join(problems)


def client_session(client: Client) -> str:
    return str(client.cookies[settings.SESSION_COOKIE_NAME].value)


# The focus ring the keyboard user sees on the element that has focus.
FOCUS_RING = """() => { const e = document.activeElement, s = getComputedStyle(e);
  return {id: e.id || e.dataset.sort || '', style: s.outlineStyle,
          width: parseFloat(s.outlineWidth), colour: s.outlineColor}; }"""


@pytest.mark.parametrize(
    ("language", "quarantined", "waiting"),
    [
        ("en", "quarantined", "waiting for virus scan"),
        ("fr", "en quarantaine", "en attente d\u2019analyse antivirus"),
    ],
)
def test_on_a_phone_a_file_that_cannot_be_downloaded_says_why_under_its_name(
    language: str,
    quarantined: str,
    waiting: str,
    chromium: Any,
    live_server: Any,
    owner: User,
    folder_backend: Backend,
) -> None:
    """The status column is hidden below 992 px: a phone showed a quarantined file and
    one still waiting for its scan like any other, only without their View and Download
    buttons, and nothing said why. Each now says so under its name, next to its size and
    date; a clean file shows no status there."""
    root = root_of(owner)
    clean = version_store(actor=owner, folder=root, name="bilan.pdf", content=b"%PDF").file
    pending = version_store(
        actor=owner, folder=root, name="coupes.dcm", content=b"x", clean=False
    ).file
    infected = version_store(actor=owner, folder=root, name="pj.zip", content=b"y", clean=False)
    services.version_mark_scanned(version=infected, status=ScanStatus.QUARANTINED)
    page = browser_as(chromium, live_server, language, client_session(client_signed_in(owner)))
    page.set_viewport_size(PHONE)
    page.goto(f"/files/folders/{root.pk}/")

    def under_the_name(file: File) -> Any:
        return page.locator(f'tr[data-file="{file.pk}"] .row-name')

    expect(under_the_name(infected.file).get_by_text(quarantined)).to_be_visible()
    expect(under_the_name(pending).get_by_text(waiting)).to_be_visible()
    expect(under_the_name(clean).locator(".badge")).to_have_count(0)
    # Size and date under the name: "4 bytes · 07/12/2026 23:04" (the date's digits).
    expect(under_the_name(clean)).to_contain_text(re.compile(r" · .*\d{2}"))
    assert phone_overflow(page) <= PHONE["width"]
    page.context.close()


def test_keyboard_focus_shows_on_checkboxes_and_sort_links_and_shortcuts_wait_while_typing(
    chromium: Any, live_server: Any, owner: User, folder_backend: Backend
) -> None:
    root = root_of(owner)
    version_store(actor=owner, folder=root, name="bilan.pdf", content=pdf_bytes())
    page = browser_as(chromium, live_server, "en", client_session(client_signed_in(owner)))
    chooser_opened: list[Any] = []
    page.on("filechooser", lambda chooser: chooser_opened.append(chooser))
    page.goto(f"/files/folders/{root.pk}/")

    # Reached with Tab (not clicked): the "select all" box, a row's box, a sort link.
    for target in ["#select-all", 'input[name="file"]', 'a[data-sort="size"]']:
        page.locator(target).first.focus()
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Tab")
        ring = page.evaluate(FOCUS_RING)
        assert ring["style"] == "solid", (target, ring)
        assert ring["width"] >= 2, (target, ring)
        assert ring["colour"] == "rgb(10, 88, 202)", (target, ring)

    # Typing "u" or "?" in the search box or a folder's name is text, not a shortcut.
    for field in ["#files-search-q", "#new-folder-form input[type=text]"]:
        page.locator(field).fill("")
        page.locator(field).press_sequentially("u?/")
        assert page.locator(field).input_value() == "u?/"
        assert page.locator("#shortcuts-help[open]").count() == 0
    assert chooser_opened == []

    # Outside a field the same keys work: "?" the help, "u" the file picker.
    page.evaluate("() => document.activeElement.blur()")
    page.keyboard.press("?")
    page.locator("#shortcuts-help[open]").wait_for()
    page.keyboard.press("Escape")
    with page.expect_file_chooser():
        page.keyboard.press("u")
    page.context.close()


def test_axe_is_for_the_tests_only() -> None:
    """The checker is pinned like the other front-end files, and never served."""
    package = json.loads((settings.BASE_DIR / "package.json").read_text())
    assert re.fullmatch(r"\d+\.\d+\.\d+", package["devDependencies"]["axe-core"])
    assert f"axe v{package['devDependencies']['axe-core']}" in AXE.read_text()[:200]
    assert not list((settings.BASE_DIR / "static").rglob("axe*"))
