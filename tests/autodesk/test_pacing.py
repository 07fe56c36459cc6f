"""The pacer on a fake clock: never more than the allowance per window."""

import itertools
import math

from seatmeter.server.autodesk.pacing import Pacer


class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def paced(limit: int, window_s: float, clock: FakeClock) -> Pacer:
    return Pacer(limit, window_s, clock=clock.time, sleep=clock.sleep)


def calls_per_window(moments: list[float], window_s: float) -> dict[int, int]:
    counts: dict[int, int] = {}
    for moment in moments:
        window = math.floor(moment / window_s)
        counts[window] = counts.get(window, 0) + 1
    return counts


def test_a_burst_never_puts_more_than_the_limit_in_a_window() -> None:
    clock = FakeClock()
    pacer = paced(60, 60, clock)
    moments = []

    for _ in range(300):
        pacer.wait_turn()
        moments.append(clock.now)

    assert max(calls_per_window(moments, 60).values()) <= 60
    gaps = [b - a for a, b in itertools.pairwise(moments)]
    assert min(gaps) >= 1.0 - 1e-9


def test_an_idle_spell_does_not_let_a_61st_call_into_the_minute() -> None:
    # Calls at one a second from :00.5 would put 61 into the window when
    # the first and last both fall in it; the window counter stops that.
    clock = FakeClock(start=1_800_000_000.5 - 1_800_000_000.5 % 60 + 0.5)
    pacer = Pacer(60, 60, clock=clock.time, sleep=clock.sleep)
    pacer.interval = 0.9  # faster than window/limit, as a retry storm might be
    moments = []

    for _ in range(130):
        pacer.wait_turn()
        moments.append(clock.now)

    assert max(calls_per_window(moments, 60).values()) == 60


def test_no_call_in_the_last_moment_of_a_window() -> None:
    clock = FakeClock()
    pacer = paced(10, 3, clock)
    moments = []

    for _ in range(50):
        pacer.wait_turn()
        moments.append(clock.now)

    assert all((m % 3) < 3 - pacer.guard for m in moments)


def test_remaining_zero_holds_until_reset_as_epoch_or_seconds() -> None:
    clock = FakeClock()
    pacer = paced(1000, 60, clock)
    pacer.wait_turn()

    pacer.observe({"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(clock.now + 7)})
    pacer.wait_turn()
    after_epoch = clock.now
    pacer.observe({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "5"})
    pacer.wait_turn()

    assert after_epoch >= 1_800_000_007
    assert clock.now >= after_epoch + 5


def test_remaining_above_zero_and_retry_after_zero_do_not_wait() -> None:
    clock = FakeClock()
    pacer = paced(1000, 60, clock)
    pacer.wait_turn()
    start = clock.now

    pacer.observe({"x-ratelimit-remaining": "3", "x-ratelimit-reset": "50"})
    pacer.hold_for(0)
    pacer.wait_turn()

    assert clock.now - start <= pacer.interval + 1e-9


def test_retry_after_holds_the_next_call() -> None:
    clock = FakeClock()
    pacer = paced(1000, 60, clock)
    pacer.wait_turn()
    start = clock.now

    pacer.hold_for(4)
    pacer.wait_turn()

    assert clock.now >= start + 4
