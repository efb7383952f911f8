"""The REST API's throttles on exact counters (core/ratelimit.py).

DRF's own throttles keep a list of timestamps in the cache (read, append, write back):
on the embedded file cache parallel requests overwrite each other's hits and other keys
evict them. These count one atomic hit per request in a sliding window instead.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rest_framework.request import Request
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle

if TYPE_CHECKING:  # DRF imports this module while it builds APIView
    from rest_framework.views import APIView

from core.ratelimit import rate_limit_hit


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
        limited = rate_limit_hit(
            group=f"api.{self.scope}",
            key=key,
            rate=f"{num_requests}/{duration}s",
            fail_open=self.fail_open,
        )
        return not limited

    def wait(self) -> float:
        """Seconds until one more request is likely let through (``Retry-After``): the
        rest of this window, then the share of the next one after which this window's
        hits (the limit, at least, once refused) weigh less than the limit less one."""
        duration = float(getattr(self, "duration"))  # noqa: B009
        limit = float(getattr(self, "num_requests"))  # noqa: B009
        return duration - time.time() % duration + duration / limit


class AnonThrottle(ExactRateThrottleMixin, AnonRateThrottle):
    pass


class UserThrottle(ExactRateThrottleMixin, UserRateThrottle):
    pass
