"""The emulator's data: the JSON data file, checked on load, and the
teams it describes as they change in memory.

The file holds OAuth clients and teams (admins, cloud users, product
pools, assignments). Every mistake is reported with the path of the bad
field (`teams[0].pools[2].endDate: ...`), so a hand-written file is easy
to fix. Nothing is written back: a restart starts again from the file.
"""

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
)

AssignmentType = Literal["DIRECT", "GROUP", "TEAM"]
# The effective type of a user-product pair is the strongest one held.
TYPE_STRENGTH: dict[str, int] = {"DIRECT": 3, "GROUP": 2, "TEAM": 1}


def autodesk_time(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and Z, as Autodesk writes dates."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


class DataFileError(ValueError):
    """The data file cannot be used; the message names the bad field."""


class Strict(BaseModel):
    # A misspelt key is an error, not a silently ignored field.
    model_config = ConfigDict(extra="forbid")


class Client(Strict):
    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1)
    user: str = Field(min_length=3, description="the admin who approves at once")
    redirect_uris: list[str] = []


class User(Strict):
    id: str = Field(min_length=1)
    email: str = Field(min_length=3, pattern=r"^[^@\s]+@[^@\s]+$")
    firstName: str = ""
    lastName: str = ""


class Pool(Strict):
    productId: str = Field(min_length=1)
    productName: str = Field(min_length=1)
    totalQuantity: int | None = Field(default=None, ge=0)
    unlimited: bool = False
    startDate: datetime
    endDate: datetime
    supported: bool = True

    @field_validator("startDate", "endDate")
    @classmethod
    def in_utc(cls, value: datetime) -> datetime:
        # A date without an offset is read as UTC, as Autodesk writes them.
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @field_serializer("startDate", "endDate")
    def as_autodesk_writes(self, value: datetime) -> str:
        return autodesk_time(value)


class Assignment(Strict):
    userId: str = Field(min_length=1)
    productId: str = Field(min_length=1)
    assignmentType: AssignmentType = "DIRECT"


class Team(Strict):
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    admins: list[str] = []
    users: list[User] = []
    pools: list[Pool] = []
    assignments: list[Assignment] = []


class EmulatorData(Strict):
    clients: list[Client] = Field(min_length=1)
    teams: list[Team] = []


def load_data(path: Path) -> EmulatorData:
    """Read and check a data file; DataFileError says what is wrong."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise DataFileError(f"{path}: cannot read the data file ({error.strerror})") from None
    except json.JSONDecodeError as error:
        raise DataFileError(
            f"{path}: not valid JSON at line {error.lineno} column {error.colno} ({error.msg})"
        ) from None
    return parse_data(raw, source=str(path))


def parse_data(raw: Any, source: str = "data") -> EmulatorData:
    """Check a data dict as the file would be checked."""
    try:
        data = EmulatorData.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        raise DataFileError(
            f"{source}: {field_path(first['loc'])}: {first['msg']}"
            f" (got {_shown(first.get('input'))})"
        ) from None
    problems = list(cross_check(data))
    if problems:
        raise DataFileError(f"{source}: {problems[0]}")
    return data


def field_path(loc: tuple[int | str, ...]) -> str:
    """`("teams", 0, "users", 2, "email")` -> `teams[0].users[2].email`."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def cross_check(data: EmulatorData) -> Any:
    """What one field cannot say alone: unique ids, known references."""
    yield from _duplicates("clients", [client.client_id for client in data.clients], "client_id")
    yield from _duplicates("teams", [team.id for team in data.teams], "id")
    for number, team in enumerate(data.teams):
        yield from check_team(f"teams[{number}]", team)


