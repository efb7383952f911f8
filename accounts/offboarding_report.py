"""An offboarding plan in words: the preview (what will happen), the report page and the
e-mails (what happened), all read from the same lines (accounts.offboarding)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import GrantedRole, OffboardingReport, User

logger = logging.getLogger(__name__)


def _will(key: str, count: int, line: dict[str, Any]) -> str:
    if key == "sessions_ended":
        return ngettext(
            "%(count)d open session ends at once", "%(count)d open sessions end at once", count
        )
    if key == "tokens_revoked":
        return ngettext("%(count)d API token is revoked", "%(count)d API tokens are revoked", count)
    if key == "mfa_devices_disabled":
        return ngettext(
            "%(count)d second factor is disabled", "%(count)d second factors are disabled", count
        )
    if key == "invitations_revoked":
        return ngettext(
            "%(count)d invitation they sent is revoked",
            "%(count)d invitations they sent are revoked",
            count,
        )
    if key == "invitations_to_them_revoked":
        return ngettext(
            "%(count)d pending invitation to their address is revoked (it would open a new "
            "account to whoever reads that mailbox)",
            "%(count)d pending invitations to their address are revoked (they would open a "
            "new account to whoever reads that mailbox)",
            count,
        )
    if key == "setup_link_revoked":
        return ngettext(
            "%(count)d pending set-up link (choose a password) is revoked",
            "%(count)d pending set-up links (choose a password) are revoked",
            count,
        )
    if key == "identity_links_revoked":
        return ngettext(
            "%(count)d pending link to the identity provider is revoked",
            "%(count)d pending links to the identity provider are revoked",
            count,
        )
    if key == "role_proposals_closed":
        return ngettext(
            "%(count)d role proposal for them closes: %(roles)s",
            "%(count)d role proposals for them close: %(roles)s",
            count,
        )
    if key == "teams_left":
        return ngettext(
            "They leave %(count)d team: %(teams)s (a reactivation does not bring it back)",
            "They leave %(count)d teams: %(teams)s (a reactivation does not bring them back)",
            count,
        )
    if key == "teams_without_manager":
        return ngettext(
            "%(count)d team is left without a manager: %(teams)s (name one: no access "
            "review opens for a team without a manager)",
            "%(count)d teams are left without a manager: %(teams)s (name one for each: no "
            "access review opens for a team without a manager)",
            count,
        )
    if key == "links_withdrawn":
        return ngettext(
            "%(count)d external link is withdrawn", "%(count)d external links are withdrawn", count
        )
    if key == "transfers_withdrawn":
        return ngettext(
            "%(count)d transfer is withdrawn; its recipients are told",
            "%(count)d transfers are withdrawn; their recipients are told",
            count,
        )
    if key == "file_requests_closed":
        return ngettext(
            "%(count)d file request is closed", "%(count)d file requests are closed", count
        )
    if key == "links_to_them_withdrawn":
        return ngettext(
            "%(count)d link a colleague sent to their address (a transfer, a personal link) "
            "is withdrawn; the sender is told which files",
            "%(count)d links colleagues sent to their address (transfers, personal links) "
            "are withdrawn; each sender is told which files",
            count,
        )
    if key == "uploads_arriving_under_address":
        return ngettext(
            "%(count)d upload under their address is still arriving into a colleague's file "
            "request: it is kept (the request's link, not the person, allows it, and it "
            "reads nothing back); its owner decides what to do with it",
            "%(count)d uploads under their address are still arriving into colleagues' file "
            "requests: they are kept (the request's link, not the person, allows them, and "
            "they read nothing back); their owners decide what to do with them",
            count,
        )
    if key == "shares_removed":
        return ngettext(
            "%(count)d internal share with them is removed",
            "%(count)d internal shares with them are removed",
            count,
        )
    if key == "files_handed_over":
        return ngettext(
            "%(count)d file goes to %(to)s, in the folder “%(folder)s” of their personal files",
            "%(count)d files go to %(to)s, in the folder “%(folder)s” of their personal files",
            count,
        )
    if key == "files_kept":
        return ngettext(
            "%(count)d file stays, unreachable, for the retention period (nobody takes it over)",
            "%(count)d files stay, unreachable, for the retention period (nobody takes them over)",
            count,
        )
    return key


def _did(key: str, count: int, line: dict[str, Any]) -> str:
    if key == "sessions_ended":
        return ngettext("%(count)d session ended", "%(count)d sessions ended", count)
    if key == "tokens_revoked":
        return ngettext("%(count)d token revoked", "%(count)d tokens revoked", count)
    if key == "mfa_devices_disabled":
        return ngettext(
            "%(count)d second factor disabled", "%(count)d second factors disabled", count
        )
    if key == "invitations_revoked":
        return ngettext(
            "%(count)d invitation they sent revoked",
            "%(count)d invitations they sent revoked",
            count,
        )
    if key == "invitations_to_them_revoked":
        return ngettext(
            "%(count)d pending invitation to their address revoked",
            "%(count)d pending invitations to their address revoked",
            count,
        )
    if key == "setup_link_revoked":
        return ngettext(
            "%(count)d set-up link revoked",
            "%(count)d set-up links revoked",
            count,
        )
    if key == "identity_links_revoked":
        return ngettext(
            "%(count)d link to the identity provider revoked",
            "%(count)d links to the identity provider revoked",
            count,
        )
    if key == "role_proposals_closed":
        return ngettext(
            "%(count)d role proposal for them closed: %(roles)s",
            "%(count)d role proposals for them closed: %(roles)s",
            count,
        )
    if key == "teams_left":
        return ngettext("Left %(count)d team: %(teams)s", "Left %(count)d teams: %(teams)s", count)
    if key == "teams_without_manager":
        return ngettext(
            "%(count)d team left without a manager: %(teams)s",
            "%(count)d teams left without a manager: %(teams)s",
            count,
        )
    if key == "links_withdrawn":
        return ngettext(
            "%(count)d external link withdrawn", "%(count)d external links withdrawn", count
        )
    if key == "transfers_withdrawn":
        return ngettext(
            "%(count)d transfer withdrawn; its recipients were told",
            "%(count)d transfers withdrawn; their recipients were told",
            count,
        )
    if key == "file_requests_closed":
        return ngettext("%(count)d file request closed", "%(count)d file requests closed", count)
    if key == "links_to_them_withdrawn":
        return ngettext(
            "%(count)d link sent to their address by a colleague withdrawn; the sender was told",
            "%(count)d links sent to their address by colleagues withdrawn; the senders were told",
            count,
        )
    if key == "uploads_arriving_under_address":
        return ngettext(
            "%(count)d upload under their address was still arriving into a colleague's "
            "file request (kept)",
            "%(count)d uploads under their address were still arriving into colleagues' "
            "file requests (kept)",
            count,
        )
    if key == "shares_removed":
        return ngettext(
            "%(count)d internal share removed", "%(count)d internal shares removed", count
        )
    if key == "files_handed_over":
        return ngettext(
            "%(count)d file handed to %(to)s, in the folder “%(folder)s”",
            "%(count)d files handed to %(to)s, in the folder “%(folder)s”",
            count,
        )
    if key == "files_kept":
        return ngettext(
            "%(count)d file kept for the retention period",
            "%(count)d files kept for the retention period",
            count,
        )
    return key


def _role_name(role: str) -> str:
    return str(GrantedRole(role).label) if role in GrantedRole.values else role


def _people_only(key: str, withdrawn: list[Any]) -> list[str]:
    """A line's "withdrawn" list, without what names files: the senders of the links to
    the leaver's address (each entry "Name <address>: item (files)", written by
    ``sharing.services.addressed_links.link_names_line``), once each; nothing of the
    uploads still arriving ("request (owner): file"); other lines name people only."""
    if key == "links_to_them_withdrawn":
        return list(dict.fromkeys(str(entry).split(": ", 1)[0] for entry in withdrawn))
    if key == "uploads_arriving_under_address":
        return []
    return [str(entry) for entry in withdrawn]


def plan_in_words(plan: dict[str, Any], *, done: bool) -> list[dict[str, Any]]:
    """Each line as a sentence (in the active language) with its recipients.

    No file, folder, transfer subject or file request title is put into words, on the
    pages or in the e-mails: they often name a patient, and the readers (the site
    administrator, who manages accounts and never content, and the successor) are not
    the people those files were shared with (ARCHITECTURE.md, invariant 4). The lines
    count them and name the people told; the plan kept with the report, and the audit
    log an auditor reads, keep the names."""
    words = []
    for line in plan.get("lines", []):
        key, count = str(line.get("key", "")), int(line.get("count", 0))
        template = (_did if done else _will)(key, count, line)
        text = template % {
            "count": count,
            "to": line.get("to", ""),
            "folder": line.get("folder", ""),
            "teams": ", ".join(str(name) for name in line.get("teams", [])),
            "roles": ", ".join(_role_name(str(role)) for role in line.get("roles", [])),
        }
        words.append(
            {
                "key": key,
                "count": count,
                "text": text,
                "recipients": line.get("recipients", []),
                # The people a line names (senders of invitations or links), no file.
                "withdrawn": _people_only(key, list(line.get("withdrawn", []))),
            }
        )
    return words


def report_url(report: OffboardingReport) -> str:
    return reverse("accounts:admin_offboarding_report", args=[report.user_id, report.pk])


def _readers(report: OffboardingReport) -> list[User]:
    """The successor and the admin who did it; without one (departure date, directory),
    every active site administrator."""
    readers: list[User] = []
    if report.successor is not None and report.successor.is_active:
        readers.append(report.successor)
    if report.actor is not None and report.actor.is_active:
        admins = [report.actor]
    else:
        admins = list(User.objects.filter(is_site_admin=True, is_active=True).order_by("pk"))
    readers += [admin for admin in admins if admin.pk not in {r.pk for r in readers}]
    return readers


def offboarding_report_emails_send(*, report_id: int) -> int:
    """The report by e-mail, each reader in their own language. Runs after commit."""
    report = (
        OffboardingReport.objects.select_related("user", "actor", "successor")
        .filter(pk=report_id)
        .first()
    )
    if report is None:
        return 0
    sent = 0
    for reader in _readers(report):
        with translation.override(reader.email_language):
            context = {
                "report": report,
                "reader": reader,
                "is_successor": report.successor_id == reader.pk,
                "lines": plan_in_words(report.plan, done=True),
                "url": settings.SITE_URL + report_url(report) if reader.is_site_admin else "",
            }
            subject = _("Offboarding of %(name)s: what was done") % {
                "name": report.plan.get("user_name") or report.user.email
            }
            body = render_to_string("accounts/email/offboarding_report.txt", context)
        try:
            send_mail(subject=subject, message=body, from_email=None, recipient_list=[reader.email])
        except OSError:
            logger.warning("offboarding report e-mail not sent", exc_info=True)
            continue
        sent += 1
    return sent
