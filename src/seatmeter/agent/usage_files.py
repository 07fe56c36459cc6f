"""Trackable actions of pre-2020 applications: their usage files.

Those releases leave a usage file behind at start-up and on each save
(only with the user's consent to Autodesk's analytics programs). Where
the files live is catalog data: glob patterns with placeholders for the
process owner's folders, filled in here.
"""

import glob
import os
import sys
from collections.abc import Callable
from pathlib import Path

from seatmeter.agent.catalog import Catalog
from seatmeter.agent.tracker import Seen


def finder(
    catalog: Catalog, folders: Callable[[str], dict[str, str]] | None = None
) -> Callable[[Seen, float], float | None]:
    """The tracker's action finder: the newest usage file after `since`."""
    folders_of = folders or user_folders

    def latest_action(process: Seen, since: float) -> float | None:
        patterns = catalog.usage_file_patterns(process.application, process.release)
        places = folders_of(process.username)
        if not places:
            return None
        newest = None
        for pattern in patterns:
            for path in glob.glob(_fill(pattern, places), recursive=True):
                modified = _modified(path)
                if modified is not None and modified > since:
                    newest = modified if newest is None else max(newest, modified)
        return newest

    return latest_action


def user_folders(username: str) -> dict[str, str]:
    """The folders a process owner's usage files live under."""
    name = username.rsplit("\\", 1)[-1]
    if sys.platform == "win32":
        drive = os.environ.get("SYSTEMDRIVE", "C:")
        home = f"{drive}\\Users\\{name}"
        return {
            "home": home,
            "appdata": f"{home}\\AppData\\Roaming",
            "localappdata": f"{home}\\AppData\\Local",
            "programdata": os.environ.get("PROGRAMDATA", f"{drive}\\ProgramData"),
        }
    home = str(Path("~" + name).expanduser())
    if home.startswith("~"):
        # No such user here (or a bare uid): nowhere to look.
        return {}
    return {
        "home": home,
        "appdata": f"{home}/.config",
        "localappdata": f"{home}/.local/share",
        "programdata": "/var/lib",
    }


def _fill(pattern: str, places: dict[str, str]) -> str:
    for placeholder, folder in places.items():
        pattern = pattern.replace("{" + placeholder + "}", glob.escape(folder))
    return pattern


def _modified(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None
