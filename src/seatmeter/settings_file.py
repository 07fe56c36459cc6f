"""TOML settings files, read the same way by the server and the agent.

Standard library only: the agent imports it too.
"""

import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def read(path: Path, known: Iterable[str], error: type[ValueError]) -> dict[str, Any]:
    """The file's settings; `error` names the file and what is wrong."""
    try:
        content = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as problem:
        raise error(f"config file {path}: cannot read it ({problem.strerror})") from None
    except tomllib.TOMLDecodeError as problem:
        raise error(f"config file {path}: not valid TOML ({problem})") from None
    names = sorted(known)
    unknown = sorted(set(content) - set(names))
    if unknown:
        raise error(
            f"config file {path}: unknown setting {unknown[0]!r}; "
            f"known settings are {', '.join(names)}"
        )
    return content
