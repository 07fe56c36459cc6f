"""The `seatmeter emulator` commands: a local Autodesk (Team Admin API
and APS OAuth) for development, tests and demos.

    seatmeter emulator autodesk --port 8740 --data team.json --fail-rate 0.1
    seatmeter emulator generate --users 2000 --seed 7 --out team.json

Every field of EmulatorConfig is a flag of `autodesk`, with its default
and help from there; the values are checked by the same model.
"""

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from seatmeter.emulator.config import EmulatorConfig

F = Callable[..., Any]
log = logging.getLogger(__name__)
DEFAULT_USERS = 50
METAVARS = {
    str(int): "N",
    str(float): "NUMBER",
    str(int | None): "N",
    str(Path | None): "FILE",
}
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def config_options(command: F) -> F:
    """One flag per EmulatorConfig field, all defaulting to "not given"."""
    for name, field in reversed(EmulatorConfig.model_fields.items()):
        flag = "--" + name.replace("_", "-")
        shown = "" if field.default is None else f" [default: {field.default}]"
        help_text = f"{field.description}{shown}"
        if field.annotation is bool:
            option = click.option(flag, name, is_flag=True, default=None, help=help_text)
        else:
            metavar = METAVARS.get(str(field.annotation), "TEXT")
            option = click.option(flag, name, default=None, metavar=metavar, help=help_text)
        command = option(command)
    return command


@click.command()
@config_options
def autodesk(**options: Any) -> None:
    """Serve the Autodesk Team Admin API and APS OAuth on loopback."""
    import uvicorn

    from seatmeter.emulator.app import create_app
    from seatmeter.emulator.faults import QuietDrops

    config = _config(options)
    data = _data(config)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("uvicorn.error").addFilter(QuietDrops())
    app = create_app(config, data)
    clients = ", ".join(client.client_id for client in data.clients)
    click.echo(f"Autodesk emulator on http://{config.host}:{config.port}/ (clients: {clients})")
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        log_level="warning",
        access_log=False,
        server_header=False,
    )


def _config(options: dict[str, Any]) -> EmulatorConfig:
    given = {name: value for name, value in options.items() if value is not None}
    try:
        return EmulatorConfig.model_validate(given)
    except ValidationError as error:
        first = error.errors()[0]
        flag = "--" + str(first["loc"][0]).replace("_", "-")
        raise click.UsageError(f"{flag} {first.get('input')!r}: {first['msg']}") from None


def _data(config: EmulatorConfig) -> Any:
    from seatmeter.emulator.data import DataFileError, load_data, parse_data
    from seatmeter.emulator.generator import generate_team

    try:
        if config.data is None:
            return parse_data(generate_team(users=DEFAULT_USERS), source="generated team")
        return load_data(config.data)
    except DataFileError as error:
        raise click.UsageError(f"--data: {error}") from None


@click.command()
@click.option("--users", type=click.IntRange(min=1), required=True, help="Cloud users to make.")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same team.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="File (else stdout).")
@click.option("--team-id", default="100001", show_default=True)
@click.option("--team-name", default="Example Team", show_default=True)
@click.option("--client-id", default="demo-client", show_default=True)
@click.option("--client-secret", default="demo-secret", show_default=True)
@click.option("--admin", default="admin@example.com", show_default=True, help="Team admin email.")
def generate(out: Path | None, **options: Any) -> None:
    """Write a realistic team as an emulator data file."""
    from seatmeter.emulator.generator import generate_team

    text = json.dumps(generate_team(**options), indent=1)
    if out is None:
        sys.stdout.write(text + "\n")
        return
    out.write_text(text + "\n", encoding="utf-8")
    click.echo(f"wrote a team of {options['users']} users to {out}", err=True)
