"""A realistic team for the emulator, from a seed: pools named as
Autodesk names them, seats in proportion to the number of users, most
users assigned, a few not, and some pools assigned beyond their seats.

    data = generate_team(users=2000, seed=7)

The result is a data-file dict (see data.py); the same seed gives the
same team within one calendar year (pool dates follow the current year).
"""

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from seatmeter.emulator.data import autodesk_time


@dataclass(frozen=True)
class PoolPlan:
    name: str
    share: float  # of the assigned users who hold it
    seats: float  # seats per holder: below 1 means over-assigned
    kind: str = "DIRECT"
    unlimited: bool = False
    future: bool = False  # a renewal that has not started yet
    supported: bool = True


POOLS = (
    PoolPlan("Architecture, Engineering & Construction Collection", 0.40, 1.10),
    PoolPlan("AutoCAD", 0.30, 1.15),
    PoolPlan("AutoCAD LT", 0.12, 1.05),
    PoolPlan("Revit", 0.15, 0.90),
    PoolPlan("Civil 3D", 0.08, 1.20),
    PoolPlan("Inventor Professional", 0.06, 0.85),
    PoolPlan("3ds Max", 0.03, 1.30),
    PoolPlan("Navisworks Manage", 0.05, 1.00),
    PoolPlan("Autodesk Docs", 0.50, 1.00, kind="GROUP", unlimited=True),
    PoolPlan("Product Design & Manufacturing Collection", 0.0, 1.00, future=True),
    PoolPlan("Vault Professional", 0.04, 1.00, supported=False),
)
# Written as one string each, to keep the lists short on the page.
FIRST_NAMES_TEXT = (
    "Ann Ben Chloe David Emma Farid Grace Hiro Ines Jonas Kate Liam Maya Noah Olga Pavel "
    "Quinn Rosa Sami Tara Uma Victor Wen Xavier Yara Zoe Aiko Bruno Carmen Dmitri"
)
LAST_NAMES_TEXT = (
    "Lee Smith Garcia Müller Rossi Dubois Tanaka Nowak Silva Jensen Kowalski Brown Khan "
    "Novak Schmidt Martin Costa Sato Olsen Weber Moreau Ivanova Fischer Horvat Popescu"
)
FIRST_NAMES = tuple(FIRST_NAMES_TEXT.split())
LAST_NAMES = tuple(LAST_NAMES_TEXT.split())
UNASSIGNED_SHARE = 0.04
SECOND_POOL_CHANCE = 0.35


def generate_team(
    users: int,
    seed: int = 1,
    team_id: str = "100001",
    team_name: str = "Example Team",
    client_id: str = "demo-client",
    client_secret: str = "demo-secret",
    admin: str = "admin@example.com",
) -> dict[str, Any]:
    """A data-file dict with one team of `users` cloud users (admin included)."""
    if users < 1:
        raise ValueError(f"users must be at least 1; got {users}")
    rng = random.Random(seed)
    people = _people(rng, users, admin)
    pools = [_pool(rng, plan) for plan in POOLS]
    assignments = _assignments(rng, people, pools)
    _size_pools(pools, assignments, users)
    return {
        "clients": [
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "user": admin,
                "redirect_uris": [],
            }
        ],
        "teams": [
            {
                "id": team_id,
                "name": team_name,
                "admins": [admin],
                "users": people,
                "pools": [{k: v for k, v in pool.items() if k != "plan"} for pool in pools],
                "assignments": assignments,
            }
        ],
    }


def _people(rng: random.Random, count: int, admin: str) -> list[dict[str, str]]:
    # Ten-digit ids, unique, drawn without building the whole range.
    ids = rng.sample(range(1_000_000_000, 10_000_000_000), count)
    people = [{"id": f"US{ids[0]}", "email": admin, "firstName": "Team", "lastName": "Admin"}]
    taken = {admin.lower()}
    for number in ids[1:]:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = _free_email(taken, first, last)
        people.append({"id": f"US{number}", "email": email, "firstName": first, "lastName": last})
    return people


def _free_email(taken: set[str], first: str, last: str) -> str:
    stem = f"{first}.{last}".lower().replace("ü", "ue")
    email, suffix = f"{stem}@example.com", 1
    while email in taken:
        suffix += 1
        email = f"{stem}{suffix}@example.com"
    taken.add(email)
    return email


def _pool(rng: random.Random, plan: PoolPlan) -> dict[str, Any]:
    year = datetime.now(UTC).year + (1 if plan.future else 0)
    return {
        "productId": f"prod_{rng.getrandbits(48):012x}",
        "productName": plan.name,
        "totalQuantity": None,
        "unlimited": plan.unlimited,
        "startDate": autodesk_time(datetime(year, 1, 1, tzinfo=UTC)),
        "endDate": autodesk_time(datetime(year + 1, 1, 1, tzinfo=UTC)),
        "supported": plan.supported,
        "plan": plan,
    }


def _assignments(
    rng: random.Random, people: list[dict[str, str]], pools: list[dict[str, Any]]
) -> list[dict[str, str]]:
    """Everyone but a few gets a main pool, some a second one."""
    unassigned = max(1, round(len(people) * UNASSIGNED_SHARE)) if len(people) > 2 else 0
    holders = people[: len(people) - unassigned]
    weighted = [pool for pool in pools if pool["plan"].share > 0]
    weights = [pool["plan"].share for pool in weighted]
    rows: dict[tuple[str, str], str] = {}
    for person in holders:
        picks = {id(p): p for p in rng.choices(weighted, weights)}
        if rng.random() < SECOND_POOL_CHANCE:
            second = rng.choices(weighted, weights)[0]
            picks[id(second)] = second
        for pool in picks.values():
            rows[(person["id"], pool["productId"])] = pool["plan"].kind
    return [
        {"userId": user, "productId": product, "assignmentType": kind}
        for (user, product), kind in rows.items()
    ]


def _size_pools(pools: list[dict[str, Any]], assignments: list[dict[str, str]], users: int) -> None:
    """Seats follow the holders: a plan's `seats` below 1 over-assigns.
    A pool nobody holds yet (the renewal) gets a tenth of the team."""
    held: dict[str, int] = {}
    for row in assignments:
        held[row["productId"]] = held.get(row["productId"], 0) + 1
    for pool in pools:
        plan: PoolPlan = pool["plan"]
        if plan.unlimited:
            continue
        holders = held.get(pool["productId"], 0) or max(1, users // 10)
        pool["totalQuantity"] = max(1, math.floor(holders * plan.seats))
