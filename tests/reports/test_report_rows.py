"""The packed fetch: each column as one value, the same as fetching rows."""

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from scenario import NOW, SINCE, TZ, march, world
from sqlalchemy import update

from seatmeter.server.db import Database
from seatmeter.server.reports import rows
from seatmeter.server.reports.parameters import Filters, ReportQuery
from seatmeter.server.sessions.models import UsageSession

__all__ = ["world"]
TEXT = ("username", "hostname", "application", "unmapped_username")
IDS = ("product_pool_id", "cloud_user_id")


def window() -> ReportQuery:
    since = datetime.fromisoformat(SINCE)
    return ReportQuery(since, NOW, NOW, ZoneInfo(TZ), Filters(), "json", None, None)


def fetched(database: Database) -> rows.Rows:
    with database.reading() as session:
        return rows.fetch(session, window(), TEXT, IDS)


def same(first: rows.Rows, second: rows.Rows) -> None:
    assert len(first) > 0
    order, other = np.lexsort((first.end, first.start)), np.lexsort((second.end, second.start))
    assert first.start[order].tolist() == second.start[other].tolist()
    assert first.end[order].tolist() == second.end[other].tolist()
    for name in TEXT:
        assert first.labels[name].tolist() == second.labels[name].tolist()
        assert first.codes[name][order].tolist() == second.codes[name][other].tolist()
    for name in IDS:
        assert first.ids[name][order].tolist() == second.ids[name][other].tolist()


def test_packed_columns_match_the_rows(
    database: Database, world: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    packed = fetched(database)
    monkeypatch.setattr(rows, "_packed", lambda *args: None)
    unpacked = fetched(database)

    same(packed, unpacked)
    # Sessions with and without a cloud user: both sides of the sparse text.
    unmapped = packed.labels["unmapped_username"][packed.codes["unmapped_username"]]
    assert "" in unmapped.tolist() and {*unmapped.tolist()} - {""}


def test_a_sparse_text_needs_the_id_that_places_it(database: Database) -> None:
    with database.reading() as session, pytest.raises(ValueError, match="cloud_user_id"):
        rows.fetch(session, window(), ("unmapped_username",), ("product_pool_id",))


def test_a_name_holding_the_separator_falls_back_to_rows(
    database: Database, world: dict[str, int]
) -> None:
    before = fetched(database)
    odd = f"CORP\\al{rows.UNIT}ice"
    with database.writing() as session:
        renamed = update(UsageSession).where(UsageSession.username == "CORP\\alice")
        session.execute(renamed.values(username=odd))
    after = fetched(database)

    assert odd in after.labels["username"].tolist()
    assert len(after) == len(before)
    assert sorted(after.start.tolist()) == sorted(before.start.tolist())


@pytest.mark.parametrize("packed", [True, False], ids=["packed", "rows"])
def test_a_session_of_no_length_is_left_out_of_every_column(
    database: Database, world: dict[str, int], monkeypatch: pytest.MonkeyPatch, packed: bool
) -> None:
    if not packed:
        monkeypatch.setattr(rows, "_packed", lambda *args: None)
    before = fetched(database)
    # Started and stopped in the same second, inside the report: fetched,
    # then dropped with its texts and ids, so the columns stay parallel.
    with database.writing() as session:
        session.add(
            UsageSession(
                external_id="blink",
                hostname="H1",
                username="CORP\\alice",
                application="Revit",
                version="2026",
                source="import",
                started_at=march((29, 9)),
                ended_at=march((29, 9)),
                product_pool_id=world["ACAD"],
                cloud_user_id=world["erin"],
            )
        )
    after = fetched(database)

    assert len(after) == len(before)
    same(after, before)


def test_a_constant_written_into_the_statement_cannot_hold_a_quote() -> None:
    assert str(rows.constant("2026-03-30 12:00:00.000000")) == "'2026-03-30 12:00:00.000000'"
    assert str(rows.constant(-1)) == "-1"
    with pytest.raises(ValueError, match="quote"):
        rows.constant("O'Brien")
