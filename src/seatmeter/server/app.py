"""The server's ASGI application, assembled from each feature's router."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text

from seatmeter import __version__
from seatmeter.server import errors
from seatmeter.server.accounts.api import router as accounts_router
from seatmeter.server.agent_groups.api import router as agent_groups_router
from seatmeter.server.agents import checkin
from seatmeter.server.agents.agent_api import router as agent_api_router
from seatmeter.server.agents.api import router as agents_router
from seatmeter.server.agents.heartbeats import Heartbeats
from seatmeter.server.agents.monitoring import Decisions
from seatmeter.server.agents.standings import Standings
from seatmeter.server.api.limits import BodyLimit
from seatmeter.server.api.state import Db
from seatmeter.server.autodesk import scheduler
from seatmeter.server.autodesk.api import router as autodesk_router
from seatmeter.server.catalogs.api import router as catalogs_router
from seatmeter.server.db import Database
from seatmeter.server.entitlements.api import router as entitlements_router
from seatmeter.server.license_servers.api import router as license_servers_router
from seatmeter.server.operations.metrics import Metrics
from seatmeter.server.operations.metrics import router as metrics_router
from seatmeter.server.reports.api import router as reports_router
from seatmeter.server.reports.costs import router as pool_costs_router
from seatmeter.server.secrets import load_box
from seatmeter.server.sessions.api import router as sessions_router
from seatmeter.server.sessions.importing import router as session_import_router
from seatmeter.server.settings import Settings
from seatmeter.server.usage import identity
from seatmeter.server.usage.api import router as usage_router
from seatmeter.web.app import mount as mount_web

ROUTERS = (
    agent_api_router,
    agents_router,
    agent_groups_router,
    license_servers_router,
    sessions_router,
    accounts_router,
    catalogs_router,
    metrics_router,
    session_import_router,
    usage_router,
    autodesk_router,
    entitlements_router,
    reports_router,
    pool_costs_router,
)


def create_app(settings: Settings, database: Database) -> FastAPI:
    """The app over an already migrated database; it holds no other state."""
    app = FastAPI(
        title="Seatmeter",
        version=__version__,
        description="How an organisation's Autodesk licenses are really used.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.secret_box = load_box(settings)
    app.state.metrics = Metrics(database, settings)
    app.state.check_in_desk = checkin.Desk(
        settings,
        Decisions(),
        Heartbeats(database),
        Standings(database, settings.agent_standing_refresh_ms),
    )
    identity.install(settings)
    errors.install(app)
    for router in ROUTERS:
        app.include_router(router, responses=errors.RESPONSES)
    app.add_api_route("/healthz", healthz, methods=["GET"], tags=["operations"])
    app.add_api_route("/readyz", readyz, methods=["GET"], tags=["operations"])
    mount_web(app)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    return app


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The scheduler runs for the app's life; heartbeats are written at its end."""
    try:
        async with scheduler.lifespan(app):
            yield
    finally:
        app.state.check_in_desk.heartbeats.close()


def healthz() -> dict[str, Any]:
    """The process is up."""
    return {"status": "ok"}


def readyz(db: Db) -> dict[str, Any]:
    """The process can serve: its database answers."""
    with db.reading() as session:
        session.execute(text("SELECT 1"))
    return {"status": "ready", "database": db.dialect}
