"""The sweep's unions and levels, by hand, both ways it sorts events.

Whole-microsecond times sort as one packed integer per event; finer
times (or too wide a span) sort by three keys. Both must give the
figures worked out here.
"""

import numpy as np
import pytest

from seatmeter.server.reports import sweep
from seatmeter.server.reports.sweep import Intervals, combine, dense, levels, union

# A moment in 2023, and a shift that makes times finer than a microsecond.
T0 = 1_700_000_000.0
WHOLE, FINE = 0.0, 2.5e-7


@pytest.mark.parametrize("shift", [WHOLE, FINE])
def test_union_merges_overlapping_and_touching_intervals(shift: float) -> None:
    group = np.array([0, 0, 0, 1, 1, 0])
    start = T0 + shift + np.array([0.0, 5, 20, 1, 3, 40])
    end = T0 + shift + np.array([10.0, 20, 30, 2, 4, 41.5])
    merged = union(group, start, end)
    assert merged.group.tolist() == [0, 0, 1, 1]
    assert (merged.start - T0 - shift).round(6).tolist() == [0, 40, 1, 3]
    assert (merged.end - T0 - shift).round(6).tolist() == [30, 41.5, 2, 4]


@pytest.mark.parametrize("shift", [WHOLE, FINE])
def test_levels_cut_at_edges_with_ends_before_starts(shift: float) -> None:
    # Group 0: two overlapping, then one starting as another ends.
    intervals = Intervals(
        group=np.array([0, 0, 0, 1]),
        start=T0 + shift + np.array([0.0, 5, 20, 2]),
        end=T0 + shift + np.array([10.0, 20, 25, 3]),
    )
    edges = T0 + shift + np.array([0.0, 8, 30])
    found = levels(intervals, edges, 2)
    stretches = list(
        zip(
            found.group.tolist(),
            found.period.tolist(),
            (found.start - T0 - shift).round(6).tolist(),
            found.seconds.round(6).tolist(),
            found.level.tolist(),
            strict=True,
        )
    )
    assert stretches == [
        (0, 0, 0, 5, 1),
        (0, 0, 5, 3, 2),
        (0, 1, 8, 2, 2),
        (0, 1, 10, 10, 1),
        (0, 1, 20, 5, 1),
        (0, 1, 25, 5, 0),
        (1, 0, 0, 2, 0),
        (1, 0, 2, 1, 1),
        (1, 0, 3, 5, 0),
        (1, 1, 8, 22, 0),
    ]


def test_a_span_too_wide_to_pack_still_merges() -> None:
    # Ten thousand groups over three thousand years: the keys would
    # overflow, so the three-key sort answers.
    group = np.array([9_999, 9_999, 0])
    start = np.array([0.0, 5.0, 0.0])
    end = np.array([10.0, 9.5e10, 1.0])
    merged = union(group, start, end)
    assert merged.group.tolist() == [0, 9_999]
    assert merged.end.tolist() == [1.0, 9.5e10]


def test_an_interval_inside_a_long_one_does_not_end_it() -> None:
    # The second ends before the first: the merged one runs to the first's end.
    group = np.array([3, 3, 3, 5])
    start = T0 + np.array([0.0, 1, 50, 2])
    end = T0 + np.array([60.0, 2, 55, 3])
    merged = union(group, start, end)
    assert merged.group.tolist() == [3, 5]
    assert (merged.start - T0).tolist() == [0, 2]
    assert (merged.end - T0).tolist() == [60, 3]


def test_merging_by_sorted_starts_agrees_with_the_event_sweep() -> None:
    rng = np.random.default_rng(7)
    group = rng.integers(0, 40, 5_000)
    start = T0 + rng.integers(0, 100_000, 5_000).astype(np.float64)
    end = start + rng.integers(0, 3_000, 5_000)
    by_starts = union(group, start, end)
    by_events = sweep._union_by_events(group, start, end)
    assert 0 < len(by_starts.group) < 5_000
    for name in ("group", "start", "end"):
        assert getattr(by_starts, name).tolist() == getattr(by_events, name).tolist()


@pytest.mark.parametrize(
    "values",
    [
        [5, -3, 5, 0, 12, -3],  # a narrow range: marked in a table
        [7, 10**15, -(10**12), 7, 3],  # too wide for a table: numpy's unique
        [],
    ],
)
def test_dense_codes_are_numpys_unique(values: list[int]) -> None:
    array = np.array(values, dtype=np.int64)
    distinct, inverse = dense(array)
    expected, expected_inverse = np.unique(array, return_inverse=True)

    assert distinct.tolist() == expected.tolist()
    assert inverse.tolist() == expected_inverse.reshape(-1).tolist()
    assert distinct[inverse].tolist() == array.tolist()


def test_combine_numbers_each_distinct_tuple_in_order() -> None:
    users = np.array([2, 0, 2, 1, 0])
    applications = np.array([1, 1, 1, 0, 3])

    # (0, 1) (0, 3) (1, 0) (2, 1), in order: 0, 1, 2, 3.
    assert combine(users, applications).tolist() == [3, 0, 3, 2, 1]
