"""What a request can reach of the running server: its settings and data."""

from typing import Annotated

from fastapi import Depends, Request

from seatmeter.server.db import Database
from seatmeter.server.secrets import SecretBox
from seatmeter.server.settings import Settings


async def database(request: Request) -> Database:
    db: Database = request.app.state.database
    return db


async def settings(request: Request) -> Settings:
    value: Settings = request.app.state.settings
    return value


async def secret_box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.secret_box
    return box


Db = Annotated[Database, Depends(database)]
Config = Annotated[Settings, Depends(settings)]
Box = Annotated[SecretBox, Depends(secret_box)]
