"""External links, the recipient's side: open, prove, download (docs/sharing-links.md).

Who holds the token holds the capability, within what the link allows:

* **Lookup.** A malformed token is refused before any query; a well-formed one is
  looked up by its SHA-256 and compared again in constant time (sharing/services/tokens.py).
* **No oracle.** An unknown token and a wrong password cost the same: when a password
  is posted for a token without one (unknown, or a link without password), a dummy
  Argon2 hash is computed, as Django's ModelBackend does for unknown users. Both paths
  pass the same rate limits and write one audit event.
* **Rate limits** (core/ratelimit.py: exact counters, Redis in production): every
  request per address (fails open: a token cannot be guessed); password and code
  attempts per address and per link (fail closed: 503 while they cannot be counted);
  code e-mails per link (counted in the database: one a minute, five an hour).
* **The recipient's proofs** (password given, e-mail code given) live in their Django
  session, keyed by link id: each browser proves on its own, and a proof lapses after
  ``PROOF_LIFETIME`` (or with the link, if sooner). The link's state is re-read on
  every request, so revocation, expiry or an exhausted limit take effect on the very
  next click, in the middle of a session too.
* **Downloads** are in ``sharing.services.link_downloads``.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from audit import floods
from audit import services as audit
from audit.actions import Action
from audit.context import RequestContext, client_ip, context_from_request
from audit.models import AuditEvent, Outcome
from core.ratelimit import Verdict, address_counted, rate_limit_check
from files.selectors import (
    SharingWay,
    role_withholds_content,
    sharing_allowed,
)
from sharing.models import ShareLink, ShareLinkCode
from sharing.services.auditor_grant import personal_space_id, transfer_items_beyond_personal
from sharing.services.emails import email_send
from sharing.services.links import (
    LinkState,
    share_link_state,
)
from sharing.services.suspension import external_sharing_suspended
from sharing.services.tokens import token_hash, token_matches, token_well_formed

logger = logging.getLogger(__name__)

SESSION_KEY = "share_links"

# Every request to /s/ per client address: generous for a person, tight for a scanner.
RATE_REQUESTS_PER_IP = "120/m"
# Password and code guesses, per client address and per link.
RATE_GUESSES_PER_IP = "20/15m"
RATE_GUESSES_PER_LINK = "10/15m"

CODE_DIGITS = 8
CODE_LIFETIME = dt.timedelta(minutes=10)
CODE_MAX_ATTEMPTS = 5
CODE_RESEND_INTERVAL = dt.timedelta(minutes=1)
CODE_MAX_PER_HOUR = 5
# How long a proof (the password, the e-mail code) opens the link in the browser that
# gave it: an afternoon of downloads (a large study over a slow line), not the link's
# whole life (up to the policy's maximum; and each download renewed the browser's
# session, so it never ended): a shared computer left open, or a copied browser
# profile, must not hand a patient's files over days later. A download under way is not
# cut when it lapses (it is re-checked against the link only).
PROOF_LIFETIME = dt.timedelta(hours=4)


class AccessOutcome(enum.StrEnum):
    """What an attempt came to, as the audit log says it."""

    OK = "ok"
    WRONG_PASSWORD = "wrong password"  # noqa: S105  (an outcome, not a password)
    EXPIRED = "expired"
    REVOKED = "revoked"
    LIMIT_REACHED = "limit reached"
    GONE = "gone"
    BAD_CODE = "bad code"
    UNKNOWN = "unknown"
    RATE_LIMITED = "rate limited"
    # A "view only" link: previews yes, the download and ZIP addresses no.
    VIEW_ONLY = "view only"
    # Every external link suspended by the administrators (incident response).
    SUSPENDED = "suspended"
    # Opened in a browser signed in as an auditor: an auditor reads no file content,
    # even through a link or a transfer addressed to them before the rule.
    AUDITOR = "auditor_suspended"


_STATE_OUTCOMES = {
    LinkState.ACTIVE: AccessOutcome.OK,
    LinkState.EXPIRED: AccessOutcome.EXPIRED,
    LinkState.REVOKED: AccessOutcome.REVOKED,
    LinkState.EXHAUSTED: AccessOutcome.LIMIT_REACHED,
    LinkState.GONE: AccessOutcome.GONE,
    LinkState.SUSPENDED: AccessOutcome.SUSPENDED,
}


class Step(enum.StrEnum):
    """What the recipient must still do before seeing the content."""

    PASSWORD = "password"  # noqa: S105
    EMAIL = "email"


# --- The recipient's proofs, in their session -----------------------------------------------


@dataclass
class Grant:
    link_id: int
    # When each proof lapses (POSIX time; 0: not given).
    password_until: float = 0.0
    email_until: float = 0.0
    # "file:<id>" or "archive" -> receipt id: what this session already counted.
    counted: dict[str, int] = field(default_factory=dict)

    @property
    def password_ok(self) -> bool:
        return self.password_until > timezone.now().timestamp()

    @property
    def email_ok(self) -> bool:
        return self.email_until > timezone.now().timestamp()

    def lapsed(self, step: Step | None) -> bool:
        """The proof ``step`` asks for was given in this browser, and has lapsed."""
        if step == Step.PASSWORD:
            until = self.password_until
        elif step == Step.EMAIL:
            until = self.email_until
        else:
            return False
        return 0 < until <= timezone.now().timestamp()


def _proof_until(link: ShareLink) -> float:
    """When a proof given now lapses: ``PROOF_LIFETIME`` from now, or with the link."""
    return min(timezone.now() + PROOF_LIFETIME, link.expires_at).timestamp()


def _stored_time(value: Any) -> float:
    # A session from before proofs lapsed holds True: no time, so no proof (ask again).
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)


def _grant_get(request: HttpRequest, link: ShareLink) -> Grant:
    stored = request.session.get(SESSION_KEY, {}).get(str(link.pk))
    if not isinstance(stored, dict) or float(stored.get("until", 0)) <= timezone.now().timestamp():
        return Grant(link_id=link.pk)
    return Grant(
        link_id=link.pk,
        password_until=_stored_time(stored.get("password")),
        email_until=_stored_time(stored.get("email")),
        counted={str(key): int(value) for key, value in dict(stored.get("counted", {})).items()},
    )


def grant_save(request: HttpRequest, link: ShareLink, grant: Grant) -> None:
    now = timezone.now().timestamp()
    grants = {
        key: value
        for key, value in dict(request.session.get(SESSION_KEY, {})).items()
        if isinstance(value, dict) and float(value.get("until", 0)) > now
    }
    grants[str(link.pk)] = {
        "until": link.expires_at.timestamp(),
        "password": grant.password_until,
        "email": grant.email_until,
        "counted": grant.counted,
    }
    request.session[SESSION_KEY] = grants


def _step_needed(link: ShareLink, grant: Grant) -> Step | None:
    if link.password_hash and not grant.password_ok:
        return Step.PASSWORD
    if link.email_verification and not grant.email_ok:
        return Step.EMAIL
    return None


# --- Lookup, rate limits, audit ------------------------------------------------------------------


def _limited(
    request: HttpRequest, *, group: str, rate: str, key: str | None = None, fail_open: bool = False
) -> Verdict:
    """One hit; a guess limiter (fail_open=False) raises RateLimitUnavailable → 503."""
    return rate_limit_check(
        group=group,
        key=key if key is not None else address_counted(client_ip(request) or "unknown"),
        rate=rate,
        fail_open=fail_open,
    )


def share_link_find(token: str) -> ShareLink | None:
    """The link ``token`` opens, or ``None``. Malformed tokens never reach the database."""
    if not token_well_formed(token):
        return None
    link = (
        ShareLink.objects.select_related("file", "folder", "transfer", "created_by")
        .filter(token_hash=token_hash(token))
        .first()
    )
    if link is None or not token_matches(token, link.token_hash):
        return None
    return link


def _creator_may_still_share(link: ShareLink) -> bool:
    """A link dies with its creator's right to publish the item (the one sharing rule,
    ``files.selectors.sharing_refusal``), checked at every request: an account
    deactivated, a team left, or a link made through a share before that was refused."""
    creator = link.created_by
    if not creator.is_active:
        return False
    item = link.file or link.folder
    if item is not None:
        return sharing_allowed(actor=creator, item=item, way=SharingWay.LINK)
    if link.transfer_id is not None and role_withholds_content(creator):
        # A transfer an auditor sent of files she no longer reads (before the grant
        # withdrew such transfers, sharing.services.auditor_grant): withdrawn for its
        # recipients too, not a transfer emptied of its files without a word.
        return not transfer_items_beyond_personal(link.transfer_id, personal_space_id(creator))
    return True


def link_state_now(link: ShareLink) -> LinkState:
    """What ``link`` gives right now, asked at every request and every re-check of a
    stream under way: its own state, its creator's right, and the site's suspension of
    every external link (which wins over "active" and "limit reached": a download
    using up the last place stops too)."""
    state = share_link_state(link)
    if state == LinkState.ACTIVE and not _creator_may_still_share(link):
        return LinkState.REVOKED
    if state in (LinkState.ACTIVE, LinkState.EXHAUSTED) and external_sharing_suspended():
        return LinkState.SUSPENDED
    return state


def link_label(link: ShareLink | None) -> str:
    return f"link:{link.pk}" if link is not None else "link:unknown"


def access_record(
    *,
    request: HttpRequest | RequestContext,
    link: ShareLink | None,
    outcome: AccessOutcome | str,
    action: Action = Action.SHARING_LINK_ACCESS,
    **details: Any,
) -> AuditEvent:
    """One audit event for an attempt by a recipient (who has no account)."""
    context = request if isinstance(request, RequestContext) else context_from_request(request)
    return audit.record(
        action=action,
        outcome=Outcome.SUCCESS if outcome == AccessOutcome.OK else Outcome.DENIED,
        actor_label=link_label(link),
        target_type="sharing.link" if link is not None else "",
        target_id=link.pk if link is not None else "",
        details={
            "outcome": str(outcome),
            **({"recipient": link.recipient_email} if link and link.recipient_email else {}),
            **details,
        },
        request=context,
    )


def _link_shares(link: ShareLink) -> str:
    """What a link gives, by name, for the log: the file's or folder's name, or the
    transfer's subject."""
    if link.file_id and link.file is not None:
        return link.file.name
    if link.folder_id and link.folder is not None:
        return link.folder.name
    if link.transfer_id and link.transfer is not None:
        return link.transfer.subject
    return ""


