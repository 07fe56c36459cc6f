"""The web UI's part of the server app: its page routers and static files."""

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from seatmeter.web.pages import (
    accounts,
    agent_groups,
    agents,
    autodesk,
    dashboard,
    license_servers,
    login,
    mappings,
    reclaim,
    reports,
    sessions,
    troubleshooting,
)

STATIC = Path(__file__).parent / "static"

PAGES = (
    login.router,
    dashboard.router,
    sessions.router,
    agents.router,
    agent_groups.router,
    license_servers.router,
    autodesk.router,
    troubleshooting.router,
    accounts.router,
    mappings.router,
    reclaim.router,
    reports.router,
)


def mount(app: FastAPI) -> None:
    for router in PAGES:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
