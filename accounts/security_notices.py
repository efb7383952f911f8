"""E-mails telling people that the ways into their account changed.

A sign-in device added or removed, new recovery codes, a recovery code used, a new
password, the account's e-mail address moved by the organisation's directory (told
at the former address: set-up links and these notices go to the new one), and recovery
codes ended because the key they were made under left the keyring (told to make new
ones: files/key_retirement.py). OWASP ASVS
5.0 V6.3.7: users are notified after updates to authentication details. A thief who had
a few minutes in a freshly verified session, or a password and one phished code, could
add their own passkey and keep a way in for months: the notice is how the clinician
hears of it, with where it came from, and what to do.

The notice is written from the audit event that recorded the change, after it committed:
the task carries the event's id only (never a code or a name through the broker), and
the e-mail says exactly what the auditors see. Always sent: unlike the "new device"
sign-in notice, no policy turns it off, since nothing else would tell the person.
"""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import User
from audit.actions import Action
from audit.models import AuditEvent, Outcome

NOTIFIED_ACTIONS = frozenset(
    {
        Action.ACCOUNTS_MFA_DEVICE_ADD,
        Action.ACCOUNTS_MFA_DEVICE_REMOVE,
        Action.ACCOUNTS_MFA_RECOVERY_CODES_GENERATE,
        Action.ACCOUNTS_MFA_RECOVERY_CODES_INVALIDATE,
        Action.ACCOUNTS_MFA_RECOVERY_CODE_USE,
        Action.ACCOUNTS_PASSWORD_SET,
        Action.DIRECTORY_USER_UPDATE,
    }
)


def security_notice_queue(*, event: AuditEvent) -> None:
    """Tell the person once ``event`` (a change to their account, in the caller's
    transaction) has committed; nothing if it rolls back."""
    from accounts.tasks import security_notice_send

    event_id = event.pk
    transaction.on_commit(lambda: security_notice_send.delay(event_id), robust=True)


def _change_described(event: AuditEvent) -> str:
    details = event.details
    name = str(details.get("name", ""))
    passkey = details.get("device_type") == "passkey"
    if event.action == Action.ACCOUNTS_MFA_DEVICE_ADD:
        if passkey:
            return _("A passkey “%(name)s” was added as a way to sign in.") % {"name": name}
        return _("An authenticator app “%(name)s” was added as a way to sign in.") % {"name": name}
    if event.action == Action.ACCOUNTS_MFA_DEVICE_REMOVE:
        if passkey:
            return _("A passkey “%(name)s” was removed from your ways to sign in.") % {"name": name}
        return _("An authenticator app “%(name)s” was removed from your ways to sign in.") % {
            "name": name
        }
    if event.action == Action.ACCOUNTS_MFA_RECOVERY_CODES_GENERATE:
        return _("New recovery codes were made; the previous ones no longer work.")
    if event.action == Action.ACCOUNTS_MFA_RECOVERY_CODES_INVALIDATE:
        return _(
            "Your recovery codes no longer work: the administrators retired the security "
            "key they were made with. Your other ways to sign in are unchanged."
        )
    if event.action == Action.ACCOUNTS_MFA_RECOVERY_CODE_USE:
        remaining = int(details.get("remaining", 0))
        return ngettext(
            "A recovery code was used to sign in. %(count)d code is left.",
            "A recovery code was used to sign in. %(count)d codes are left.",
            remaining,
        ) % {"count": remaining}
    if event.action == Action.DIRECTORY_USER_UPDATE:
        said = _(
            "The organisation's directory (%(directory)s) changed your account's e-mail "
            "address to %(email)s. Set-up links and these notices now go there."
        ) % {"directory": event.actor_label, "email": event.details.get("email", "")}
        creator = details.get("token_created_by")
        if creator:
            # The administrator who could have sent the change himself: the person knows
            # whom to ask, and whom to report.
            said += " " + _("The directory's token was created by %(admin)s.") % {"admin": creator}
        return said
    return _("A new password was set.")


def _former_address(event: AuditEvent) -> str:
    """For a directory update: the address it replaced, or "" if the address stayed."""
    changes = event.details.get("changes")
    email = changes.get("email") if isinstance(changes, dict) else None
    before = email.get("before") if isinstance(email, dict) else None
    return before if isinstance(before, str) else ""


def security_notice_send(*, event_id: int) -> bool:
    """E-mail the person whose account ``event_id`` changed, in their language.
    Returns whether a message went out (none for an unknown event, a refusal, or a
    deactivated account, whose offboarding already said what happened)."""
    event = AuditEvent.objects.filter(
        pk=event_id,
        action__in=NOTIFIED_ACTIONS,
        outcome=Outcome.SUCCESS,
        target_type="accounts.user",
    ).first()
    if event is None:
        return False
    person = User.objects.filter(pk=event.target_id, is_active=True).first()
    if person is None:
        return False
    recipient = person.email
    if event.action == Action.DIRECTORY_USER_UPDATE:
        recipient = _former_address(event)
        if not recipient:  # a rename: the ways in did not change
            return False
    with translation.override(person.email_language):
        subject = _("Your SecureDrive sign-in methods changed")
        message = render_to_string(
            "accounts/email/security_notice.txt",
            {
                "person": person,
                "change": _change_described(event),
                "event": event,
                "site_url": settings.SITE_URL,
                "by_directory": event.action == Action.DIRECTORY_USER_UPDATE,
                "codes_ended": event.action == Action.ACCOUNTS_MFA_RECOVERY_CODES_INVALIDATE,
            },
        )
    send_mail(subject=subject, message=message, from_email=None, recipient_list=[recipient])
    return True