def _auditor_refused(
    *, request: HttpRequest, link: ShareLink, auditor: Any, **details: Any
) -> None:
    """A link or a transfer opened in a browser signed in as an auditor: refused and
    recorded in the auditor's name (not the link's), with what it shares by name. Who
    holds a link's token holds the capability: the same person signed out is the outside
    recipient the link is for, and the log shows that too."""
    audit.record(
        action=Action.SHARING_LINK_ACCESS,
        outcome=Outcome.DENIED,
        actor=auditor,
        target_type="sharing.link",
        target_id=link.pk,
        details={
            "outcome": str(AccessOutcome.AUDITOR),
            "reason": str(AccessOutcome.AUDITOR),
            "name": _link_shares(link),
            **({"recipient": link.recipient_email} if link.recipient_email else {}),
            **details,
        },
        request=context_from_request(request),
    )


def limited_record(
    *,
    request: HttpRequest,
    endpoint: str,
    link: ShareLink | None,
    action: Action = Action.SHARING_LINK_ACCESS,
    **details: Any,
) -> None:
    """A try refused by a rate limit: the first of a window recorded at once, the next
    ones counted and recorded as one ``ratelimit.flood`` (audit/floods.py), per address
    and link (a scanner's unknown tokens: per address)."""
    address = client_ip(request)
    floods.rate_limited_record(
        endpoint=endpoint,
        # What the limit counted: an IPv6 client's network, whichever address it took.
        source=address_counted(address or "unknown"),
        ip_address=address,
        target_type="sharing.link" if link is not None else "",
        target_id=link.pk if link is not None else "",
        target_name=_link_shares(link) if link is not None else "",
        actor_label=link_label(link),
        record=lambda flood: access_record(
            request=request,
            link=link,
            outcome=AccessOutcome.RATE_LIMITED,
            action=action,
            **details,
            **flood,
        ),
    )


