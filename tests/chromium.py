"""How the tests start Debian's Chromium under Playwright, in one place."""

from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
# Without these, Chromium reaches for Google's services, which this
# machine's closed network refuses, and stalls.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Kept by CI; copies of the ones the README shows are in docs/screenshots.
SCREENSHOTS = Path(__file__).parents[1] / "artifacts" / "screenshots"
