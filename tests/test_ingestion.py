"""Session events: stored exactly once, whole batches or nothing, and
agent clocks corrected by their measured offset."""

from datetime import UTC, datetime, timedelta

from conftest import bearer, enrol
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import func, select

from seatmeter.server.sessions.models import SessionEvent, UsageSession

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def event(number: int, session_id: str, kind: str = "start", **fields) -> dict:
    body = {
        "event_id": f"e-{number}",
        "session_id": session_id,
        "kind": kind,
        "hostname": "CAD-01",
        "username": "CORP\\jdoe",
        "application": "Civil 3D",
        "version": "2024",
        "source": "process",
        "started_at": T0.isoformat(),
    }
    if kind == "stop":
        body["ended_at"] = (T0 + timedelta(hours=1)).isoformat()
    return {**body, **fields}


def send(client, credential: str, events: list[dict]):
    return client.post(
        "/api/agent/v1/session-events", json={"events": events}, headers=bearer(credential)
    )


def counts(database) -> tuple[int, int]:
    with database.reading() as session:
        return (
            session.scalar(select(func.count()).select_from(SessionEvent)),
            session.scalar(select(func.count()).select_from(UsageSession)),
        )


def test_a_batch_resent_ten_times_is_stored_once(admin, tokens, database):
    credential = enrol(admin, tokens["agent"], "agent-1", "CAD-01")
    batch = [
        event(1, "s-1"),
        event(2, "s-2", application="Revit", version="2025"),
        event(3, "s-1", kind="stop"),
    ]

    answers = [send(admin, credential, batch).json() for _ in range(10)]

    assert answers[0] == {"accepted": 3, "duplicates": 0}
    assert all(answer == {"accepted": 0, "duplicates": 3} for answer in answers[1:])
    assert counts(database) == (3, 2)
    sessions = admin.get("/api/v1/sessions").json()["items"]
    by_application = {item["application"]: item for item in sessions}
    assert by_application["Civil 3D"]["duration_s"] == 3600
    assert by_application["Revit"]["ended_at"] is None


def test_a_retry_with_new_events_stores_only_the_new_ones(admin, tokens, database):
    credential = enrol(admin, tokens["agent"], "agent-1", "CAD-01")
    send(admin, credential, [event(1, "s-1")])

    answer = send(admin, credential, [event(1, "s-1"), event(2, "s-1", kind="stop")])

    assert answer.json() == {"accepted": 1, "duplicates": 1}
    assert counts(database) == (2, 1)
    assert admin.get("/api/v1/sessions?active=false").json()["items"][0]["duration_s"] == 3600


def test_one_malformed_event_rejects_the_batch_and_stores_nothing(admin, tokens, database):
    credential = enrol(admin, tokens["agent"], "agent-1", "CAD-01")
    batch = [event(1, "s-1"), event(2, "s-2", started_at="yesterday"), event(3, "s-3")]

    answer = send(admin, credential, batch)

    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_event"
    assert "event 1 (event_id 'e-2')" in error["message"]
    assert "started_at" in error["message"]
    assert error["details"][0]["index"] == 1
    assert counts(database) == (0, 0)


def test_stop_before_start_in_a_later_batch_still_makes_one_session(admin, tokens, database):
    credential = enrol(admin, tokens["agent"], "agent-1", "CAD-01")

    send(admin, credential, [event(2, "s-1", kind="stop")])
    send(admin, credential, [event(1, "s-1")])

    assert counts(database) == (2, 1)
    assert admin.get("/api/v1/sessions").json()["items"][0]["duration_s"] == 3600


def test_event_ids_are_per_agent(admin, tokens, database):
    first = enrol(admin, tokens["agent"], "agent-1", "CAD-01")
    second = enrol(admin, tokens["agent"], "agent-2", "CAD-02")

    send(admin, first, [event(1, "s-1")])
    answer = send(admin, second, [event(1, "s-1", hostname="CAD-02")])

    assert answer.json()["accepted"] == 1
    assert counts(database) == (2, 2)


def test_times_are_corrected_by_the_agents_clock_offset(admin, tokens):
    credential = enrol(admin, tokens["agent"], "agent-1", "CAD-01")
    # The agent's clock runs two hours behind the server's.
    slow_clock = datetime.now(UTC) - timedelta(hours=2)
    admin.post(
        "/api/agent/v1/check-in",
        json={"clock": slow_clock.isoformat()},
        headers=bearer(credential),
    )

    send(admin, credential, [event(1, "s-1"), event(2, "s-1", kind="stop")])

    stored = admin.get("/api/v1/sessions").json()["items"][0]
    started = datetime.fromisoformat(stored["started_at"])
    assert abs(started - (T0 + timedelta(hours=2))) < timedelta(seconds=5)
    assert stored["duration_s"] == 3600
    offset = admin.get("/api/v1/agents/agent-1").json()["clock_offset_s"]
    assert abs(offset - 7200) < 5


