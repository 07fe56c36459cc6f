"""Field types shared by the API's request bodies."""

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from fastapi import Path
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

# Every integer id column is a PostgreSQL INTEGER.
MAX_ID = 2**31 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
IdList = Annotated[list[Annotated[StrictInt, Field(ge=1, le=MAX_ID)]], Field(max_length=1000)]
Revision = Annotated[StrictInt, Field(ge=0, le=MAX_ID)]

# Times an agent may report: wide enough for a host whose clock battery
# died (1970), narrow enough that correcting by its offset cannot overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _plausible(moment: datetime) -> datetime:
    if not EARLIEST <= moment < LATEST:
        raise ValueError("must be a time between 1970 and 2200")
    return moment


AgentTime = Annotated[AwareDatetime, AfterValidator(_plausible)]

Name = Annotated[StrictStr, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Description = Annotated[StrictStr, StringConstraints(max_length=1000)]
# Agents choose their own ids (a UUID in practice); keep them printable.
AgentIdText = Annotated[
    StrictStr, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
]
AgentIdList = Annotated[list[AgentIdText], Field(max_length=100_000)]


def text_problem(text: str) -> str | None:
    """What makes text unstorable: PostgreSQL refuses NUL (SQLite would
    keep it silently), and a lone surrogate cannot be written as UTF-8."""
    if "\x00" in text:
        return "text may not contain NUL (\\u0000) characters; remove them"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "text holds a lone UTF-16 surrogate, which is not a character"
    return None


def _check_text(value: Any) -> None:
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            raise ValueError(problem)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_text(item)


class Body(BaseModel):
    """Every request body: unknown fields refused, text safe to store."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        _check_text(value)
        return value


class Changes(Body):
    """A PATCH body: fields left out keep their value; null is refused.

    Subclasses list in `nullable` the fields where null means "clear it".
    """

    nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise ValueError("cannot be null; leave the field out to keep its value")
        return value

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)
