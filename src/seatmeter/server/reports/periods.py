"""Report periods: hours, days, weeks or months of the report's time zone.

The edges are made here with zoneinfo, a few hundred at most, and handed
to the arithmetic as UTC epoch seconds. That is what makes a day across a
daylight-saving change 23 or 25 hours long, identically on SQLite and
PostgreSQL, neither of which is asked about time zones at all.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from seatmeter.server.reports.parameters import bad_parameter

# An hourly report over a year has 8,760; more would be no report.
MAX_PERIODS = 20_000


@dataclass(frozen=True)
class Periods:
    granularity: str
    # Epoch seconds, one more than there are periods; the first is the
    # report's since and the last its until, wherever they fall.
    edges: np.ndarray
    # Each period's nominal start in the report's time zone.
    starts: list[datetime]

    def __len__(self) -> int:
        return len(self.starts)

    def label(self, index: int) -> date | datetime:
        """A period as a date (days and longer) or a local time (hours)."""
        start = self.starts[index]
        return start if self.granularity == "hour" else start.date()


def periods(since: datetime, until: datetime, tz: ZoneInfo, granularity: str) -> Periods:
    if granularity == "all":
        return Periods(granularity, _epochs([since, until]), [since.astimezone(tz)])
    start = _floor(since.astimezone(tz), granularity)
    starts = [start]
    while True:
        following = _next(starts[-1], granularity)
        if following >= until:
            break
        starts.append(following)
        if len(starts) > MAX_PERIODS:
            raise bad_parameter(
                "granularity",
                granularity,
                f"makes over {MAX_PERIODS} periods; choose a coarser one or a shorter range",
            )
    edges = [since, *starts[1:], until]
    return Periods(granularity, _epochs(edges), starts)


def day_edges(since: datetime, until: datetime, tz: ZoneInfo) -> np.ndarray:
    """Local midnights inside the report, with its bounds, as epochs."""
    return periods(since, until, tz, "day").edges


def _floor(local: datetime, granularity: str) -> datetime:
    if granularity == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    day = local.date()
    if granularity == "week":
        day -= timedelta(days=day.weekday())
    elif granularity == "month":
        day = day.replace(day=1)
    return _midnight(day, local.tzinfo)


def _next(start: datetime, granularity: str) -> datetime:
    tz = start.tzinfo
    if granularity == "hour":
        # Whole hours of real time: a fall-back night has two 01:00s.
        return (start.astimezone(UTC) + timedelta(hours=1)).astimezone(tz)
    day = start.date()
    if granularity == "day":
        return _midnight(day + timedelta(days=1), tz)
    if granularity == "week":
        return _midnight(day + timedelta(days=7), tz)
    month = day.month % 12 + 1
    year = day.year + (day.month == 12)
    return _midnight(date(year, month, 1), tz)


def _midnight(day: date, tz: object) -> datetime:
    assert isinstance(tz, ZoneInfo)
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def _epochs(moments: list[datetime]) -> np.ndarray:
    return np.array([moment.timestamp() for moment in moments], dtype=np.float64)


def moment(epoch: float, tz: ZoneInfo) -> datetime:
    """An epoch from the arithmetic as a time in the report's zone."""
    return datetime.fromtimestamp(round(float(epoch), 6), tz)


def hours(seconds: float) -> float:
    return round(float(seconds) / 3600, 6)