def test_a_small_offset_is_taken_for_network_delay(admin, tokens):
    credential = enrol(admin, tokens["agent"], "agent-1", "CAD-01")
    admin.post(
        "/api/agent/v1/check-in",
        json={"clock": (datetime.now(UTC) - timedelta(seconds=1)).isoformat()},
        headers=bearer(credential),
    )

    send(admin, credential, [event(1, "s-1")])

    stored = admin.get("/api/v1/sessions").json()["items"][0]
    assert datetime.fromisoformat(stored["started_at"]) == T0


def test_session_filters_and_paging(admin, tokens):
    credential = enrol(admin, tokens["agent"], "agent-1", "CAD-01")
    batch = []
    for number in range(5):
        start = T0 + timedelta(hours=number)
        batch.append(event(number, f"s-{number}", started_at=start.isoformat()))
    batch.append(event(9, "s-0", kind="stop", ended_at=(T0 + timedelta(minutes=30)).isoformat()))
    send(admin, credential, batch)

    first = admin.get("/api/v1/sessions?limit=2").json()
    second = admin.get(f"/api/v1/sessions?limit=2&cursor={first['next']}").json()
    third = admin.get(f"/api/v1/sessions?limit=2&cursor={second['next']}").json()

    pages = [first, second, third]
    seen = [datetime.fromisoformat(i["started_at"]) for p in pages for i in p["items"]]
    assert seen == sorted(seen, reverse=True) and len(seen) == 5
    assert third["next"] is None
    assert len(admin.get("/api/v1/sessions?active=true").json()["items"]) == 4
    window = f"since={(T0 + timedelta(hours=2, minutes=30)).isoformat()}"
    window += f"&until={(T0 + timedelta(hours=3, minutes=30)).isoformat()}"
    window = window.replace("+", "%2B")
    running = admin.get(f"/api/v1/sessions?{window}").json()["items"]
    # Open sessions run on; the one stopped at 09:30 is outside the window.
    hours = {item["started_at"][11:13] for item in running}
    assert hours == {"10", "11", "12"}
    assert admin.get("/api/v1/sessions?hostname=cad-01").json()["items"]
    assert not admin.get("/api/v1/sessions?username=nobody").json()["items"]


def test_stops_of_sessions_from_earlier_batches_close_each_of_them(admin, tokens):
    credential = enrol(admin, tokens["agent"], "agent-1", "CAD-01")
    send(admin, credential, [event(n, f"s-{n}") for n in range(3)])

    later = T0 + timedelta(minutes=20)
    stops = [
        event(10 + n, f"s-{n}", kind="stop", ended_at=(later + timedelta(minutes=n)).isoformat())
        for n in range(2)
    ]
    answer = send(admin, credential, stops)

    assert answer.json() == {"accepted": 2, "duplicates": 0}
    items = admin.get("/api/v1/sessions?active=false").json()["items"]
    assert sorted(item["duration_s"] for item in items) == [1200, 1260]
    assert len(admin.get("/api/v1/sessions?active=true").json()["items"]) == 1


def test_a_batch_costs_the_same_statements_whatever_its_size(admin, tokens, database):
    credential = enrol(admin, tokens["agent"], "agent-1", "CAD-01")
    # Sessions started before, for the batches' stops of known sessions.
    send(admin, credential, [event(1000 + n, f"old-{n}") for n in range(51)])

    def statements_for(batch: list[dict]) -> int:
        seen: list[str] = []

        def count(_conn, _cursor, statement, *_args) -> None:
            seen.append(statement)

        sqlalchemy_event.listen(database.engine, "before_cursor_execute", count)
        try:
            assert send(admin, credential, batch).status_code == 200
        finally:
            sqlalchemy_event.remove(database.engine, "before_cursor_execute", count)
        return len(seen)

    # New sessions started and stopped, and known sessions stopped.
    small = [event(1, "s-1"), event(2, "s-1", kind="stop"), event(3, "old-0", kind="stop")]
    large = [event(100 + n, f"big-{n // 2}", ("start", "stop")[n % 2]) for n in range(100)]
    large += [event(200 + n, f"old-{n + 1}", kind="stop") for n in range(50)]

    assert statements_for(small) == statements_for(large)
