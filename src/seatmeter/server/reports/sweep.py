"""The arithmetic of use, as vectorised passes over whole columns.

Everything here is an event sweep: each interval becomes +1 at its start
and -1 at its end, the events are sorted by group then time, and a
cumulative sum gives, after each event, how many intervals cover it.
Every group's events sum to zero, so one cumulative sum over all groups
is right for each group without resetting. Intervals are half-open: one
that ends when another starts does not overlap it.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Intervals:
    group: np.ndarray
    start: np.ndarray
    end: np.ndarray


@dataclass(frozen=True)
class Levels:
    """Stretches of constant concurrency: `level` intervals over [start,
    start + seconds) in `group`, cut at the period edges given."""

    group: np.ndarray
    period: np.ndarray
    start: np.ndarray
    seconds: np.ndarray
    level: np.ndarray


def dense(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct integers, sorted, and each value's position among them:
    np.unique's answer. Where the values span a range not far beyond
    their count (codes, ids), marking them in a table of that range is
    eight times faster than numpy's sort or hash."""
    values = np.asarray(values, dtype=np.int64).reshape(-1)
    if len(values) == 0:
        return values, values
    lowest = int(values.min())
    span = int(values.max()) - lowest + 1
    if span > 8 * len(values) + 65_536:
        distinct, inverse = np.unique(values, return_inverse=True)
        return distinct, np.asarray(inverse, dtype=np.int64).reshape(-1)
    offsets = values - lowest
    present = np.zeros(span, dtype=bool)
    present[offsets] = True
    rank = np.cumsum(present, dtype=np.int64) - 1
    return np.flatnonzero(present) + lowest, rank[offsets]


def combine(*codes: np.ndarray) -> np.ndarray:
    """One dense integer code per distinct tuple of codes (each 0 or more)."""
    if len(codes[0]) == 0:
        return np.zeros(0, dtype=np.int64)
    combined = np.asarray(codes[0], dtype=np.int64)
    for code in codes[1:]:
        code = np.asarray(code, dtype=np.int64)
        # Dense after each step, so the product stays far below 2**63.
        _, combined = dense(combined * (int(code.max()) + 1) + code)
    if len(codes) == 1:
        _, combined = dense(combined)
    return combined


def union(group: np.ndarray, start: np.ndarray, end: np.ndarray) -> Intervals:
    """Overlapping and touching intervals of each group merged into one.

    In order of group and start, an interval opens a new merged one where
    it starts after every earlier one of its group has ended. Each group's
    times shifted past the group before's let one running maximum of the
    ends serve all groups: one sort of the starts, not of every event."""
    shifted = _shifted(group, start, end)
    if shifted is None:
        return _union_by_events(group, start, end)
    starts, ends, shift = shifted
    order = np.argsort(starts)
    starts, reach = starts[order], np.maximum.accumulate(ends[order])
    opens = np.ones(len(starts), dtype=bool)
    opens[1:] = starts[1:] > reach[:-1]
    first = np.flatnonzero(opens)
    last = np.append(first[1:], len(starts)) - 1
    # Group and shift only of the intervals that open a merged one.
    opener = order[first]
    back = shift[opener]
    return Intervals(group[opener], (starts[first] - back) / 1e6, (reach[last] - back) / 1e6)


