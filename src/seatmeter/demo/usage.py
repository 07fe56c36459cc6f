"""Plausible usage for the demo team: who works when, on what, for how long.

A pure plan, the same for the same seed and day: each cloud user gets a
workstation, a habit (heavy, regular, light, or assigned and never seen)
and the applications their pools entitle, then working days of sessions
over the last `days`. A few users without an assignment use AutoCAD
anyway (unassigned use), two still run a 2019 release (legacy), and a
handful of sessions are still open now, so current usage is never empty.
"""

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

DOMAIN = "EXAMPLE"
CURRENT_RELEASES = ("2024", "2025", "2026")
# Which applications each pool's holders mostly run, in catalog names.
POOL_APPLICATIONS = {
    "Architecture, Engineering & Construction Collection": (
        "Revit",
        "AutoCAD",
        "Civil 3D",
        "Navisworks Manage",
        "3ds Max",
    ),
    "AutoCAD": ("AutoCAD",),
    "AutoCAD LT": ("AutoCAD LT",),
    "Revit": ("Revit",),
    "Civil 3D": ("Civil 3D",),
    "Inventor Professional": ("Inventor",),
    "3ds Max": ("3ds Max",),
    "Navisworks Manage": ("Navisworks Manage",),
}
# Habit: share of users, chance of working a weekday, hours a working day.
HABITS = {
    "heavy": (0.08, 0.97, (7.0, 10.0)),
    "regular": (0.60, 0.80, (2.0, 6.0)),
    "light": (0.20, 0.25, (0.5, 2.0)),
    "never": (0.12, 0.0, (0.0, 0.0)),
}
LIVE_SESSIONS = 8
WEEKEND_CHANCE = {"heavy": 0.25, "regular": 0.03, "light": 0.0, "never": 0.0}


@dataclass(frozen=True)
class PlannedSession:
    application: str
    version: str
    source: str  # "process" or "legacy"
    started_at: datetime
    ended_at: datetime | None  # None: still running now


@dataclass
class Workstation:
    hostname: str
    username: str
    habit: str
    applications: tuple[str, ...]
    sessions: list[PlannedSession] = field(default_factory=list)


def plan(team: dict[str, Any], days: int, now: datetime, seed: int = 1) -> list[Workstation]:
    """One workstation per cloud user but the team admin, with sessions."""
    rng = random.Random(seed)
    entitled = _applications_by_user(team)
    stations = []
    for number, user in enumerate(team["users"][1:], start=1):
        applications = entitled.get(user["id"], ())
        station = _workstation(rng, number, user, applications)
        station.sessions = _history(rng, station, days, now)
        stations.append(station)
    _legacy(stations)
    _keep_some_live(rng, stations, now)
    return stations


def _applications_by_user(team: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    names = {pool["productId"]: pool["productName"] for pool in team["pools"]}
    held: dict[str, list[str]] = {}
    for assignment in team["assignments"]:
        pool = names.get(assignment["productId"], "")
        for application in POOL_APPLICATIONS.get(pool, ())[:2]:
            held.setdefault(assignment["userId"], [])
            if application not in held[assignment["userId"]]:
                held[assignment["userId"]].append(application)
    return {user: tuple(applications) for user, applications in held.items()}


def _workstation(
    rng: random.Random, number: int, user: dict[str, str], applications: tuple[str, ...]
) -> Workstation:
    login = user["email"].split("@")[0]
    if not applications:
        # Unassigned: most use nothing, some run AutoCAD all the same.
        habit = "light" if rng.random() < 0.5 else "never"
        applications = ("AutoCAD",) if habit == "light" else ()
    else:
        habits = list(HABITS)
        habit = rng.choices(habits, [HABITS[h][0] for h in habits])[0]
    return Workstation(f"WS-{number:03d}", f"{DOMAIN}\\{login}", habit, applications)


def _history(
    rng: random.Random, station: Workstation, days: int, now: datetime
) -> list[PlannedSession]:
    _, weekday_chance, (low, high) = HABITS[station.habit]
    if not station.applications or weekday_chance == 0:
        return []
    release = rng.choice(CURRENT_RELEASES)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    sessions = []
    for back in range(days, 0, -1):
        day = today - timedelta(days=back)
        chance = WEEKEND_CHANCE[station.habit] if day.weekday() >= 5 else weekday_chance
        if rng.random() < chance:
            sessions += _working_day(rng, station, day, rng.uniform(low, high), release)
    return sessions


def _working_day(
    rng: random.Random, station: Workstation, day: datetime, hours: float, release: str
) -> list[PlannedSession]:
    """One to three sessions between about 07:30 and 18:30."""
    count = rng.choice((1, 1, 2, 2, 3))
    start = day + timedelta(hours=rng.uniform(7.5, 9.5))
    sessions = []
    for _ in range(count):
        length = timedelta(hours=hours / count * rng.uniform(0.7, 1.3))
        application = rng.choice(station.applications)
        end = start + length
        sessions.append(PlannedSession(application, release, "process", start, end))
        start = end + timedelta(minutes=rng.uniform(5, 90))
    return sessions


def _legacy(stations: list[Workstation]) -> None:
    """Two regular AutoCAD users still on 2019, tracked by their saves."""
    users = [s for s in stations if s.habit == "regular" and "AutoCAD" in s.applications]
    for station in users[:2]:
        station.sessions = [
            PlannedSession(s.application, "2019", "legacy", s.started_at, s.ended_at)
            if s.application == "AutoCAD"
            else s
            for s in station.sessions
        ]


def _keep_some_live(rng: random.Random, stations: list[Workstation], now: datetime) -> None:
    busy = [s for s in stations if s.habit in ("heavy", "regular") and s.applications]
    for station in rng.sample(busy, min(LIVE_SESSIONS, len(busy))):
        started = now - timedelta(minutes=rng.uniform(10, 240))
        release = station.sessions[-1].version if station.sessions else CURRENT_RELEASES[-1]
        source = "legacy" if release == "2019" else "process"
        application = rng.choice(station.applications)
        station.sessions.append(PlannedSession(application, release, source, started, None))


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
