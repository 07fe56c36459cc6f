"""Autodesk's allowances: so many calls per clock window per team.

The window is aligned to the UTC clock, as Autodesk's minute is
(10:15:00 to 10:15:59): window number = floor(epoch / window seconds).
Each team has its own counter, shared by every client and admin; List
Teams counts against a separate counter per client_id.

A call refused with 429 does NOT count against the allowance. Autodesk's
docs do not say; not counting means a client that waits for Retry-After
always gets its full allowance in the next window, and a client that
hammers gains nothing either way.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Allowance:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # epoch seconds when the window ends
    retry_after: int  # whole seconds to the next window, at least 1

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


class RateLimiter:
    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.time) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._counts: dict[str, tuple[int, int]] = {}

    def take(self, key: str) -> Allowance:
        """Count one call for `key` if the window still allows it."""
        now = self._clock()
        window = math.floor(now / self.window_s)
        reset_at = (window + 1) * self.window_s
        seen_window, used = self._counts.get(key, (window, 0))
        if seen_window != window:
            used = 0
        allowed = used < self.limit
        if allowed:
            used += 1
        self._counts[key] = (window, used)
        return Allowance(
            allowed=allowed,
            limit=self.limit,
            remaining=max(self.limit - used, 0),
            reset=math.ceil(reset_at),
            retry_after=max(1, math.ceil(reset_at - now)),
        )

    def reconfigure(self, limit: int, window_s: float) -> None:
        # Counts from another window length mean nothing; start afresh.
        self.limit, self.window_s = limit, window_s
        self._counts.clear()