def _shifted(
    group: np.ndarray, start: np.ndarray, end: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Starts and ends in whole microseconds, each shifted by its group
    times the span of all times, and the shift; None where the times are
    not whole microseconds or the shifted times would not fit."""
    group = np.asarray(group, dtype=np.int64)
    starts, ends = _micros(start), _micros(end)
    if starts is None or ends is None:
        return None
    lowest = min(int(starts.min()), int(ends.min()))
    span = max(int(starts.max()), int(ends.max())) - lowest + 1
    if (int(group.max()) + 1) * span >= KEY_LIMIT:
        return None
    shift = group * span - lowest
    return starts + shift, ends + shift, shift


def _union_by_events(group: np.ndarray, start: np.ndarray, end: np.ndarray) -> Intervals:
    """union() by an event sweep, for times that do not shift exactly."""
    # Starts before ends at the same moment, so that touching ones merge.
    groups, times, deltas = _sorted_events(group, start, end, np.zeros(0), 0, ends_first=False)
    level = np.cumsum(deltas)
    opens = (deltas == 1) & (level == 1)
    closes = level == 0
    return Intervals(groups[opens], times[opens], times[closes])


def levels(intervals: Intervals, edges: np.ndarray, groups: int) -> Levels:
    """Concurrency in each group, cut at `edges` (which bound everything)."""
    # Ends before starts at the same moment: touching is not overlapping.
    group, times, deltas = _sorted_events(
        intervals.group, intervals.start, intervals.end, edges, groups, ends_first=True
    )
    level = np.cumsum(deltas)
    following = np.append(times[1:], times[-1:] if len(times) else times)
    same_group = np.append(group[1:] == group[:-1], False) if len(group) else group
    seconds = np.where(same_group, following - times, 0.0)
    kept = seconds > 0
    period = np.searchsorted(edges, times[kept], side="right") - 1
    return Levels(group[kept], period, times[kept], seconds[kept], level[kept])


# Composite sort keys stay below this, far from int64's limit.
KEY_LIMIT = 2**62


def _sorted_events(
    group: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    edges: np.ndarray,
    groups: int,
    ends_first: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each interval as a +1 at its start and a -1 at its end, and each of
    `edges` in each of `groups` groups as a 0, sorted by group, time and
    then delta: ascending (ends first) or starts first.

    Times are whole microseconds (the database keeps no finer), so group,
    time and delta pack into one integer per event, and sorting plain
    integers is some twenty times faster than sorting by three keys.
    Where they do not pack (finer times, or too wide a span), it sorts by
    the three keys instead, with the same result.
    """
    edge_group = np.repeat(np.arange(groups, dtype=np.int64), len(edges))
    group = np.concatenate([group, group, edge_group]).astype(np.int64)
    times = np.concatenate([start, end, np.tile(edges, groups)])
    count = len(start)
    deltas = np.concatenate(
        [np.ones(count, np.int64), -np.ones(count, np.int64), np.zeros(len(edge_group), np.int64)]
    )
    # Rank of each delta in the order asked for: 0, 1 or 2.
    rank = deltas + 1 if ends_first else 1 - deltas
    packed = _packed_keys(group, times, rank)
    if packed is None:
        order = np.lexsort((rank, times, group))
        return group[order], times[order], deltas[order]
    keys, lowest, span = packed
    keys.sort()
    slot, rank = np.divmod(keys, 3)
    group, micros = np.divmod(slot, span)
    deltas = rank - 1 if ends_first else 1 - rank
    return group, (micros + lowest) / 1e6, deltas


def _packed_keys(
    group: np.ndarray, times: np.ndarray, rank: np.ndarray
) -> tuple[np.ndarray, int, int] | None:
    """(group * span + microseconds) * 3 + rank, with the lowest time and
    the span, or None where the times are not whole microseconds that
    give back exactly the same seconds, or the keys would not fit."""
    micros = _micros(times)
    if micros is None:
        return None
    lowest = int(micros.min())
    span = int(micros.max()) - lowest + 1
    if (int(group.max()) + 1) * span * 3 >= KEY_LIMIT:
        return None
    return (group * span + (micros - lowest)) * 3 + rank, lowest, span


def _micros(times: np.ndarray) -> np.ndarray | None:
    """Times as whole microseconds, or None where there are none or they
    do not give back exactly the same seconds."""
    if len(times) == 0:
        return None
    micros = np.round(times * 1e6).astype(np.int64)
    return micros if np.array_equal(micros / 1e6, times) else None


@dataclass(frozen=True)
class Pieces:
    """Intervals cut at period edges: `index` says which interval each
    piece came from."""

    index: np.ndarray
    period: np.ndarray
    start: np.ndarray
    end: np.ndarray


def split(start: np.ndarray, end: np.ndarray, edges: np.ndarray) -> Pieces:
    """Each interval cut into one piece per period it touches."""
    first = np.searchsorted(edges, start, side="right") - 1
    last = np.searchsorted(edges, end, side="left") - 1
    counts = np.maximum(last - first + 1, 0)
    index = np.repeat(np.arange(len(start)), counts)
    # The position of each piece within its interval: 0, 1, 2, ...
    offsets = np.arange(len(index)) - np.repeat(np.cumsum(counts) - counts, counts)
    period = first[index] + offsets
    piece_start = np.maximum(start[index], edges[period])
    piece_end = np.minimum(end[index], edges[period + 1])
    return Pieces(index, period, piece_start, piece_end)


def per_cell(cell: np.ndarray, cells: int, weights: np.ndarray | None = None) -> np.ndarray:
    """A sum (or a count, without weights) for each of `cells` cells."""
    return np.bincount(cell, weights=weights, minlength=cells)[:cells]


def distinct_per_cell(cell: np.ndarray, member: np.ndarray, cells: int) -> np.ndarray:
    """How many distinct members each cell has."""
    if len(cell) == 0:
        return np.zeros(cells, dtype=np.int64)
    width = int(member.max()) + 1
    pairs, _ = dense(np.asarray(cell, dtype=np.int64) * width + member)
    return np.bincount(pairs // width, minlength=cells)[:cells]


def max_per_cell(cell: np.ndarray, values: np.ndarray, cells: int, empty: float) -> np.ndarray:
    result = np.full(cells, empty, dtype=np.float64)
    np.maximum.at(result, cell, values)
    return result


def min_per_cell(cell: np.ndarray, values: np.ndarray, cells: int, empty: float) -> np.ndarray:
    result = np.full(cells, empty, dtype=np.float64)
    np.minimum.at(result, cell, values)
    return result
