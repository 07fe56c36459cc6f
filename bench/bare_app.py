"""The baseline for bench/checkins.py: the same stack (FastAPI on
uvicorn), one endpoint, a fixed answer of a check-in's shape, no work."""

from fastapi import FastAPI

app = FastAPI()

ANSWER = {
    "agent_id": "00000000-0000-0000-0000-000000000000",
    "monitoring": True,
    "reason": "selected on license server 'bench'",
    "license_server_ids": [1],
    "scan_interval_s": 15,
    "checkin_interval_s": 60,
    "legacy_idle_window_s": 1800,
    "catalog_revision": None,
    "server_time": "2026-12-03T00:00:00Z",
}


@app.post("/api/agent/v1/check-in")
def check_in() -> dict[str, object]:
    return ANSWER
