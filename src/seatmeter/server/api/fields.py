"""Field types shared by the API's request bodies."""

from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictStr,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

Name = Annotated[StrictStr, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Description = Annotated[StrictStr, StringConstraints(max_length=1000)]
# Agents choose their own ids (a UUID in practice); keep them printable.
AgentIdText = Annotated[
    StrictStr, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
]
AgentIdList = Annotated[list[AgentIdText], Field(max_length=100_000)]


class Changes(BaseModel):
    """A PATCH body: fields left out keep their value; null is refused.

    Subclasses list in `nullable` the fields where null means "clear it".
    """

    model_config = ConfigDict(extra="forbid")
    nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _refuse_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise ValueError("cannot be null; leave the field out to keep its value")
        return value

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)
