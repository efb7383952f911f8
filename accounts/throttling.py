"""The REST API's throttles on exact counters (core/ratelimit.py).

DRF's own throttles keep a list of timestamps in the cache (read, append, write back):
on the embedded file cache parallel requests overwrite each other's hits and other keys
evict them. These count one atomic hit per request over any window-length span instead,
and ``Retry-After`` is the exact wait (core/ratelimit.py).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

if TYPE_CHECKING:  # DRF imports this module while it builds APIView
    from rest_framework.views import APIView

from audit import floods
from audit import services as audit
from audit.actions import Action
from audit.context import client_ip
from audit.models import Outcome
from core.ratelimit import address_counted, rate_limit_check


class ExactRateThrottleMixin(SimpleRateThrottle):
    # The general per-address and per-person limits spread load; they need no counter to
    # keep anything safe, so the API keeps serving when the counters are unreachable.
    fail_open = True

    def get_ident(self, request: Request) -> str:
        """Who an anonymous client is: the address the audit log records (trusted
        proxies only, ``audit.context.client_ip``), an IPv6 client's /64 as one
        (``core.ratelimit.address_counted``). DRF's own reading took a new address of
        the network for a new client, and a forwarded header shorter than the proxies
        trusted gave the client's own, forgeable, leftmost entry."""
        return address_counted(client_ip(request._request))

    def allow_request(self, request: Request, view: APIView) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        num_requests: Any = getattr(self, "num_requests")  # noqa: B009
        duration: Any = getattr(self, "duration")  # noqa: B009  (set by parse_rate)
        verdict = rate_limit_check(
            group=f"api.{self.scope}",
            key=key,
            rate=f"{num_requests}/{duration}s",
            fail_open=self.fail_open,
        )
        self._retry_after = verdict.retry_after
        if verdict.limited:
            self._limited_record(request, key=key, window_s=int(duration))
        return not verdict.limited

    def _limited_record(self, request: Request, *, key: str, window_s: int) -> None:
        """A 429 is recorded (``ratelimit.api``) once per client and window, then counted
        (audit/floods.py): a script stuck in a loop shows in the log, with how many calls
        were refused, without one event per refused call."""
        user = getattr(request, "user", None)
        signed_in = user is not None and bool(getattr(user, "is_authenticated", False))
        match = getattr(request._request, "resolver_match", None)
        retry_after = math.ceil(self.wait())
        floods.rate_limited_record(
            endpoint="api",
            source=f"{self.scope}:{key}",
            ip_address=client_ip(request._request),
            actor=user if signed_in else None,
            actor_label="" if signed_in else "anonymous",
            record=lambda flood: audit.record(
                action=Action.RATELIMIT_API,
                outcome=Outcome.DENIED,
                actor=user if signed_in else None,
                actor_label="" if signed_in else "anonymous",
                details={
                    "limit": self.scope,
                    "rate": str(self.rate),
                    "retry_after": retry_after,
                    # The route, not the path (docs/audit.md, "Refused input").
                    "view": match.view_name if match is not None else "",
                    "method": request.method or "",
                    **flood,
                },
            ),
        )

    def wait(self) -> float:
        """Seconds until a request is let through (``Retry-After``, rounded up by DRF),
        if none is sent meanwhile: refused requests count too."""
        return max(1.0, float(getattr(self, "_retry_after", 1.0)))


class AnonThrottle(ExactRateThrottleMixin, AnonRateThrottle):
    pass


class UserThrottle(ExactRateThrottleMixin, UserRateThrottle):
    pass
