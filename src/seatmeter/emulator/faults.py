"""Autodesk misbehaving on purpose, and the gate every call goes through.

The gate (an ASGI wrapper around the routes) gives each call its
X-Request-Id, adds the headers a route asked for, writes the call log
and, for Team Admin calls only, applies the faults in this order:
  1. after `exit_after_calls` answers, the process exits hard (calls
     racing the exit are dropped);
  2. `drop_rate`: the connection is closed with no response at all;
  3. `latency_ms`: a delay;
  4. `fail_rate`: 429 or 503 (a coin toss) with `Retry-After`.
Injected faults come before the token and allowance checks, as a busy
front end would answer, so they never count against an allowance.
"""

import asyncio
import logging
import os
import random
import re
from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from seatmeter.emulator.calls import CallLog
from seatmeter.emulator.config import Faults
from seatmeter.emulator.problems import Problem, request_id_for

log = logging.getLogger(__name__)

EXIT_CODE = 3
EXIT_DELAY_S = 0.05  # lets the last answer reach the socket first
TEAM_IN_PATH = re.compile(r"^/team-admin/v1/teams/([^/]+)")
# What uvicorn says when a response is left unfinished: here, on purpose.
UNFINISHED = "ASGI callable returned without completing response"


class FaultDice:
    """Decides each Team Admin call's fault; seeded for repeatable runs."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.random = random.Random(faults.seed)
        self.answered = 0

    def change(self, faults: Faults) -> None:
        if faults.seed != self.faults.seed:
            self.random = random.Random(faults.seed)
        self.faults = faults
        self.answered = 0

    def roll(self) -> str | None:
        faults = self.faults
        if faults.exit_after_calls and self.answered >= faults.exit_after_calls:
            return "exit"
        if faults.drop_rate and self.random.random() < faults.drop_rate:
            return "drop"
        if faults.fail_rate and self.random.random() < faults.fail_rate:
            return self.random.choice(("429", "503"))
        return None

    def count_answer(self) -> bool:
        """Count one answered call; True when it was the last allowed."""
        self.answered += 1
        limit = self.faults.exit_after_calls
        return bool(limit) and self.answered == limit


class Gate:
    def __init__(self, app: ASGIApp, dice: FaultDice, calls: CallLog) -> None:
        self.app = app
        self.dice = dice
        self.calls = calls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_for(Headers(scope=scope).get("x-request-id"))
        scope["emulator.request_id"] = request_id
        scope["emulator.headers"] = {"X-Request-Id": request_id}
        match = TEAM_IN_PATH.match(scope["path"])
        scope["emulator.call"] = {"team": match.group(1) if match else None}
        path: str = scope["path"]
        if path.startswith("/_emulator/"):
            await self.app(scope, receive, _with_headers(scope, send))
            return
        if path.startswith("/team-admin/"):
            await self._team_admin(scope, receive, send)
        else:
            await self._answer(scope, receive, send, None)

    async def _team_admin(self, scope: Scope, receive: Receive, send: Send) -> None:
        fault = self.dice.roll()
        if fault in ("exit", "drop"):
            self._record(scope, None, fault)
            await drop_connection(send)
            return
        if self.dice.faults.latency_ms:
            await asyncio.sleep(self.dice.faults.latency_ms / 1000)
        await self._answer(scope, receive, send, fault)
        if self.dice.count_answer():
            log.warning("exiting after %d Team Admin calls, as asked", self.dice.answered)
            asyncio.get_running_loop().call_later(EXIT_DELAY_S, os._exit, EXIT_CODE)

    async def _answer(self, scope: Scope, receive: Receive, send: Send, fault: str | None) -> None:
        # The call is logged as its response starts, before the client can
        # have a byte of it: a test that kills the emulator right after an
        # answer finds that answer in the log.
        def started(status: int) -> None:
            self._record(scope, status, fault)

        wrapped = _with_headers(scope, send, started)
        if fault is None:
            await self.app(scope, receive, wrapped)
        else:
            await injected(fault, self.dice.faults).response(Request(scope))(
                scope, receive, wrapped
            )

    def _record(self, scope: Scope, status: int | None, fault: str | None) -> None:
        facts = scope["emulator.call"]
        self.calls.record(
            method=scope["method"],
            path=scope["path"],
            status=status,
            request_id=scope["emulator.request_id"],
            team=facts.get("team"),
            client_id=facts.get("client_id"),
            fault=fault,
        )


def injected(fault: str, faults: Faults) -> Problem:
    retry = {"Retry-After": str(faults.fault_retry_after)}
    if fault == "429":
        return Problem(429, "too-many-requests", "Too many requests; retry later.", headers=retry)
    return Problem(503, "service-unavailable", "Service under heavy load; retry.", headers=retry)


def _with_headers(scope: Scope, send: Send, started: Callable[[int], None] | None = None) -> Send:
    """Add the call's headers (request id, allowance) to its response."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            if started is not None:
                started(message["status"])
            extra: dict[str, str] = scope["emulator.headers"]
            headers = [
                (name, value)
                for name, value in message.get("headers", [])
                if name.decode("latin-1").lower() not in {key.lower() for key in extra}
            ]
            headers += [(key.lower().encode(), value.encode()) for key, value in extra.items()]
            message = {**message, "headers": headers}
        await send(message)

    return sending


async def drop_connection(send: Send) -> None:
    """Close the connection without a byte of response.

    ASGI has no "hang up" message. uvicorn checks header names before it
    writes anything, so a start message with a bad name fails with nothing
    sent; an app that then returns without finishing its response makes
    uvicorn close the connection. Tested end to end with httpx.
    """
    try:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x drop", b"")]})
    except Exception:  # RuntimeError, or h11's LocalProtocolError
        return
    raise RuntimeError("the server wrote a response; the connection was not dropped")


class QuietDrops(logging.Filter):
    """Keep uvicorn from reporting our deliberate drops as errors."""

    def filter(self, record: logging.LogRecord) -> bool:
        return UNFINISHED not in record.getMessage()
