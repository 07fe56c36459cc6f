"""Background work of `seatmeter serve`: due syncs, the daily refresh and
the daily session retention (sessions/retention.py).

One thread per server process. Every tick it starts the syncs that are
due (a poll interval since the last attempt) and refreshes the tokens of
servers idle for a day, so the 15-day refresh chain never lapses. Several
processes over one PostgreSQL may all run it: the sync lease (sync.py)
and the refresh lock (oauth.py) make each piece of work happen once.
Servers are synced one after another; a slow team delays the next one.
"""

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select

from seatmeter.server.autodesk import oauth, sync
from seatmeter.server.autodesk.errors import AutodeskError
from seatmeter.server.autodesk.models import SyncRun
from seatmeter.server.db import Database, utcnow
from seatmeter.server.errors import ApiError
from seatmeter.server.license_servers.models import LicenseServer
from seatmeter.server.secrets import SecretBox
from seatmeter.server.sessions import retention
from seatmeter.server.settings import Settings

log = logging.getLogger(__name__)

TICK_S = 5.0
REFRESH_EVERY = timedelta(days=1)
STOP_TIMEOUT_S = 10.0
# How often this process asks whether today's retention run is still to do.
RETENTION_CHECK_S = 3600.0


class Scheduler:
    def __init__(
        self, database: Database, box: SecretBox, settings: Settings, transport: Any = None
    ) -> None:
        self.database = database
        self.box = box
        self.settings = settings
        self.transport = transport
        self._stop = threading.Event()
        self._retention_due = 0.0
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()
        log.info("scheduler started")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(STOP_TIMEOUT_S)

    def tick(self) -> None:
        """Everything due now; one failure does not hold up the rest."""
        for server_id in due_syncs(self.database):
            self._sync(server_id)
        for server_id in due_refreshes(self.database):
            self._refresh(server_id)
        self._retention()

    def _retention(self) -> None:
        if self.settings.session_retention_days <= 0 or time.monotonic() < self._retention_due:
            return
        self._retention_due = time.monotonic() + RETENTION_CHECK_S
        retention.run_if_due(self.database, self.settings.session_retention_days)

    def _loop(self) -> None:
        # The first tick at once: a fresh start syncs without delay.
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("scheduler tick failed; trying again next tick")
            self._stop.wait(TICK_S)

    def _sync(self, server_id: int) -> None:
        try:
            sync.run(self.database, self.box, self.settings, server_id, "scheduled", self.transport)
        except ApiError as error:
            # Another process holds it, or it lost its consent meanwhile.
            log.debug("scheduled sync of %s not started: %s", server_id, error.message)

    def _refresh(self, server_id: int) -> None:
        try:
            oauth.refresh(self.database, self.box, server_id, force=True, transport=self.transport)
        except AutodeskError as error:
            log.info("daily token refresh of license server %s failed: %s", server_id, error)


def due_syncs(database: Database) -> list[int]:
    """Enabled, connected servers whose last attempt is a poll interval old."""
    now = utcnow()
    last_attempt = (
        select(SyncRun.license_server_id, func.max(SyncRun.started_at).label("at"))
        .group_by(SyncRun.license_server_id)
        .subquery()
    )
    query = (
        select(LicenseServer.id, LicenseServer.poll_interval_s, last_attempt.c.at)
        .outerjoin(last_attempt, last_attempt.c.license_server_id == LicenseServer.id)
        .where(
            LicenseServer.enabled.is_(True),
            LicenseServer.refresh_token_encrypted.is_not(None),
            LicenseServer.status != "unauthorized",
        )
        .order_by(LicenseServer.id)
    )
    with database.reading() as session:
        rows = session.execute(query).all()
    return [
        server_id
        for server_id, interval, at in rows
        if at is None or _aware(at) + timedelta(seconds=interval) <= now
    ]


def due_refreshes(database: Database) -> list[int]:
    """Connected servers whose refresh token is a day old."""
    cutoff = utcnow() - REFRESH_EVERY
    query = select(LicenseServer.id).where(
        LicenseServer.refresh_token_encrypted.is_not(None),
        LicenseServer.status != "unauthorized",
        (LicenseServer.refresh_token_issued_at.is_(None))
        | (LicenseServer.refresh_token_issued_at < cutoff),
    )
    with database.reading() as session:
        return list(session.scalars(query))


def _aware(moment: Any) -> Any:
    # max() over a UTCDateTime column loses the type decorator on SQLite.
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Runs the scheduler for the app's life when the setting says on."""
    settings: Settings = app.state.settings
    scheduler = None
    if settings.scheduler == "on":
        scheduler = Scheduler(
            app.state.database,
            app.state.secret_box,
            settings,
            getattr(app.state, "autodesk_transport", None),
        )
        scheduler.start()
    try:
        yield
    finally:
        if scheduler:
            scheduler.stop()
