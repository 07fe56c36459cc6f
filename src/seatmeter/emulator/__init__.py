"""A local Autodesk: the Team Admin API and APS OAuth v2 on loopback.

For development, tests and demos; never part of a deployed server.
See docs/emulator.md for the HTTP contract, the data file and the flags.
"""

from seatmeter.emulator.data import DataFileError, load_data, parse_data
from seatmeter.emulator.generator import generate_team

__all__ = ["DataFileError", "generate_team", "load_data", "parse_data"]
