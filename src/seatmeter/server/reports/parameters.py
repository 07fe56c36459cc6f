"""The query parameters every report shares, read and checked in one place.

Parameters arrive as text and are parsed here rather than by FastAPI, so
that every bad one gives the same 400 naming the parameter, its value
and what to send instead.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Query

from seatmeter.server.api.fields import MAX_ID
from seatmeter.server.errors import ApiError, _plain

DEFAULT_SPAN = timedelta(days=30)
FORMATS = ("json", "csv", "xlsx")
GRANULARITIES = ("hour", "day", "week", "month", "all")


def bad_parameter(name: str, value: object, problem: str) -> ApiError:
    detail = {"field": name, "value": _plain(value), "problem": problem}
    return ApiError(400, "invalid_parameter", f"{name}: {problem} (got {value!r})", [detail])


@dataclass(frozen=True)
class Filters:
    """Which sessions a report looks at; None means no restriction."""

    license_server_id: int | None = None
    product_pool_id: int | None = None
    application: str | None = None
    username: str | None = None
    hostname: str | None = None
    host_group_id: int | None = None


@dataclass(frozen=True)
class ReportQuery:
    since: datetime
    # The end of the report, never later than now: the future has no use.
    until: datetime
    now: datetime
    tz: ZoneInfo
    filters: Filters
    format: str
    granularity: str | None
    group_by: str | None


class RawQuery:
    """The parameters as sent; `parse` turns them into a ReportQuery."""

    def __init__(
        self,
        since: str | None = Query(None, description="ISO 8601; default 30 days before until"),
        until: str | None = Query(None, description="ISO 8601; default now"),
        tz: str | None = Query(None, description="IANA time zone; default report_time_zone"),
        license_server_id: str | None = Query(None),
        product_pool_id: str | None = Query(None),
        application: str | None = Query(None, max_length=100),
        username: str | None = Query(None, max_length=255, description="host user"),
        hostname: str | None = Query(None, max_length=255),
        user_group_id: str | None = Query(None, description="not yet supported"),
        host_group_id: str | None = Query(None, description="an agent group"),
        granularity: str | None = Query(None, description="hour, day, week, month or all"),
        group_by: str | None = Query(None, description="depends on the report"),
        format: str = Query("json", description="json, csv or xlsx"),
    ) -> None:
        self.values: dict[str, Any] = dict(locals())
        del self.values["self"]

    def parse(self, default_tz: str, now: datetime | None = None) -> ReportQuery:
        values = self.values
        now = now or datetime.now(UTC)
        until = _moment("until", values["until"]) or now
        since = _moment("since", values["since"]) or until - DEFAULT_SPAN
        if since >= until:
            raise bad_parameter("since", values["since"], "must be earlier than until")
        if values["user_group_id"] is not None:
            raise bad_parameter(
                "user_group_id",
                values["user_group_id"],
                "user groups are not yet supported; filter by username instead",
            )
        return ReportQuery(
            since=min(since, now),
            until=min(until, now),
            now=now,
            tz=_zone(values["tz"] or default_tz),
            filters=_filters(values),
            format=_choice("format", values["format"], FORMATS),
            granularity=values["granularity"],
            group_by=values["group_by"],
        )


def choose(name: str, value: str | None, allowed: tuple[str, ...], default: str) -> str:
    """A report's own choice parameter (granularity, group_by)."""
    return _choice(name, value if value is not None else default, allowed)


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise bad_parameter(name, value, f"must be one of {', '.join(allowed)}")
    return value


def _moment(name: str, text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise bad_parameter(
            name, text, "must be an ISO 8601 time with its offset, e.g. 2026-12-01T00:00:00+01:00"
        )
    return moment.astimezone(UTC)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError):
        raise bad_parameter(
            "tz", name, "is not a known IANA time zone; use one such as Europe/Paris or UTC"
        ) from None


def _filters(values: dict[str, Any]) -> Filters:
    return Filters(
        license_server_id=_row_id("license_server_id", values["license_server_id"]),
        product_pool_id=_row_id("product_pool_id", values["product_pool_id"]),
        application=values["application"] or None,
        username=values["username"] or None,
        hostname=values["hostname"] or None,
        host_group_id=_row_id("host_group_id", values["host_group_id"]),
    )


def _row_id(name: str, text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_ID:
        raise bad_parameter(name, text, f"must be a whole number from 1 to {MAX_ID}")
    return int(text)
