"""Session retention on both databases: what goes, what stays, once a day."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from threading import Barrier, Thread

from conftest import TEST_SECRET_KEY, make_settings
from sqlalchemy import func, select

from seatmeter.server.agents.models import Agent
from seatmeter.server.autodesk.scheduler import Scheduler
from seatmeter.server.db import Database, utcnow
from seatmeter.server.secrets import SecretBox
from seatmeter.server.sessions import retention
from seatmeter.server.sessions.models import SessionEvent, UsageSession

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def add_session(database: Database, number: int, ended: datetime | None) -> None:
    started = (ended or NOW) - timedelta(hours=1)
    with database.writing() as session:
        if session.get(Agent, "a1") is None:
            session.add(Agent(id="a1", hostname="ws1", os="linux", agent_version="1"))
            session.flush()
        usage = UsageSession(
            agent_id="a1",
            agent_session_id=f"s{number}",
            hostname="ws1",
            username="CORP\\jdoe",
            application="Revit",
            version="2025",
            source="process",
            started_at=started,
            ended_at=ended,
        )
        session.add(usage)
        session.flush()
        for kind, at in (("start", started), ("stop", ended)):
            if at is not None:
                session.add(
                    SessionEvent(
                        agent_id="a1",
                        event_id=f"e{number}{kind}",
                        session_id=usage.id,
                        kind=kind,
                        at=at,
                    )
                )


def left(database: Database) -> tuple[list[str], int]:
    with database.reading() as session:
        ids = session.scalars(select(UsageSession.agent_session_id).order_by(UsageSession.id))
        events = session.scalar(select(func.count()).select_from(SessionEvent))
    return [str(i) for i in ids], int(events or 0)


def test_sessions_ended_before_the_cutoff_go_with_their_events(database: Database) -> None:
    add_session(database, 1, NOW - timedelta(days=31))
    add_session(database, 2, NOW - timedelta(days=29))
    add_session(database, 3, None)  # open, started long ago or not: stays
    add_session(database, 4, NOW - timedelta(days=400))

    assert retention.run_if_due(database, 30, NOW) == 2
    assert left(database) == (["s2", "s3"], 3)


def test_zero_keeps_everything(database: Database) -> None:
    add_session(database, 1, NOW - timedelta(days=4000))
    assert retention.run_if_due(database, 0, NOW) == 0
    assert left(database) == (["s1"], 2)


def test_at_most_once_a_day(database: Database) -> None:
    add_session(database, 1, NOW - timedelta(days=40))
    assert retention.run_if_due(database, 30, NOW) == 1
    add_session(database, 2, NOW - timedelta(days=40))

    later = NOW + timedelta(hours=23)
    assert retention.run_if_due(database, 30, later) == 0
    assert left(database)[0] == ["s2"]
    assert retention.run_if_due(database, 30, NOW + timedelta(days=1)) == 1
    assert left(database) == ([], 0)


def test_in_bounded_batches(database: Database) -> None:
    for number in range(7):
        add_session(database, number, NOW - timedelta(days=40))
    assert retention.delete_ended_before(database, NOW, batch=3) == 7
    assert left(database) == ([], 0)


def test_one_process_wins_the_day(database: Database) -> None:
    """Several schedulers at once: exactly one claims the run."""
    gate = Barrier(4)
    won: list[bool] = []

    def contender() -> None:
        gate.wait()
        won.append(retention.claim(database, NOW))

    threads = [Thread(target=contender) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == [False, False, False, True]


def test_the_scheduler_runs_it_when_the_setting_asks(
    database: Database, database_url: str, tmp_path: Path
) -> None:
    now = utcnow()
    add_session(database, 1, now - timedelta(days=31))
    add_session(database, 2, now - timedelta(days=1))
    off = Scheduler(
        database, SecretBox(TEST_SECRET_KEY.encode()), make_settings(database_url, tmp_path)
    )
    off.tick()
    assert left(database)[0] == ["s1", "s2"]

    settings = make_settings(database_url, tmp_path, session_retention_days="30")
    Scheduler(database, SecretBox(TEST_SECRET_KEY.encode()), settings).tick()
    assert left(database)[0] == ["s2"]
