"""`seatmeter emulator`: the group, loading its commands on first use.

The commands live in commands.py; loading them brings in pydantic and
the emulator's models, which every other `seatmeter` command (and
`seatmeter --help`) should not wait for.
"""

from importlib import import_module

import click

COMMANDS = {
    "autodesk": "Serve the Autodesk Team Admin API and APS OAuth on loopback.",
    "generate": "Write a realistic team as an emulator data file.",
}


class LazyCommands(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        command = getattr(import_module("seatmeter.emulator.commands"), name)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyCommands)
def emulator() -> None:
    """Local stand-ins for outside services (Autodesk)."""
