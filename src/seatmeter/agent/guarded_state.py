"""The agent's state when its file may stop working: keep going in memory.

A read-only or full state folder must not stop the agent (systemd would
restart it every 30 s, forever) nor lose what it was told is stored.
GuardedState answers like AgentState. While the file works, it is the
file. When a call fails on the file, everything the file still shows is
copied into an in-memory AgentState (bounded like the file) and the call
is done there; the file is tried again after a back-off, and when it
works again it is made to hold exactly what memory holds. A crash while
in memory loses what was kept there since the file failed: that is the
cost, and the `state_unwritable` problem says so to the server.
"""

import errno
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seatmeter.agent.state import MEMORY, AgentState, StateError

log = logging.getLogger(__name__)

# The back-off grows to this many times its first wait, no more.
RETRY_CAP_FACTOR = 10


class GuardedState:
    def __init__(
        self,
        path: Path,
        max_events: int = 100_000,
        retry_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.max_events = max_events
        self.retry_s = retry_s
        self.clock = clock
        self.disk: AgentState | None = None
        self.memory: AgentState | None = None
        # What is wrong with the file, in one sentence; "" while it works.
        self.problem = ""
        # What the operating system says about writing in the folder.
        self.os_error = ""
        self._wait = retry_s
        self._retry_at = 0.0
        try:
            self.disk = AgentState(self.path, max_events)
        except StateError as error:
            self._fall_back(error, None)

    # The same calls as AgentState; each goes where the state lives now.
    def record(self, *args: Any, **kwargs: Any) -> None:
        self._do("record", *args, **kwargs)

    def touch(self, *args: Any, **kwargs: Any) -> None:
        self._do("touch", *args, **kwargs)

    def open_sessions(self) -> Any:
        return self._do("open_sessions")

    def take(self, limit: int) -> Any:
        return self._do("take", limit)

    def accept(self, *args: Any) -> None:
        self._do("accept", *args)

    def reject(self, *args: Any) -> None:
        self._do("reject", *args)

    def depth(self) -> Any:
        return self._do("depth")

    def dropped(self) -> Any:
        return self._do("dropped")

    def get(self, key: str, default: Any = None) -> Any:
        return self._do("get", key, default)

    def put(self, key: str, value: Any) -> None:
        self._do("put", key, value)

    def close(self) -> None:
        # Last chance to put what memory holds on the file.
        if self.memory is not None:
            self._retry_at = 0.0
            self._try_file()
        for state in (self.disk, self.memory):
            if state is not None:
                state.close()

    def _do(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.memory is not None and self.clock() >= self._retry_at:
            self._try_file()
        if self.disk is not None:
            try:
                return getattr(self.disk, name)(*args, **kwargs)
            except StateError as error:
                self._fall_back(error, self.disk)
        assert self.memory is not None
        return getattr(self.memory, name)(*args, **kwargs)

    def _fall_back(self, error: StateError, disk: AgentState | None) -> None:
        """From now on, memory; seeded with what the file still shows."""
        self.memory = AgentState(Path(MEMORY), self.max_events)
        self.problem = str(error)
        self.os_error = folder_error(self.path.parent)
        if disk is not None:
            try:
                self.memory.replace(disk.snapshot())
            except StateError:
                log.debug("the state file cannot be read either; memory starts empty")
            disk.close()
        self.disk = None
        self._wait = self.retry_s
        self._retry_at = self.clock() + self._wait
        log.warning("%s; keeping session events in memory until it works", error)

    def _try_file(self) -> None:
        assert self.memory is not None
        disk = None
        try:
            disk = AgentState(self.path, self.max_events)
            disk.replace(self.memory.snapshot())
        except StateError as error:
            if disk is not None:
                disk.close()
            self.problem = str(error)
            self.os_error = folder_error(self.path.parent)
            self._wait = min(self._wait * 2, self.retry_s * RETRY_CAP_FACTOR)
            self._retry_at = self.clock() + self._wait
            log.debug("state file still unusable (%s); next try in %.0f s", error, self._wait)
            return
        self.memory.close()
        self.disk, self.memory, self.problem, self.os_error = disk, None, "", ""
        log.info("agent state file %s works again; what was kept in memory is on it", self.path)


def folder_error(folder: Path) -> str:
    """The OS's own words for writing a page in the folder, "" if it can.

    SQLite's messages ("unable to open database file") hide whether the
    folder is read-only, full or missing; this is for the administrator.
    """
    try:
        with tempfile.TemporaryFile(dir=folder) as probe:
            probe.write(b"\0" * 4096)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        return f"{error.strerror} ({errno.errorcode.get(error.errno or 0, error.errno)})"
    return ""
