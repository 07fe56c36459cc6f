"""The call log: every Autodesk call the emulator answered (or dropped).

Kept in memory for GET /_emulator/calls and, with `--log FILE`, also
appended to a JSON-lines file flushed per call, so that a test can read
it after killing the process. Control calls (/_emulator/) are not logged.
"""

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO


class CallLog:
    def __init__(self, path: Path | None = None) -> None:
        self._calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._file: TextIO | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")

    def record(
        self,
        *,
        method: str,
        path: str,
        status: int | None,
        request_id: str,
        team: str | None = None,
        client_id: str | None = None,
        fault: str | None = None,
    ) -> dict[str, Any]:
        call = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "method": method,
            "path": path,
            "team": team,
            "client_id": client_id,
            "status": status,
            "request_id": request_id,
            "fault": fault,
        }
        with self._lock:
            self._calls.append(call)
            if self._file is not None:
                self._file.write(json.dumps(call) + "\n")
                self._file.flush()
        return call

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._calls)

    def clear(self) -> None:
        # The file is a record of the whole run; only memory is cleared.
        with self._lock:
            self._calls.clear()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