@dataclass
class Access:
    """Where a recipient stands with a token: refused (``outcome``), or let in with
    ``step`` still to do (``None``: they may see and download the content)."""

    outcome: AccessOutcome
    link: ShareLink | None = None
    grant: Grant | None = None
    step: Step | None = None
    message: str = ""
    retry_after: float = 60.0  # rate limited: seconds until a try would be let in

    @property
    def live(self) -> bool:
        return self.outcome == AccessOutcome.OK and self.link is not None

    @property
    def unlocked(self) -> bool:
        return self.live and self.step is None


def _throttled(request: HttpRequest) -> Verdict:
    # Fails open: tokens carry 256 bits, this limit keeps scanners' load down; the guess
    # limits below are the ones that protect a password or a code.
    return _limited(
        request, group="sharing.link.request", rate=RATE_REQUESTS_PER_IP, fail_open=True
    )


def share_link_access(
    *,
    request: HttpRequest,
    token: str,
    audit_ok: bool = True,
    allow_exhausted: bool = False,
    opened: bool = True,
    **details: Any,
) -> Access:
    """Check ``token`` for this request. Refusals are audited; success only when
    ``audit_ok`` (the landing page; downloads write their own event). ``opened=False``:
    a ``HEAD`` of the landing page (a mail scanner), which does not move the link's
    "last opened"."""
    throttled = _throttled(request)
    if throttled.limited:
        # Looked up (one indexed read, no write) so that the flood is told per link.
        limited_record(
            request=request, endpoint="sharing.link", link=share_link_find(token), **details
        )
        return Access(AccessOutcome.RATE_LIMITED, retry_after=throttled.retry_after)
    link = share_link_find(token)
    if link is None:
        access_record(
            request=request,
            link=None,
            outcome=AccessOutcome.UNKNOWN,
            malformed=not token_well_formed(token),
            **details,
        )
        return Access(AccessOutcome.UNKNOWN)
    state = link_state_now(link)
    if state == LinkState.EXHAUSTED and allow_exhausted:
        state = LinkState.ACTIVE
    outcome = _STATE_OUTCOMES[state]
    if outcome != AccessOutcome.OK:
        access_record(request=request, link=link, outcome=outcome, **details)
        return Access(outcome, link=link)
    signed_in = getattr(request, "user", None)
    if role_withholds_content(signed_in):
        _auditor_refused(request=request, link=link, auditor=signed_in, **details)
        return Access(AccessOutcome.AUDITOR, link=link)
    grant = _grant_get(request, link)
    step = _step_needed(link, grant)
    if audit_ok:
        access_record(
            request=request, link=link, outcome=AccessOutcome.OK, step=str(step or ""), **details
        )
    if opened:
        ShareLink.objects.filter(pk=link.pk).update(last_accessed_at=timezone.now())
    return Access(AccessOutcome.OK, link=link, grant=grant, step=step)


