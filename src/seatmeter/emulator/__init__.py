"""A local Autodesk: the Team Admin API and APS OAuth v2 on loopback.

For development, tests and demos; never part of a deployed server.
See docs/emulator.md for the HTTP contract, the data file and the flags.

The names below load on first use, so that `seatmeter --help` (which
registers the emulator's commands) does not pay for the data models.
"""

from importlib import import_module
from typing import Any

_HOMES = {
    "DataFileError": "seatmeter.emulator.data",
    "load_data": "seatmeter.emulator.data",
    "parse_data": "seatmeter.emulator.data",
    "generate_team": "seatmeter.emulator.generator",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'seatmeter.emulator' has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)
