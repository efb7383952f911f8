from __future__ import annotations

from celery import shared_task

from accounts import notifications


@shared_task(ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def login_notification_send(user_session_id: int) -> None:
    """E-mail a person that their account was just used from a new device."""
    notifications.login_notification_send(user_session_id=user_session_id)


@shared_task(ignore_result=True)
def departures_due_process() -> int:
    """Every five minutes (beat): deactivate the accounts whose departure date has come."""
    from accounts.offboarding import departures_due_process as process

    return process()


@shared_task(ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def security_notice_send(event_id: int) -> None:
    """E-mail a person that the ways into their account changed (accounts/security_notices.py)."""
    from accounts.security_notices import security_notice_send as send

    send(event_id=event_id)


@shared_task(ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def role_granted_notice_send(event_id: int) -> None:
    """E-mail a person that a site-wide role was granted to her (accounts/role_notices.py)."""
    from accounts.role_notices import role_granted_notice_send as send

    send(event_id=event_id)
