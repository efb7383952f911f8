"""E-mails sent to account holders. Texts are translated into the recipient's language."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from accounts.models import UserSession


def login_notification_send(*, user_session_id: int) -> None:
    user_session = UserSession.objects.select_related("user").filter(pk=user_session_id).first()
    if user_session is None:
        return
    context = {"user_session": user_session, "site_url": settings.SITE_URL}
    with translation.override(user_session.user.email_language):
        subject = _("New sign-in to your SecureDrive account")
        message = render_to_string("accounts/email/login_notification.txt", context)
    send_mail(
        subject=subject, message=message, from_email=None, recipient_list=[user_session.user.email]
    )
