"""Autodesk's cursor paging: `limit` 1..100 (default 50) and an opaque
`cursor`; the envelope is `{"data", "pagination": {"cursor", "hasMore"}}`.

A cursor encodes the listing it belongs to (team, operation, filters)
and an offset, so a cursor from another listing is refused, not misread.
"""

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from starlette.datastructures import QueryParams

from seatmeter.emulator.problems import invalid

DEFAULT_LIMIT = 50
MAX_LIMIT = 100

T = TypeVar("T")


def page(
    query: QueryParams, listing: str, items: Sequence[T], shown: Callable[[T], Any]
) -> dict[str, Any]:
    limit = page_limit(query.get("limit"))
    start = cursor_offset(query.get("cursor"), listing, len(items))
    end = start + limit
    more = end < len(items)
    return {
        "data": [shown(item) for item in items[start:end]],
        "pagination": {"cursor": _cursor(listing, end) if more else None, "hasMore": more},
    }


def page_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    try:
        limit = int(text)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid("limit", f"limit must be a whole number from 1 to {MAX_LIMIT}; got {text!r}")
    return limit


def cursor_offset(text: str | None, listing: str, size: int) -> int:
    if text is None or text == "":
        return 0
    try:
        decoded = json.loads(base64.urlsafe_b64decode(text.encode() + b"=" * (-len(text) % 4)))
        offset = decoded["o"] if decoded["l"] == listing else None
    except (binascii.Error, ValueError, TypeError, KeyError):
        offset = None
    if not isinstance(offset, int) or not 0 <= offset <= size:
        raise invalid(
            "cursor",
            f"cursor {text[:40]!r} is not one this listing gave; pass pagination.cursor"
            " from the previous page unchanged, or leave it out for the first page",
        )
    return offset


def _cursor(listing: str, offset: int) -> str:
    raw = json.dumps({"l": listing, "o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
