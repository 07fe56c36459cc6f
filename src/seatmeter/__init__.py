"""Seatmeter: how an organisation's Autodesk licenses are really used."""

__version__ = "0.1.0"
