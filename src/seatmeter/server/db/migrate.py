"""Schema changes, only ever through Alembic migrations."""

import logging

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from seatmeter.server.db.engine import Database

log = logging.getLogger(__name__)

SCRIPTS = __name__.rsplit(".", 1)[0] + ":migrations"
# Any constant works; it only has to be the same in every server process.
PG_MIGRATION_LOCK = 0x5EA7_3E7E


def upgrade(database: Database, revision: str = "head") -> None:
    """Bring the schema to `revision`, safely from several processes at once.

    PostgreSQL runs the whole upgrade in one transaction under an advisory
    lock; SQLite takes its write lock first. Either way a second server
    starting at the same moment waits, then finds nothing left to do.
    """
    before = current_revision(database)
    with database.write_engine.begin() as connection:
        if database.dialect == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK}
            )
        config = _config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    after = current_revision(database)
    if after != before:
        log.info("database schema upgraded from %s to %s", before, after)


def current_revision(database: Database) -> str | None:
    with database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPTS)
    return config