def check_team(where: str, team: Team) -> Any:
    yield from _duplicates(f"{where}.users", [user.id for user in team.users], "id")
    emails = [user.email.lower() for user in team.users]
    yield from _duplicates(f"{where}.users", emails, "email")
    yield from _duplicates(f"{where}.pools", [pool.productId for pool in team.pools], "productId")
    for number, pool in enumerate(team.pools):
        if not pool.unlimited and pool.totalQuantity is None:
            yield (
                f"{where}.pools[{number}].totalQuantity: required unless unlimited is true;"
                " give a seat count or set unlimited"
            )
        if pool.endDate < pool.startDate:
            yield f"{where}.pools[{number}].endDate: before startDate; swap or fix the dates"
    users = {user.id for user in team.users}
    products = {pool.productId for pool in team.pools}
    for number, assignment in enumerate(team.assignments):
        if assignment.userId not in users:
            yield (
                f"{where}.assignments[{number}].userId: {assignment.userId!r}"
                f" is not a user of team {team.id}; add it to users first"
            )
        if assignment.productId not in products:
            yield (
                f"{where}.assignments[{number}].productId: {assignment.productId!r}"
                f" is not a product pool of team {team.id}; add it to pools first"
            )


def _duplicates(where: str, values: list[str], field: str) -> Any:
    for value, count in Counter(values).items():
        if count > 1:
            yield f"{where}: {field} {value!r} appears {count} times; each must be unique"


def _shown(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


class TeamState:
    """One team as the emulator holds it while running.

    Assignments are kept as grants: the set of types each user-product
    pair holds, so that deleting the DIRECT one leaves GROUP and TEAM.
    """

    def __init__(self, team: Team) -> None:
        self.id = team.id
        self.name = team.name
        self.admins = {email.lower() for email in team.admins}
        self.users: dict[str, User] = {user.id: user for user in team.users}
        self.pools: dict[str, Pool] = {pool.productId: pool for pool in team.pools}
        self.grants: dict[tuple[str, str], set[str]] = {}
        self._holders: Counter[str] = Counter()
        for assignment in team.assignments:
            self.grant(assignment.userId, assignment.productId, assignment.assignmentType)

    def is_admin(self, email: str) -> bool:
        return email.lower() in self.admins

    def grant(self, user_id: str, product_id: str, kind: str) -> bool:
        """Give a pair one more type; False when it already held it."""
        types = self.grants.setdefault((user_id, product_id), set())
        if kind in types:
            return False
        if not types:
            self._holders[product_id] += 1
        types.add(kind)
        return True

    def revoke(self, user_id: str, product_id: str, kind: str) -> bool:
        types = self.grants.get((user_id, product_id), set())
        if kind not in types:
            return False
        types.discard(kind)
        if not types:
            del self.grants[(user_id, product_id)]
            self._holders[product_id] -= 1
        return True

    def effective_type(self, user_id: str, product_id: str) -> str | None:
        types = self.grants.get((user_id, product_id))
        return max(types, key=TYPE_STRENGTH.__getitem__) if types else None

    def holders(self, product_id: str) -> int:
        """How many users hold the product in any way."""
        return self._holders[product_id]

    def user_by_email(self, email: str) -> User | None:
        wanted = email.lower()
        return next((u for u in self.users.values() if u.email.lower() == wanted), None)

    def to_team(self) -> Team:
        """Back to the data file's shape, for GET /_emulator/data."""
        assignments = [
            Assignment(userId=user_id, productId=product_id, assignmentType=kind)
            for (user_id, product_id), types in self.grants.items()
            for kind in sorted(types, key=TYPE_STRENGTH.__getitem__, reverse=True)
        ]
        return Team(
            id=self.id,
            name=self.name,
            admins=sorted(self.admins),
            users=list(self.users.values()),
            pools=list(self.pools.values()),
            assignments=assignments,
        )


class World:
    """Everything the emulator serves: clients by id and teams by id."""

    def __init__(self, data: EmulatorData) -> None:
        self.clients: dict[str, Client] = {client.client_id: client for client in data.clients}
        self.teams: dict[str, TeamState] = {team.id: TeamState(team) for team in data.teams}

    def administered_by(self, email: str) -> list[TeamState]:
        return [team for team in self.teams.values() if team.is_admin(email)]

    def to_data(self) -> dict[str, Any]:
        data = EmulatorData(
            clients=list(self.clients.values()),
            teams=[team.to_team() for team in self.teams.values()],
        )
        return data.model_dump(mode="json")
