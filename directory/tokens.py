"""Directory tokens: created by a site administrator, used by the directory as a bearer
token on /scim/v2/ (RFC 7644 §2: "OAuth bearer token" is the common choice).

A token is ``sdscim_`` and 43 characters of ``secrets.token_urlsafe(32)`` (256 random
bits); only its SHA-256 is stored (see accounts/tokens.py for why a fast hash is right
for random tokens). A token works while it is not revoked and its creator is still an
active site administrator: a directory's power ends with the admin who granted it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.errors import AccountRuleError
from accounts.models import User
from audit import services as audit
from audit.actions import Action
from audit.context import RequestContext
from audit.models import Outcome
from directory.models import DirectoryToken, SuccessorRule

TOKEN_PREFIX = "sdscim_"  # noqa: S105  (a public marker, not a secret)
DISPLAY_PREFIX_LENGTH = 13
_TOKEN_SHAPE = re.compile(rf"{TOKEN_PREFIX}[A-Za-z0-9_-]{{43}}")
# As for API tokens: a use is recorded at most once a minute per token; every change a
# directory makes is recorded on its own.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def token_hash_of(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def directory_token_create(
    *,
    actor: User,
    name: str,
    successor_rule: str = SuccessorRule.TEAM_MANAGER,
    successor: User | None = None,
) -> tuple[DirectoryToken, str]:
    """A new token; the plaintext is returned once and never stored.

    Nobody names themselves to receive leavers' files (accounts.roles, as the admin's
    offboarding page): neither the ``token_creator`` rule nor a ``named`` account that
    is the creator's own. Either would let an administrator deactivate anyone through
    the directory and read their personal files."""
    if successor_rule == SuccessorRule.TOKEN_CREATOR or (
        successor_rule == SuccessorRule.NAMED and successor is not None and successor.pk == actor.pk
    ):
        audit.record(
            action=Action.DIRECTORY_TOKEN_CREATE,
            outcome=Outcome.DENIED,
            actor=actor,
            target_type="directory.token",
            details={"name": name.strip()[:100], "successor_rule": successor_rule,
                     "reason": "self_grant"},
        )  # fmt: skip
        raise AccountRuleError(
            _(
                "Nobody may name themselves to receive a colleague's files: choose the "
                "team manager or another account."
            )
        )
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = DirectoryToken.objects.create(
            name=name.strip()[:100],
            prefix=raw[:DISPLAY_PREFIX_LENGTH],
            token_hash=token_hash_of(raw),
            created_by=actor,
            successor_rule=successor_rule,
            successor=successor if successor_rule == SuccessorRule.NAMED else None,
        )
        audit.record(
            action=Action.DIRECTORY_TOKEN_CREATE,
            actor=actor,
            target_type="directory.token",
            target_id=token.pk,
            details={
                "name": token.name,
                "prefix": token.prefix,
                "successor_rule": successor_rule,
                "successor": token.successor.email if token.successor else "",
            },
        )
    return token, raw


def directory_token_revoke(*, actor: User, token: DirectoryToken) -> None:
    with transaction.atomic():
        updated = DirectoryToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if updated:
            audit.record(
                action=Action.DIRECTORY_TOKEN_REVOKE,
                actor=actor,
                target_type="directory.token",
                target_id=token.pk,
                details={"name": token.name, "prefix": token.prefix},
            )


def directory_token_authenticate(
    raw: str, *, request: RequestContext | None = None
) -> DirectoryToken | None:
    """The live token ``raw`` is, or None (refusals are audited by the caller)."""
    if not _TOKEN_SHAPE.fullmatch(raw):
        return None
    token = (
        DirectoryToken.objects.select_related("created_by", "successor")
        .filter(token_hash=token_hash_of(raw))
        .first()
    )
    if token is None or not hmac.compare_digest(token.token_hash, token_hash_of(raw)):
        return None
    creator = token.created_by
    if token.revoked_at is not None or not (creator.is_active and creator.is_site_admin):
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        DirectoryToken.objects.filter(pk=token.pk).update(last_used_at=now)
        audit.record(
            action=Action.DIRECTORY_TOKEN_USE,
            actor=None,
            actor_label=token_label(token),
            target_type="directory.token",
            target_id=token.pk,
            details={"prefix": token.prefix},
            request=request,
        )
    return token


def token_label(token: DirectoryToken) -> str:
    """How the audit log names what a directory did."""
    return f"directory “{token.name}” ({token.prefix}…)"