# --- Password ---------------------------------------------------------------------------------


def share_link_password_submit(*, request: HttpRequest, token: str, password: str) -> Access:
    """Check a posted password. Unknown tokens and wrong passwords take the same time
    (one Argon2 computation each) and the same rate limits."""
    limited = _throttled(request)
    if not limited.limited:
        limited = _limited(request, group="sharing.link.guess", rate=RATE_GUESSES_PER_IP)
    if limited.limited:
        make_password(password)  # the same cost as a real check
        # Counted with the guesses the per-link limit refuses: one flood per link.
        link = share_link_find(token)
        limited_record(request=request, endpoint="sharing.link.guess", link=link)
        return Access(AccessOutcome.RATE_LIMITED, retry_after=limited.retry_after)
    link = share_link_find(token)
    state = link_state_now(link) if link is not None else None
    if link is None or state != LinkState.ACTIVE or not link.password_hash:
        make_password(password)
        if link is None:
            access_record(
                request=request,
                link=None,
                outcome=AccessOutcome.UNKNOWN,
                malformed=not token_well_formed(token),
            )
            return Access(AccessOutcome.UNKNOWN)
        assert state is not None  # noqa: S101
        outcome = _STATE_OUTCOMES[state]
        access_record(request=request, link=link, outcome=outcome, step="password")
        if outcome != AccessOutcome.OK:
            return Access(outcome, link=link)
        grant = _grant_get(request, link)
        return Access(outcome, link=link, grant=grant, step=_step_needed(link, grant))
    limited = _limited(
        request, group="sharing.link.guess.link", rate=RATE_GUESSES_PER_LINK, key=str(link.pk)
    )
    if limited.limited:
        make_password(password)
        limited_record(request=request, endpoint="sharing.link.guess", link=link)
        return Access(AccessOutcome.RATE_LIMITED, link=link, retry_after=limited.retry_after)
    grant = _grant_get(request, link)
    if not check_password(password, link.password_hash):
        access_record(request=request, link=link, outcome=AccessOutcome.WRONG_PASSWORD)
        return Access(
            AccessOutcome.OK,
            link=link,
            grant=grant,
            step=Step.PASSWORD,
            message=_("Wrong password."),
        )
    grant.password_until = _proof_until(link)
    grant_save(request, link, grant)
    # A new proof: a new session key, so a session id seen before is worth nothing.
    request.session.cycle_key()
    access_record(request=request, link=link, outcome=AccessOutcome.OK, step="password")
    return Access(AccessOutcome.OK, link=link, grant=grant, step=_step_needed(link, grant))


