"""`seatmeter`: run the server and administer it from the shell.

Every setting in seatmeter.server.settings is also a flag on every
command (`--data-dir`, `--database-url`, ...), so one command line can
say everything; the environment and a TOML file (`--config`) work too.
"""

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from seatmeter import logs
from seatmeter.emulator.cli import emulator
from seatmeter.server.settings import SETTINGS, Settings, SettingsError, load

F = Callable[..., Any]


def setting_options(command: F) -> F:
    """Add one flag per setting, all defaulting to "not given"."""
    for setting in reversed(SETTINGS):
        flag = "--" + setting.name.replace("_", "-")
        command = click.option(flag, setting.name, default=None, help=setting.help)(command)
    return click.option(
        "--config",
        type=click.Path(dir_okay=False, path_type=Path),
        help="TOML file of settings (also SEATMETER_CONFIG).",
    )(command)


def settings_from(options: dict[str, Any]) -> Settings:
    config = options.pop("config", None)
    try:
        settings = load(flags=options, config_file=config)
    except SettingsError as error:
        raise click.UsageError(str(error)) from None
    logs.configure(settings.log_level, settings.log_format)
    if settings.log_level != "debug":
        # Alembic narrates every start at INFO; a healthy start says nothing.
        logging.getLogger("alembic").setLevel(logging.WARNING)
        # The connector logs each Autodesk call itself, with its request id.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    return settings


def open_database(settings: Settings) -> Any:
    from seatmeter.server.db import Database
    from seatmeter.server.db.migrate import upgrade

    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    database = Database(settings.effective_database_url, pool_size=settings.database_pool_size)
    upgrade(database)
    return database


@click.group()
@click.version_option(package_name="seatmeter")
def main() -> None:
    """Seatmeter: how your Autodesk licenses are really used."""


@main.command()
@setting_options
def serve(**options: Any) -> None:
    """Apply pending migrations, then serve the API."""
    import uvicorn

    from seatmeter.server.app import create_app

    settings = settings_from(options)
    app = create_app(settings, open_database(settings))
    click.echo(f"Seatmeter listening on http://{settings.host}:{settings.port}/")
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.log_level == "debug",
        server_header=False,
        # None: uvicorn's lines go through our handler, as JSON too.
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
    )


main.add_command(emulator)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@setting_options
def db_upgrade(**options: Any) -> None:
    """Apply every pending migration."""
    from seatmeter.server.db.migrate import current_revision

    database = open_database(settings_from(options))
    click.echo(f"database at revision {current_revision(database)}")


@db.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@setting_options
def db_backup(file: Path, **options: Any) -> None:
    """Copy the SQLite database to FILE while the server runs (PostgreSQL: pg_dump)."""
    from seatmeter.server.db.backup import BackupError, backup

    settings = settings_from(options)
    try:
        made = backup(settings.effective_database_url, file)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"backed up to {made.path}: {made.size_bytes} bytes, {made.sessions} sessions")


@main.group()
def admin() -> None:
    """Accounts of people who sign in."""


@admin.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(["admin", "viewer"]), default="admin")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@setting_options
def admin_create(name: str, role: str, password_stdin: bool, **options: Any) -> None:
    """Create an account NAME; asks for its password."""
    from seatmeter.server.accounts.service import create_account

    settings = settings_from(options)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    database = open_database(settings)
    with _api_errors(), database.writing() as session:
        account = create_account(session, name, password, role)
    click.echo(f"account {account.name!r} created with role {account.role}")


@main.group()
def token() -> None:
    """API tokens for scripts and agents."""


@token.command("create")
@click.option("--scope", type=click.Choice(["admin", "read", "agent"]), required=True)
@click.option("--name", required=True, help="What the token is for.")
@setting_options
def token_create(scope: str, name: str, **options: Any) -> None:
    """Create a token; it is printed once, alone on the last line."""
    from seatmeter.server.accounts.service import create_token

    database = open_database(settings_from(options))
    with _api_errors(), database.writing() as session:
        _, secret = create_token(session, name, scope)
    click.echo(f"token {name!r} with scope {scope} (shown only now):", err=True)
    click.echo(secret)


@main.group("import")
def import_group() -> None:
    """Load entitlements from files, where the Autodesk API is not available."""


@import_group.command("autodesk-csv")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--license-server", "server_id", type=int, required=True, help="Its id.")
@setting_options
def import_autodesk_csv(files: tuple[Path, ...], server_id: int, **options: Any) -> None:
    """Import Autodesk Account's usage-report and user exports (CSV), all or nothing."""
    from seatmeter.server.autodesk.csv_import import ImportProblem, count_rows, import_files

    database = open_database(settings_from(options))
    paths = list(files)
    with click.progressbar(length=count_rows(paths), label="Importing", file=sys.stderr) as bar:
        try:
            with _api_errors():
                outcome = import_files(database, server_id, paths, bar.update)
        except ImportProblem as problem:
            raise click.ClickException(str(problem)) from None
    click.echo(
        f"license server {server_id}: {outcome.pools} pools, {outcome.users} cloud users, "
        f"{outcome.assignments} assignments ({outcome.changes} changes)"
    )


@main.command()
@click.option("--days", type=click.IntRange(1, 366), default=90, help="Days of history.")
@setting_options
def demo(days: int, **options: Any) -> None:
    """The whole system on loopback: server, emulated Autodesk team and
    simulated agents with months of usage, ready to look at."""
    from seatmeter.demo import run

    run(settings_from(options), days=days)


class _api_errors:
    """Show a service's ApiError as a command-line error, not a traceback."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: Any, _trace: Any) -> None:
        from seatmeter.server.errors import ApiError

        if isinstance(error, ApiError):
            raise click.ClickException(error.message)
