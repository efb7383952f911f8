"""Browser sessions: tracking, idle and absolute timeouts, revocation.

Django's own session row stays the source of truth for being signed in; a
``UserSession`` row lets people see their sessions and lets anyone with the right
revoke one. Ending a session deletes Django's row, so the browser is refused on its
very next request.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts.models import AccountPolicy, User, UserSession
from audit import services as audit
from audit.actions import Action
from audit.context import client_ip
from audit.models import Outcome
from core.log_format import tokens_redacted

DEVICE_COOKIE = "sd_device"
DEVICE_COOKIE_MAX_AGE = 400 * 24 * 3600  # the longest browsers keep a cookie
SESSION_STARTED_KEY = "sd_started_at"
SESSION_ACTIVITY_KEY = "sd_last_activity"
# Writing last_seen_at on every request would cost a write per click: once a minute is
# plenty for a "last seen" column.
LAST_SEEN_RESOLUTION = dt.timedelta(minutes=1)


class EndReason:
    IDLE = "idle timeout"
    MAX_AGE = "maximum length reached"
    REVOKED = "revoked"
    SIGNED_OUT = "signed out"
    OFFBOARDED = "account deactivated"
    ROLES_CHANGED = "roles changed"
    PASSWORD_SET = "new password"  # noqa: S105  (a reason, not a password)
    # OpenID Connect back-channel logout (sso/backchannel.py).
    PROVIDER_LOGOUT = "signed out at the identity provider"


def _session_store(session_key: str) -> SessionBase:
    engine = import_string(f"{settings.SESSION_ENGINE}.SessionStore")
    store: SessionBase = engine(session_key)
    return store


def device_hash_of(request: HttpRequest) -> str:
    cookie = request.COOKIES.get(DEVICE_COOKIE, "")
    return hashlib.sha256(cookie.encode()).hexdigest() if cookie else ""


def device_cookie_new() -> str:
    return secrets.token_urlsafe(32)


def user_session_start(*, request: HttpRequest, user: User, device_cookie: str) -> UserSession:
    """Called right after Django's login(): remember this browser session."""
    now = timezone.now()
    request.session[SESSION_STARTED_KEY] = now.isoformat()
    request.session[SESSION_ACTIVITY_KEY] = now.isoformat()
    request.session.save()
    session_key = request.session.session_key or ""
    return UserSession.objects.create(
        user=user,
        session_key=session_key,
        created_at=now,
        last_seen_at=now,
        ip_address=client_ip(request),
        user_agent=str(request.META.get("HTTP_USER_AGENT", ""))[:512],
        device_hash=hashlib.sha256(device_cookie.encode()).hexdigest(),
    )


def session_key_renew(request: HttpRequest) -> None:
    """Give this browser session a new id, keeping its contents and its place in the
    session list.

    Called at every privilege change (the password step through Django's login(), the
    second factor, a first device): an id planted by someone else (session fixation)
    or read off a shared ward PC between two steps must not inherit what the next step
    grants (OWASP ASVS 5.0 V7.2.4). The old id is deleted, so it is signed out at once.
    """
    previous_key = request.session.session_key
    request.session.cycle_key()
    request.session.save()  # the contents too, not only the new id, even if the view fails
    if previous_key:
        UserSession.objects.filter(session_key=previous_key).update(
            session_key=request.session.session_key
        )


def device_is_new(*, user: User, device_hash: str) -> bool:
    if not device_hash:
        return True
    return not UserSession.objects.filter(user=user, device_hash=device_hash).exists()


def user_session_end(*, user_session: UserSession, reason: str) -> None:
    """Delete Django's session row and mark ours ended. Idempotent."""
    _session_store(user_session.session_key).delete()
    if user_session.ended_at is None:
        user_session.ended_at = timezone.now()
        user_session.end_reason = reason
        user_session.save(update_fields=["ended_at", "end_reason"])


def user_session_revoke(*, actor: User, user_session: UserSession) -> None:
    with transaction.atomic():
        user_session_end(user_session=user_session, reason=EndReason.REVOKED)
        audit.record(
            action=Action.ACCOUNTS_SESSION_REVOKE,
            actor=actor,
            target_type="accounts.user",
            target_id=user_session.user_id,
            details={"session": user_session.pk, "ip": user_session.ip_address},
        )


def user_sessions_end_all(*, user: User, reason: str) -> int:
    """End every open session of a user (sign out everywhere, offboarding)."""
    ended = 0
    for user_session in UserSession.objects.filter(user=user, ended_at__isnull=True):
        user_session_end(user_session=user_session, reason=reason)
        ended += 1
    return ended


def user_sessions_revoke_all(*, actor: User) -> tuple[int, list[str]]:
    """Sign out everywhere: every open session of ``actor`` ends and every API token is
    revoked (someone who held a session could have minted one), recorded in the same
    transaction (all or nothing). The caller logs the current request out after.
    Returns the sessions ended and the names of the tokens revoked."""
    from accounts import tokens

    with transaction.atomic():
        ended = user_sessions_end_all(user=actor, reason=EndReason.REVOKED)
        revoked = tokens.tokens_revoke_all(actor=actor, user=actor, reason="signed out everywhere")
        audit.record(
            action=Action.ACCOUNTS_SESSION_REVOKE_ALL,
            actor=actor,
            target_type="accounts.user",
            target_id=actor.pk,
            details={"sessions_ended": ended, "tokens_revoked": len(revoked)},
        )
    return ended, revoked