# --- E-mail code ----------------------------------------------------------------------------------


def recipient_email_masked(email: str) -> str:
    """``j***@hopital.example``: enough to recognise one's address, not to learn it."""
    local, _at, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def share_link_code_send(*, request: HttpRequest, link: ShareLink, language: str) -> str:
    """E-mail a new one-time code to the link's recipient; "" when sent, else why not.

    Codes: ``CODE_DIGITS`` random digits, stored as an Argon2 hash, valid
    ``CODE_LIFETIME``, ``CODE_MAX_ATTEMPTS`` guesses; a new code replaces the previous
    one. At most one a minute and ``CODE_MAX_PER_HOUR`` an hour per link (counted in the
    database, so every replica agrees). The e-mail leaves after commit, from this
    process: the code never travels through the broker.
    """
    now = timezone.now()
    with transaction.atomic():
        ShareLink.objects.select_for_update().filter(pk=link.pk).first()
        recent = ShareLinkCode.objects.filter(link=link, created_at__gt=now - dt.timedelta(hours=1))
        if recent.filter(created_at__gt=now - CODE_RESEND_INTERVAL).exists():
            refusal = _("A code was sent less than a minute ago. Check your inbox, then try again.")
        elif recent.count() >= CODE_MAX_PER_HOUR:
            refusal = _("Too many codes were sent for this link. Try again in an hour.")
        else:
            refusal = ""
        if refusal:
            limited_record(
                request=request,
                endpoint="sharing.link.code",
                link=link,
                action=Action.SHARING_LINK_VERIFY,
                step="code sent",
            )
            return refusal
        code = "".join(secrets.choice("0123456789") for _digit in range(CODE_DIGITS))
        ShareLinkCode.objects.filter(link=link, used_at__isnull=True).update(used_at=now)
        code_row = ShareLinkCode.objects.create(
            link=link,
            code_hash=make_password(code),
            created_at=now,
            expires_at=now + CODE_LIFETIME,
        )
        access_record(
            request=request,
            link=link,
            outcome=AccessOutcome.OK,
            action=Action.SHARING_LINK_VERIFY,
            step="code sent",
        )
        context = {
            "code": code,
            "minutes": int(CODE_LIFETIME.total_seconds() // 60),
            "sender_name": link.created_by.get_full_name() or link.created_by.email,
        }

        failed: list[Exception] = []

        def send() -> None:
            try:
                email_send(
                    to=link.recipient_email,
                    subject=_("Your SecureDrive code: %(code)s") % {"code": code},
                    template="link_code",
                    context=context,
                    language=language,
                )
            except Exception as error:  # the mail server down, an address refused
                logger.exception("link %s: the code e-mail could not be sent", link.pk)
                failed.append(error)

        transaction.on_commit(send)
    if failed:
        # Not a 500, and no code the recipient never got holding back the next one.
        ShareLinkCode.objects.filter(pk=code_row.pk).delete()
        access_record(
            request=request,
            link=link,
            outcome="not sent",
            action=Action.SHARING_LINK_VERIFY,
            step="code sent",
            error=type(failed[0]).__name__,
        )
        return _("The code could not be e-mailed just now. Try again in a few minutes.")
    return ""


class CodeVerdict(enum.StrEnum):
    """What a typed code came to (the audit's ``reason`` for a refusal)."""

    OK = "ok"
    WRONG = "wrong code"
    USED_UP = "too many wrong attempts"
    EXPIRED = "expired"
    NONE_WAITING = "no code waiting"
    RATE_LIMITED = "rate limited"


@dataclass(frozen=True)
class CodeCheck:
    verdict: CodeVerdict
    # Wrong code: the guesses the code still takes (0: it no longer works).
    tries_left: int = 0
    retry_after: float = 60.0

    @property
    def ok(self) -> bool:
        return self.verdict == CodeVerdict.OK


def share_link_code_check(*, request: HttpRequest, link: ShareLink, code: str) -> CodeCheck:
    """Check a code typed by the recipient; on success this browser's session is
    verified (``PROOF_LIFETIME``). Only this link's latest code is compared: a code
    e-mailed for another link (the same person's other transfer) is just wrong here."""
    typed = "".join(char for char in code if char.isdigit())
    limited = _limited(request, group="sharing.link.guess", rate=RATE_GUESSES_PER_IP)
    if not limited.limited:
        limited = _limited(
            request, group="sharing.link.guess.link", rate=RATE_GUESSES_PER_LINK, key=str(link.pk)
        )
    if limited.limited:
        limited_record(
            request=request,
            endpoint="sharing.link.guess",
            link=link,
            action=Action.SHARING_LINK_VERIFY,
            step="code",
        )
        return CodeCheck(CodeVerdict.RATE_LIMITED, retry_after=limited.retry_after)
    now = timezone.now()
    with transaction.atomic():
        current = (
            ShareLinkCode.objects.select_for_update()
            .filter(link=link)
            .order_by("-created_at", "-pk")
            .first()
        )
        refusal = None
        if current is None or current.used_at is not None:
            refusal = CodeVerdict.NONE_WAITING
        elif current.expires_at <= now:
            refusal = CodeVerdict.EXPIRED
        elif current.attempts >= CODE_MAX_ATTEMPTS:
            refusal = CodeVerdict.USED_UP
        if current is None or refusal is not None:
            make_password(typed)  # the same cost as a real check
            access_record(
                request=request,
                link=link,
                outcome=AccessOutcome.BAD_CODE,
                action=Action.SHARING_LINK_VERIFY,
                step="code",
                reason=str(refusal),
            )
            return CodeCheck(refusal or CodeVerdict.NONE_WAITING)
        current.attempts += 1
        matched = len(typed) == CODE_DIGITS and check_password(typed, current.code_hash)
        if matched:
            current.used_at = now
        current.save(update_fields=["attempts", "used_at"])
        access_record(
            request=request,
            link=link,
            outcome=AccessOutcome.OK if matched else AccessOutcome.BAD_CODE,
            action=Action.SHARING_LINK_VERIFY,
            step="code",
            attempts=current.attempts,
            **({} if matched else {"reason": str(CodeVerdict.WRONG)}),
        )
    if not matched:
        return CodeCheck(CodeVerdict.WRONG, tries_left=CODE_MAX_ATTEMPTS - current.attempts)
    grant = _grant_get(request, link)
    grant.email_until = _proof_until(link)
    grant_save(request, link, grant)
    request.session.cycle_key()
    return CodeCheck(CodeVerdict.OK)
