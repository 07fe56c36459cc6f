"""Every model, imported once so the metadata is complete."""

from seatmeter.server.accounts.models import Account, ApiToken
from seatmeter.server.agent_groups.models import AgentGroup, AutoAssignRule
from seatmeter.server.agents.models import Agent
from seatmeter.server.autodesk.models import OAuthState, ReclaimRecord, SyncRun
from seatmeter.server.catalogs.models import ProductCatalog
from seatmeter.server.db.base import Base
from seatmeter.server.entitlements.models import (
    Assignment,
    CloudUser,
    PoolSeatCount,
    ProductPool,
)
from seatmeter.server.license_servers.models import LicenseServer
from seatmeter.server.sessions.models import MaintenanceRun, SessionEvent, UsageSession
from seatmeter.server.usage.models import PoolApplications, UserMapping
from seatmeter.web.models import WebSession

metadata = Base.metadata

__all__ = [
    "Account",
    "Agent",
    "AgentGroup",
    "ApiToken",
    "Assignment",
    "AutoAssignRule",
    "CloudUser",
    "LicenseServer",
    "MaintenanceRun",
    "OAuthState",
    "PoolApplications",
    "PoolSeatCount",
    "ProductCatalog",
    "ProductPool",
    "ReclaimRecord",
    "SessionEvent",
    "SyncRun",
    "UsageSession",
    "UserMapping",
    "WebSession",
    "metadata",
]