def session_expiry_reason(
    request: HttpRequest, policy: AccountPolicy, now: dt.datetime
) -> str | None:
    """Why this session must end now, or None."""
    started = request.session.get(SESSION_STARTED_KEY)
    last_activity = request.session.get(SESSION_ACTIVITY_KEY)
    if started is None or last_activity is None:
        return None
    if now - dt.datetime.fromisoformat(last_activity) > dt.timedelta(
        minutes=policy.session_idle_minutes
    ):
        return EndReason.IDLE
    if now - dt.datetime.fromisoformat(started) > dt.timedelta(hours=policy.session_max_hours):
        return EndReason.MAX_AGE
    return None


# The browser session (UserSession id) the request being served came with, for what
# outlives the request: a download's body streams on after the middleware returned, and
# must stop when that session ends (revoked, new password, provider logout, timeout).
_serving_session: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "securedrive_serving_session", default=None
)


def serving_session_set(user_session_id: int | None) -> contextvars.Token[int | None]:
    return _serving_session.set(user_session_id)


def serving_session_reset(token: contextvars.Token[int | None]) -> None:
    _serving_session.reset(token)


def serving_session() -> int | None:
    """The id of the browser session of the request being served, None without one."""
    return _serving_session.get()


def session_is_open(user_session_id: int, *, person_active: bool = False) -> bool:
    """Whether the browser session is still open; with ``person_active``, also whether its
    person is still active, in the same query (a tus PATCH asks both once its body has
    arrived)."""
    sessions = UserSession.objects.filter(pk=user_session_id, ended_at__isnull=True)
    if person_active:
        sessions = sessions.filter(user__is_active=True)
    return sessions.exists()


# Sent by what a page requests by itself (htmx polling: ``hx-headers`` on the polling
# element), not by the person: it must not count as activity, or a page left open on a
# ward PC would keep its session from ever going idle. Forging it only shortens one's
# own session.
BACKGROUND_HEADER = "X-SecureDrive-Background"


def request_is_background(request: HttpRequest) -> bool:
    return request.headers.get(BACKGROUND_HEADER) == "1"


def session_touch(request: HttpRequest, user_session: UserSession, now: dt.datetime) -> None:
    request.session[SESSION_ACTIVITY_KEY] = now.isoformat()
    if now - user_session.last_seen_at >= LAST_SEEN_RESOLUTION:
        user_session.last_seen_at = now
        user_session.ip_address = client_ip(request)
        user_session.save(update_fields=["last_seen_at", "ip_address"])


def session_expired_record(*, user: User, reason: str) -> None:
    audit.record(
        action=Action.ACCOUNTS_SESSION_EXPIRE,
        outcome=Outcome.SUCCESS,
        actor=user,
        target_type="accounts.user",
        target_id=user.pk,
        details={"reason": reason},
    )


# Ended sessions whose cookie coming back is worth an auditor's eye: the browser may not
# be its person's (signed out by them or their provider, or holding a leaked password).
# Not timeouts or a person's own sign-out: everyday, and their own browser.
_REFUSAL_RECORDED = {
    EndReason.OFFBOARDED: Action.ACCOUNTS_SESSION_REFUSE,
    EndReason.REVOKED: Action.ACCOUNTS_SESSION_ENDED_REFUSE,
    EndReason.PASSWORD_SET: Action.ACCOUNTS_SESSION_ENDED_REFUSE,
    EndReason.PROVIDER_LOGOUT: Action.ACCOUNTS_SESSION_ENDED_REFUSE,
}


def ended_session_refused_record(request: HttpRequest) -> None:
    """A browser still holding the cookie of a session ended because its person was
    deactivated, or signed out by someone (revoked, a new password, the identity
    provider): Django already sees nobody (the session row is gone); the attempt is
    recorded against that person, once (Django deletes the dead cookie with this
    answer). Called for anonymous requests only, after the session was loaded."""
    cookie = request.COOKIES.get(settings.SESSION_COOKIE_NAME, "")
    if not cookie or len(cookie) > 40 or request.session.session_key is not None:
        return  # no cookie, not one of ours, or a live (anonymous) session
    ended = UserSession.objects.filter(
        session_key=cookie, end_reason__in=list(_REFUSAL_RECORDED)
    ).first()
    if ended is None:
        return
    audit.record(
        action=_REFUSAL_RECORDED[ended.end_reason],
        outcome=Outcome.DENIED,
        actor=ended.user,
        target_type="accounts.user",
        target_id=ended.user_id,
        details={
            "reason": ended.end_reason,
            "session": ended.pk,
            # A link's token is a capability: never in the audit log (/s/[token]/).
            "path": tokens_redacted(request.path)[:200],
        },
    )
