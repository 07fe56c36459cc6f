"""The emulator logs a call before the caller can have its answer."""

import asyncio
from typing import Any

import pytest

from seatmeter.emulator.calls import CallLog
from seatmeter.emulator.config import Faults
from seatmeter.emulator.faults import FaultDice, Gate


async def answer_ok(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def call_scope(path: str) -> dict[str, Any]:
    headers = [(b"x-request-id", b"asked-for")]
    return {"type": "http", "method": "GET", "path": path, "headers": headers}


@pytest.mark.parametrize(
    ("path", "faults"),
    [
        ("/team-admin/v1/teams/t/users", Faults()),
        ("/team-admin/v1/teams/t/users", Faults(fail_rate=1, seed=1)),
        ("/authentication/v2/token", Faults()),
    ],
)
def test_a_call_is_in_the_log_when_its_answer_starts(path: str, faults: Faults) -> None:
    calls = CallLog()
    logged_at_start: list[list[str]] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            logged_at_start.append([call["request_id"] for call in calls.all()])

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    gate = Gate(answer_ok, FaultDice(faults), calls)
    asyncio.run(gate(call_scope(path), receive, send))

    assert logged_at_start == [["asked-for"]]
    assert len(calls.all()) == 1
