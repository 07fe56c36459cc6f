"""Pacing Team Admin calls under Autodesk's per-team allowance.

Autodesk allows `limit` calls per team in each clock-aligned window
(60 per UTC minute), shared by every app and admin of the team. Pacing
at exactly window/limit alone is not enough: a burst after an idle spell
could still put limit+1 calls into one window, so the pacer also counts
calls per window (window number = floor(epoch / window_s)). It obeys
Autodesk's own signals on top: `X-RateLimit-Remaining: 0` holds calls
until `X-RateLimit-Reset`, and a 429 or 503 holds them for `Retry-After`.
"""

import math
import threading
import time
from collections.abc import Callable, Mapping

# Calls this close to a window's end may be counted by Autodesk in the
# next window, so they wait for it instead (loopback latency is far less).
BOUNDARY_GUARD_S = 0.25
# Past this, X-RateLimit-Reset is an epoch time, not seconds from now.
EPOCH_THRESHOLD = 1e9
# A hair past the window's start, so the clocks agree which window it is.
EPSILON_S = 0.01


class Pacer:
    """The turn-taking for one team; thread-safe, calls go one at a time."""

    def __init__(
        self,
        limit: int,
        window_s: float,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.interval = window_s / limit
        self.guard = min(BOUNDARY_GUARD_S, self.interval / 2)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._last = -math.inf
        self._window = -1
        self._count = 0
        self._held_until = 0.0

    def wait_turn(self) -> None:
        """Block until one more call fits, then count it."""
        with self._lock:
            now = self._clock()
            while (delay := self._delay(now)) > 0:
                self._sleep(delay)
                now = self._clock()
            window = self._window_of(now)
            if window != self._window:
                self._window, self._count = window, 0
            self._count += 1
            self._last = now

    def hold_for(self, seconds: float) -> None:
        """No call before `seconds` from now (Retry-After; 0 is allowed)."""
        self._hold(self._clock() + max(seconds, 0.0))

    def observe(self, headers: Mapping[str, str]) -> None:
        """Follow Autodesk's rate-limit headers on a response."""
        remaining = _number(headers.get("x-ratelimit-remaining"))
        reset = _number(headers.get("x-ratelimit-reset"))
        if remaining is None or remaining > 0 or reset is None:
            return
        # The format of Reset is not documented: take large values as an
        # epoch time and small ones as seconds from now.
        self._hold(reset if reset > EPOCH_THRESHOLD else self._clock() + reset)

    def _hold(self, moment: float) -> None:
        with self._lock:
            self._held_until = max(self._held_until, moment)

    def _delay(self, now: float) -> float:
        window = self._window_of(now)
        until_next_window = (window + 1) * self.window_s - now + EPSILON_S
        waits = [self._held_until - now, self._last + self.interval - now]
        used = self._count if window == self._window else 0
        if used >= self.limit or until_next_window - EPSILON_S < self.guard:
            waits.append(until_next_window)
        return max(waits)

    def _window_of(self, moment: float) -> int:
        return math.floor(moment / self.window_s)


_pacers: dict[tuple[str, str], Pacer] = {}
_pacers_lock = threading.Lock()


def pacer_for(base_url: str, team_id: str, limit: int, window_s: float) -> Pacer:
    """The one pacer of this process for a team, so that a sync and a
    seat reclaim on the same team share its allowance."""
    key = (base_url, team_id)
    with _pacers_lock:
        pacer = _pacers.get(key)
        if pacer is None or (pacer.limit, pacer.window_s) != (limit, window_s):
            pacer = _pacers[key] = Pacer(limit, window_s)
        return pacer


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None
