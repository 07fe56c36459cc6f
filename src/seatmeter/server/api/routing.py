"""Requests parsed more strictly than Python's defaults, on every router.

Python's JSON parser accepts NaN and Infinity, which JSON does not allow
and no response could echo back; query parameters can carry NUL, which
PostgreSQL refuses to store. Body text is checked by `fields.Body`.
"""

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from seatmeter.server.api.fields import text_problem
from seatmeter.server.errors import invalid


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            document = body.decode("utf-8", errors="replace")
            self._json = json.loads(body, parse_constant=_refuse_constant(document))
        return self._json


class StrictRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            for name, value in request.query_params.multi_items():
                problem = text_problem(value)
                if problem:
                    raise invalid(name, value, problem)
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler


def _refuse_constant(document: str) -> Callable[[str], Any]:
    def refuse(name: str) -> Any:
        raise json.JSONDecodeError(
            f"{name} is not a number JSON allows; send a finite number",
            document,
            document.find(name),
        )

    return refuse
