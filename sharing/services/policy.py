"""The sharing policy as the transfer and file-request rules read it (the policy page
and the link rules themselves are in ``sharing.services.links``), and the one rule of
expiry that links, transfers and file requests share: how far "N days" reaches, and
what to say when an expiry goes past the policy's maximum."""

from __future__ import annotations

import datetime as dt

from django.utils import formats, timezone
from django.utils.translation import ngettext

from accounts.models import User
from sharing.errors import LinkPolicyError
from sharing.models import SharingPolicy

# The choices every expiry form offers (those past the policy's maximum are left out),
# besides a date of the person's choosing.
EXPIRY_PRESET_DAYS = (1, 7, 30)
# The seconds between a form computing an expiry and the service checking it.
EXPIRY_GRACE = dt.timedelta(minutes=1)


def may_share_outside(actor: User) -> bool:
    """The policy's "who may share outside" (links, transfers, file requests), as
    decided by ``sharing.services.links``."""
    from sharing.services import links

    try:
        links.share_link_policy_check_may_share(actor=actor)
    except LinkPolicyError:
        return False
    return True


# A century: beyond any sharing policy, well inside datetime's year 9999.
EXPIRY_DAYS_BEYOND_ANYTHING = 36_500


def expiry_max_days() -> int:
    return int(SharingPolicy.current().link_max_days)


def expiry_default_days() -> int:
    return int(SharingPolicy.current().link_default_days)


def expiry_in_days(days: int, *, now: dt.datetime | None = None) -> dt.datetime:
    """``days`` from now on the site's clock: a 7-day link made at 18:30 ends at 18:30
    seven days later, also across a change to or from summer time (where adding 7 times 24
    hours would end it at 17:30 or 19:30)."""
    zone = timezone.get_default_timezone()
    local = timezone.localtime(now or timezone.now(), zone)
    # A number of days sent by a client (API ``expires_in_days``) may be 10^30: past
    # anything a policy allows it saturates, so the caller's policy check refuses it
    # with its message, where ``timedelta`` would raise OverflowError (a 500).
    days = min(days, EXPIRY_DAYS_BEYOND_ANYTHING)
    return (local.replace(tzinfo=None) + dt.timedelta(days=days)).replace(tzinfo=zone)


def expiry_beyond(
    expires_at: dt.datetime, *, max_days: int, now: dt.datetime | None = None
) -> bool:
    return expires_at > expiry_in_days(max_days, now=now) + EXPIRY_GRACE


def expiry_beyond_message(max_days: int, *, now: dt.datetime | None = None) -> str:
    """The refusal of an expiry past the policy, naming its limit as a day the person
    can pick ("… at most 30 days: choose 5 January 2027 or earlier.")."""
    zone = timezone.get_default_timezone()
    latest = timezone.localtime(expiry_in_days(max_days, now=now), zone).date()
    return ngettext(
        "The sharing policy allows at most %(count)d day: choose %(latest)s or earlier.",
        "The sharing policy allows at most %(count)d days: choose %(latest)s or earlier.",
        max_days,
    ) % {"count": max_days, "latest": formats.date_format(latest, "DATE_FORMAT")}
