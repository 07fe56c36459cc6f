"""Prometheus metrics at `GET /metrics`, for a read-scope token.

Counters live in each server process (Prometheus scrapes every process
and sums them); what describes the estate (agents online, license
servers by status, syncs and their durations, whichever process ran
them) is read from the database at scrape time, so every process
reports the same figures whichever one is asked.
"""

from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select

from seatmeter.server.accounts.auth import Reader
from seatmeter.server.agents.models import Agent
from seatmeter.server.autodesk.models import SyncRun
from seatmeter.server.db import Database, utcnow
from seatmeter.server.license_servers.models import STATUSES, LicenseServer
from seatmeter.server.settings import Settings

router = APIRouter(tags=["operations"])


class Metrics:
    """One process's counters, in a registry of the app's own."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.registry = CollectorRegistry()
        self.check_ins = Counter(
            "seatmeter_agent_check_ins",
            "Agent check-ins answered.",
            registry=self.registry,
        )
        self.events = Counter(
            "seatmeter_session_events",
            "Session events received from agents, by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.registry.register(Estate(database, settings))

    def ingested(self, accepted: int, duplicates: int) -> None:
        self.events.labels("accepted").inc(accepted)
        self.events.labels("duplicate").inc(duplicates)


class Estate(Collector):
    """Figures read from the database when Prometheus asks."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings

    def collect(self) -> Iterator[GaugeMetricFamily]:
        window = timedelta(seconds=2 * self.settings.agent_checkin_interval_s)
        online = case((Agent.last_seen >= utcnow() - window, 1), else_=0)
        with self.database.reading() as session:
            agents = session.execute(select(func.count(), func.sum(online))).one()
            by_status = select(LicenseServer.status, func.count()).group_by(LicenseServer.status)
            servers = {status: count for status, count in session.execute(by_status)}
        total, seen = agents[0] or 0, agents[1] or 0
        gauge = GaugeMetricFamily(
            "seatmeter_agents", "Enrolled agents, by status.", labels=["status"]
        )
        gauge.add_metric(["online"], seen)
        gauge.add_metric(["offline"], total - seen)
        yield gauge
        statuses = GaugeMetricFamily(
            "seatmeter_license_servers", "License servers, by status.", labels=["status"]
        )
        for status in STATUSES:
            statuses.add_metric([status], servers.get(status, 0))
        yield statuses
        yield from self._syncs()

    def _syncs(self) -> Iterator[GaugeMetricFamily]:
        by_status = select(SyncRun.status, func.count(), func.sum(SyncRun.duration_s))
        with self.database.reading() as session:
            rows = session.execute(by_status.group_by(SyncRun.status)).all()
        runs = GaugeMetricFamily(
            "seatmeter_license_server_syncs", "Syncs recorded, by status.", labels=["status"]
        )
        seconds = GaugeMetricFamily(
            "seatmeter_license_server_sync_seconds",
            "Seconds spent in recorded syncs, by status.",
            labels=["status"],
        )
        found = {status: (count, total or 0.0) for status, count, total in rows}
        for status in ("running", "ok", "failed"):
            count, total = found.get(status, (0, 0.0))
            runs.add_metric([status], count)
            seconds.add_metric([status], total)
        yield runs
        yield seconds


async def metrics_of(request: Request) -> Metrics:
    found: Metrics = request.app.state.metrics
    return found


AppMetrics = Annotated[Metrics, Depends(metrics_of)]


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
def metrics(_: Reader, found: AppMetrics) -> Response:
    """Counters of this process and figures of the estate, for Prometheus."""
    return Response(generate_latest(found.registry), media_type=CONTENT_TYPE_LATEST)
