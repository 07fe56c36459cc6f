"""`GET /metrics`: this process's counters and the estate, for Prometheus."""

from conftest import bearer, enrol
from prometheus_client.parser import text_string_to_metric_families


def scrape(client, token: str) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_check_ins_events_and_the_estate_are_counted(client, tokens):
    credential = enrol(client, tokens["agent"], "agent-1", "CAD-01")
    enrol(client, tokens["agent"], "agent-2", "CAD-02")
    agent = bearer(credential)
    for _ in range(3):
        answer = client.post("/api/agent/v1/check-in", json={"clock": now()}, headers=agent)
        assert answer.status_code == 200
    batch = {"events": [start_event("e1"), start_event("e2")]}
    for _ in range(2):  # the second time, both are duplicates
        assert client.post("/api/agent/v1/session-events", json=batch, headers=agent).is_success

    figures = scrape(client, tokens["read"])

    assert figures[("seatmeter_agent_check_ins_total", ())] == 3
    assert figures[("seatmeter_session_events_total", (("outcome", "accepted"),))] == 2
    assert figures[("seatmeter_session_events_total", (("outcome", "duplicate"),))] == 2
    # Enrolment counts as being seen: both agents are online.
    assert figures[("seatmeter_agents", (("status", "online"),))] == 2
    assert figures[("seatmeter_agents", (("status", "offline"),))] == 0
    assert figures[("seatmeter_license_servers", (("status", "never"),))] == 0
    assert figures[("seatmeter_license_server_syncs", (("status", "failed"),))] == 0


def now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat()


def start_event(event_id: str) -> dict:
    return {
        "event_id": event_id,
        "session_id": f"s-{event_id}",
        "kind": "start",
        "hostname": "CAD-01",
        "username": "CORP\\jdoe",
        "application": "Revit",
        "version": "2025",
        "source": "process",
        "started_at": now(),
    }
