"""Cursor paging for every list: `{"items": [...], "next": cursor|null}`.

A cursor is the sort key of the last item given, so pages stay correct
while rows are added, and reading page N costs the same as page 1.
"""

import base64
import json
from typing import Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from seatmeter.server.errors import invalid

Item = TypeVar("Item")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class Page:
    def __init__(
        self,
        cursor: str | None = Query(None, description="`next` from the previous page"),
        limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
    ) -> None:
        self.after = decode(cursor) if cursor else None
        self.limit = limit

    def result(self, items: list[Any], key: Any) -> dict[str, Any]:
        """Trim the extra row fetched to learn whether more pages follow."""
        more = len(items) > self.limit
        items = items[: self.limit]
        next_cursor = encode(key(items[-1])) if more and items else None
        return {"items": items, "next": next_cursor}


def encode(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def decode(cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded))
    except ValueError:
        key = None
    if not isinstance(key, list):
        raise invalid(
            "cursor",
            cursor,
            "is not a cursor this API gave out; pass the previous page's `next` unchanged",
        )
    return key


class Listing(BaseModel, Generic[Item]):
    """The shape of every list the API returns."""

    items: list[Item]
    next: str | None = Field(description="pass as `cursor` for the next page")
