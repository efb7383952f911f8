"""The REST API's throttles on exact counters (core/ratelimit.py).

DRF's own throttles keep a list of timestamps in the cache (read, append, write back):
on the embedded file cache parallel requests overwrite each other's hits and other keys
evict them. These count one atomic hit per request over any window-length span instead,
and ``Retry-After`` is the exact wait (core/ratelimit.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

if TYPE_CHECKING:  # DRF imports this module while it builds APIView
    from rest_framework.views import APIView

from core.ratelimit import rate_limit_check


class ExactRateThrottleMixin(SimpleRateThrottle):
    # The general per-address and per-person limits spread load; they need no counter to
    # keep anything safe, so the API keeps serving when the counters are unreachable.
    fail_open = True

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
        return not verdict.limited

    def wait(self) -> float:
        """Seconds until a request is let through (``Retry-After``, rounded up by DRF),
        if none is sent meanwhile: refused requests count too."""
        return max(1.0, float(getattr(self, "_retry_after", 1.0)))


class AnonThrottle(ExactRateThrottleMixin, AnonRateThrottle):
    pass


class UserThrottle(ExactRateThrottleMixin, UserRateThrottle):
    pass
