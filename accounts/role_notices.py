"""The e-mail telling a person that a site-wide role was granted to her.

A role changes what the person may do, and the grant ends her sessions
(``accounts.roles._role_apply``): without a word she would find herself signed out and
her menus changed. For the auditor role it also says what the grant withdrew: the links,
transfers and file requests she had opened to people outside on colleagues' files,
which an auditor no longer reads (``accounts.roles.auditor_grant_planned``). Their
recipients only read "This link was withdrawn"; she is the one who knows whom to warn.

Written from the ``accounts.user.roles`` event after it committed, in her language, as
the security notices are (accounts/security_notices.py): the task carries the event's
id only; the names it lists are those the event recorded, as the auditors read them.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent, Outcome

# How many file names of one transfer the notice lists (as the offboarding's notices).
NAMES_LISTED = 20


def role_granted_notice_queue(*, event: AuditEvent) -> None:
    """Tell the person once ``event`` (a change of her roles, in the caller's
    transaction) has committed, if it granted her a role; nothing if it rolls back."""
    details = event.details or {}
    before, after = details.get("before") or {}, details.get("after") or {}
    if not any(after.get(role) and not before.get(role) for role in ("site_admin", "auditor")):
        return
    from accounts.tasks import role_granted_notice_send

    event_id = event.pk
    transaction.on_commit(lambda: role_granted_notice_send.delay(event_id), robust=True)


def _withdrawn_lines(withdrawn: list[Any]) -> list[str]:
    """One line per withdrawn thing, in the active language."""
    lines = []
    for item in withdrawn:
        if not isinstance(item, dict):
            continue
        name = str(item.get("name", ""))
        files = [str(name) for name in item.get("files") or []]
        shown = ", ".join(files[:NAMES_LISTED]) + (" …" if len(files) > NAMES_LISTED else "")
        kind = item.get("kind")
        if kind == "link":
            lines.append(_("Link to “%(name)s”") % {"name": name})
        elif kind == "transfer":
            line = _("Transfer “%(subject)s”") % {"subject": name}
            lines.append(f"{line} ({shown})" if shown else line)
        elif kind == "file_request":
            lines.append(_("File request “%(title)s” (closed)") % {"title": name})
    return lines


def role_granted_notice_send(*, event_id: int) -> bool:
    """E-mail the person a role was granted to, in her language. Returns whether a
    message went out (none for another event, a withdrawal of roles, or a deactivated
    account)."""
    event = AuditEvent.objects.filter(
        pk=event_id,
        action=Action.ACCOUNTS_USER_ROLES,
        outcome=Outcome.SUCCESS,
        target_type="accounts.user",
    ).first()
    if event is None:
        return False
    person = User.objects.filter(pk=event.target_id, is_active=True).first()
    if person is None:
        return False
    details = event.details or {}
    before, after = details.get("before") or {}, details.get("after") or {}
    auditor = bool(after.get("auditor") and not before.get("auditor"))
    site_admin = bool(after.get("site_admin") and not before.get("site_admin"))
    if not (auditor or site_admin):
        return False
    withdrawn = details.get("withdrawn") if auditor else []
    with translation.override(person.email_language):
        if auditor:
            subject = _("SecureDrive: you were given the auditor role")
        else:
            subject = _("SecureDrive: you were given the site administrator role")
        message = render_to_string(
            "accounts/email/role_granted.txt",
            {
                "person": person,
                "auditor": auditor,
                "site_admin": site_admin,
                "withdrawn": _withdrawn_lines(withdrawn if isinstance(withdrawn, list) else []),
                "event": event,
                "site_url": settings.SITE_URL,
            },
        )
    send_mail(subject=subject, message=message, from_email=None, recipient_list=[person.email])
    return True
