"""log_format=json: a real `seatmeter serve` writes one object per line."""

import json
import logging
import sys
from pathlib import Path

import httpx
from serverproc import ServerProcess

from seatmeter.logs import JsonFormatter

KEYS = {"time", "level", "logger", "message"}


def test_a_real_server_logs_one_json_object_per_line(database_url: str, tmp_path: Path) -> None:
    process = ServerProcess(database_url, tmp_path, log_format="json")
    try:
        process.start()
        process.wait_until_ready()
        httpx.get(f"{process.base_url}/healthz", timeout=10).raise_for_status()
    finally:
        process.stop()

    lines = process.log_path.read_text().splitlines()
    # Standard output says where it listens, in words; the log is the rest.
    logged = [line for line in lines if not line.startswith("Seatmeter listening on ")]
    records = [json.loads(line) for line in logged]
    assert records, lines
    assert all(set(record) >= KEYS for record in records), records
    said = {(r["logger"], r["message"]) for r in records}
    assert ("seatmeter.server.autodesk.scheduler", "scheduler started") in said, said
    assert any(r["logger"].startswith("uvicorn") for r in records), said
    assert all(r["time"].endswith("+00:00") for r in records)


def test_extra_ids_and_exceptions_are_fields() -> None:
    record = logging.makeLogRecord(
        {"name": "seatmeter.x", "levelname": "WARNING", "msg": "sync %s failed", "args": (7,)}
    )
    record.license_server_id = 7
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "sync 7 failed"
    assert line["level"] == "warning"
    assert line["license_server_id"] == 7
    assert "ValueError: boom" in line["exception"]
    assert set(line) == KEYS | {"license_server_id", "exception"}
