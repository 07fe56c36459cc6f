"""The workstation agent: recognises Autodesk applications and reports
their sessions to the Seatmeter server.

Its import closure is deliberately small (psutil, httpx and the standard
library): it runs on every workstation, so it must not carry the server's
stack. A test checks that importing it loads none of it.
"""
