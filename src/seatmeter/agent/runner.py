"""The agent's loop: check in, scan while told to, and drain the outbox.

Three clocks run side by side. Check-ins keep their interval whether or
not the server answers, so a returning server hears from every agent
within one interval. Scans run only while the server says this agent
monitors. Sending backs off exponentially, with jitter so that a fleet
does not return all at once, and a cap so that it does not wait forever.
"""

import logging
import platform
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from seatmeter import __version__
from seatmeter.agent import processes, tracker
from seatmeter.agent.catalog import Catalog, CatalogError, load_packaged, parse
from seatmeter.agent.config import AgentConfig
from seatmeter.agent.guarded_state import GuardedState
from seatmeter.agent.problems import Problems
from seatmeter.agent.state import AgentState
from seatmeter.agent.tracker import Tracker
from seatmeter.agent.uplink import (
    BatchRejected,
    BatchTooLarge,
    CredentialRefused,
    EnrolmentRefused,
    ServerUnreachable,
    Uplink,
)
from seatmeter.agent.usage_files import finder

log = logging.getLogger(__name__)

# Until the server has said otherwise.
DEFAULTS = {"scan_interval_s": 15, "checkin_interval_s": 60, "legacy_idle_window_s": 1800}
BACKOFF_FIRST_S = 2.0
BACKOFF_CAP_S = 300.0
# Then back to the loop, so that a stop request is never kept waiting.
BATCHES_PER_TURN = 20


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        state: AgentState | GuardedState,
        uplink: Uplink,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.state = state
        self.uplink = uplink
        self.clock = clock
        self.hostname = socket.gethostname()
        self.agent_id = self._identity()
        self.instructions: dict[str, Any] = state.get("instructions") or {}
        self.catalog = self._catalog()
        self.problems = Problems(self.hostname)
        self.tracker = self._tracker()
        self.reachable: bool | None = None
        self.batch_size = config.batch_size
        self._failures = 0
        self._due = {"check_in": 0.0, "scan": 0.0, "send": 0.0}

    @property
    def monitoring(self) -> bool:
        return bool(self.instructions.get("monitoring"))

    def interval(self, name: str) -> float:
        override = getattr(self.config, name.removesuffix("_s") + "_override_s", None)
        return float(override or self.instructions.get(name) or DEFAULTS[name])

    def run(self, stop: threading.Event) -> None:
        self.recover()
        while not stop.is_set():
            self.tick(self.clock())
            stop.wait(max(0.05, min(self._due.values()) - self.clock()))
        self.uplink.close()

    def recover(self) -> None:
        """Close what ended while the agent was down; the rest continues."""
        closed = tracker.recover(
            self.state,
            processes.running_runs(),
            self.clock(),
            self.interval("legacy_idle_window_s"),
        )
        if closed:
            self.tracker = self._tracker()

    def tick(self, now: float) -> None:
        if now >= self._due["check_in"]:
            self.check_in(now)
            self._due["check_in"] = now + self.interval("checkin_interval_s")
        if now >= self._due["scan"]:
            if self.monitoring:
                self.scan(now)
            self._due["scan"] = now + self.interval("scan_interval_s")
        if now >= self._due["send"]:
            self.send(now)

    def check_in(self, now: float) -> None:
        try:
            credential = self._credential()
            told = self.uplink.check_in(credential, self._report(now))
        except EnrolmentRefused as error:
            self._reachability(True, str(error))
            return
        except CredentialRefused as error:
            log.warning("the server refused this agent's credential (%s); enrolling again", error)
            self.state.put("credential", None)
            return
        except ServerUnreachable as error:
            self._reachability(False, str(error))
            return
        self._reachability(True, "")
        self._follow(now, told)
        # The server is back: whatever waits goes now, not after the back-off.
        self._failures = 0
        self._due["send"] = now

    def scan(self, now: float) -> None:
        found = processes.scan(self.catalog)
        self.tracker.observe(now, found.seen)
        self.problems.from_scan(
            found, self.tracker.consent_missing(now), self.interval("legacy_idle_window_s")
        )

    def send(self, now: float) -> None:
        """Send the oldest waiting events, a few batches at a time.

        An empty outbox is looked at again at the next scan, not sooner:
        the scan is what fills it.
        """
        self._due["send"] = now + self.interval("scan_interval_s")
        for _ in range(BATCHES_PER_TURN):
            batch = self.state.take(self.batch_size)
            if not batch or not self._send_one(now, batch):
                return
        self._due["send"] = now

    def _send_one(self, now: float, batch: list[dict[str, Any]]) -> bool:
        """True when the batch left the outbox, one way or another."""
        try:
            self.uplink.send(self._credential(), batch)
        except CredentialRefused as error:
            if not isinstance(error, EnrolmentRefused):
                self.state.put("credential", None)
            self._back_off(now, str(error))
            return False
        except ServerUnreachable as error:
            self._back_off(now, str(error))
            return False
        except BatchRejected as error:
            if not error.event_ids:
                self._back_off(now, str(error))
                return False
            self._set_aside(error.event_ids, str(error))
            return True
        except BatchTooLarge as error:
            if self.batch_size == 1:
                self._set_aside([batch[0]["event_id"]], str(error))
            self.batch_size = max(1, self.batch_size // 2)
            return True
        self.state.accept([event["event_id"] for event in batch])
        self._failures = 0
        return True

    def _follow(self, now: float, told: dict[str, Any]) -> None:
        was = self.monitoring
        self.instructions = told
        self.state.put("instructions", told)
        if self.monitoring != was:
            log.info("monitoring %s: %s", "on" if self.monitoring else "off", told.get("reason"))
            if was:
                self.tracker.stop_all(now)
            self._due["scan"] = now
        if told.get("legacy_idle_window_s") != self.tracker.idle_window_s:
            self.tracker.idle_window_s = self.interval("legacy_idle_window_s")
        revision = told.get("catalog_revision")
        if isinstance(revision, int) and revision > self.catalog.revision:
            self._update_catalog()

    def _update_catalog(self) -> None:
        try:
            document = self.uplink.catalog(self._credential())
            self.catalog = parse(document)
        except (ServerUnreachable, CredentialRefused):
            return
        except CatalogError as error:
            log.warning("the server's product catalog is not usable: %s", error)
            return
        self.state.put("catalog", document)
        self.tracker.latest_action = finder(self.catalog)
        log.info("product catalog revision %d in use", self.catalog.revision)

    def _report(self, now: float) -> dict[str, Any]:
        self.problems.from_state(
            self.state.dropped(),
            self.config.max_outbox_events,
            getattr(self.state, "problem", ""),
            getattr(self.state, "os_error", ""),
        )
        self.problems.unrecognised(processes.unrecognised(self.catalog))
        return {
            "clock": tracker.iso(now),
            "hostname": self.hostname,
            "os": _operating_system(),
            "agent_version": __version__,
            "catalog_revision": self.catalog.revision,
            "problems": self.problems.current(),
        }

    def _credential(self) -> str:
        credential = self.state.get("credential")
        if credential:
            return str(credential)
        if not self.config.token:
            raise ServerUnreachable("not enrolled, and no enrolment token is configured (--token)")
        host = {"hostname": self.hostname, "os": _operating_system(), "agent_version": __version__}
        credential = self.uplink.enrol(self.config.token, self.agent_id, host)
        self.state.put("credential", credential)
        log.info("enrolled with %s as agent %s", self.uplink.server, self.agent_id)
        return credential

    def _reachability(self, reachable: bool, reason: str) -> None:
        if reachable != self.reachable:
            if reachable:
                log.info("server %s reachable", self.uplink.server)
            else:
                log.warning("server %s unreachable: %s", self.uplink.server, reason)
        self.reachable = reachable
        self.state.put("status", {"reachable": reachable, "reason": reason, "at": self.clock()})

    def _back_off(self, now: float, reason: str) -> None:
        self._failures += 1
        delay = min(BACKOFF_CAP_S, BACKOFF_FIRST_S * 2 ** (self._failures - 1))
        self._due["send"] = now + delay * random.uniform(0.5, 1.0)
        log.debug("sending failed (%s); next try in %.0f s", reason, delay)

    def _set_aside(self, event_ids: list[str], reason: str) -> None:
        # A batch the server refuses would be refused forever: keep the bad
        # events for inspection, report them, and let the others through.
        for event_id in event_ids:
            self.state.reject(event_id, reason)
        self.problems.rejected(len(event_ids), reason)
        log.warning("the server refused %d event(s): %s", len(event_ids), reason)

    def _identity(self) -> str:
        agent_id = self.state.get("agent_id")
        if not agent_id:
            agent_id = str(uuid.uuid4())
            self.state.put("agent_id", agent_id)
        self.state.put("hostname", self.hostname)
        return str(agent_id)

    def _catalog(self) -> Catalog:
        packaged = load_packaged()
        document = self.state.get("catalog")
        if document:
            try:
                pushed = parse(document)
                if pushed.revision > packaged.revision:
                    return pushed
            except CatalogError:
                log.warning("ignoring the stored product catalog: it is not valid")
        return packaged

    def _tracker(self) -> Tracker:
        return Tracker(
            self.state, self.hostname, self.interval("legacy_idle_window_s"), finder(self.catalog)
        )


def _operating_system() -> str:
    system = platform.system().lower()
    return {"darwin": "macos"}.get(system, system or "unknown")
