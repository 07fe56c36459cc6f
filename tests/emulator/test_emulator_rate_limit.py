"""The allowance arithmetic alone, on a clock the test moves."""

from seatmeter.emulator.rate_limit import RateLimiter


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_windows_follow_the_utc_clock_and_refusals_do_not_count() -> None:
    # 1_000_000_080 is a whole minute (a multiple of 60) since the epoch.
    clock = Clock(1_000_000_079.5)
    limiter = RateLimiter(limit=2, window_s=60, clock=clock)
    first, second, refused = (limiter.take("team:1") for _ in range(3))
    assert (first.allowed, second.allowed, refused.allowed) == (True, True, False)
    assert refused.reset == 1_000_000_080
    assert refused.retry_after == 1  # never 0, even half a second before
    assert limiter.take("team:2").allowed  # each team has its own

    clock.now = 1_000_000_080.0
    fresh = limiter.take("team:1")
    assert fresh.allowed and fresh.remaining == 1
    assert fresh.reset == 1_000_000_140
    assert fresh.retry_after == 60


def test_refused_calls_leave_the_count_alone() -> None:
    limiter = RateLimiter(limit=1, window_s=10, clock=Clock(5.0))
    limiter.take("k")
    for _ in range(5):
        assert not limiter.take("k").allowed
    assert limiter.take("k").remaining == 0
