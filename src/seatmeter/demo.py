"""`seatmeter demo`: the server on the embedded database, ready to use.

For now it prepares an admin token and serves; the full demo (emulated
Autodesk team, simulated agents, 90 days of usage) builds on this.
"""

import uvicorn
from sqlalchemy import delete, select

from seatmeter.server.accounts.models import ApiToken
from seatmeter.server.accounts.service import create_token
from seatmeter.server.app import create_app
from seatmeter.server.db import Database
from seatmeter.server.db.migrate import upgrade
from seatmeter.server.settings import Settings

TOKEN_FILE = "demo-admin-token.txt"


def run(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.effective_database_url)
    upgrade(database)
    token = _admin_token(database, settings)
    url = f"http://{settings.host}:{settings.port}"
    print(f"\nSeatmeter demo at {url}/docs  (API explorer)")
    print(f"Admin API token: {token}")
    print(f"  curl -H 'Authorization: Bearer {token}' {url}/api/v1/agent-groups\n")
    uvicorn.run(
        create_app(settings, database),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        server_header=False,
    )


def _admin_token(database: Database, settings: Settings) -> str:
    """One demo token, kept in the data folder so restarts reuse it."""
    path = settings.data_dir / TOKEN_FILE
    with database.writing() as session:
        exists = session.scalar(select(ApiToken.id).where(ApiToken.name == "demo"))
        if exists is not None and path.exists():
            return path.read_text().strip()
        if exists is not None:
            session.execute(delete(ApiToken).where(ApiToken.name == "demo"))
        _, token = create_token(session, "demo", "admin")
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token
