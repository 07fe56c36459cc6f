"""The agent's own settings: where the server is and how to reach it.

Everything about *what* to monitor comes from the server at check-in; the
few settings here can come from flags, environment variables
(`SEATMETER_AGENT_<NAME>`) or a TOML file (`--config`), in that order.
"""

import os
import ssl
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from seatmeter import settings_file

ENV_PREFIX = "SEATMETER_AGENT_"


class ConfigError(ValueError):
    """A setting the agent cannot run with; the message says which."""


@dataclass(frozen=True)
class AgentConfig:
    server: str | None = None
    token: str | None = None
    state_dir: Path = Path()
    ca_bundle: str | None = None
    # Overrides of the server's intervals, for tests and troubleshooting.
    # Named apart from the server's own settings, whose environment
    # variables (SEATMETER_AGENT_SCAN_INTERVAL_S) would otherwise collide.
    scan_interval_override_s: float | None = None
    checkin_interval_override_s: float | None = None
    max_outbox_events: int = 100_000
    batch_size: int = 500
    # First wait before trying an unusable state file again; it doubles.
    state_retry_s: float = 60.0
    log_level: str = "info"

    @property
    def verify(self) -> bool | ssl.SSLContext:
        """Certificates are always verified; a CA bundle adds a private CA."""
        if not self.ca_bundle:
            return True
        return ssl.create_default_context(cafile=self.ca_bundle)


NUMBERS = {"scan_interval_override_s": float, "checkin_interval_override_s": float,
           "max_outbox_events": int, "batch_size": int,
           "state_retry_s": float}  # fmt: skip
LOG_LEVELS = ("debug", "info", "warning", "error")


def default_state_dir() -> Path:
    if sys.platform == "win32":
        return Path(os.environ.get("PROGRAMDATA", r"C:\ProgramData")) / "Seatmeter" / "agent"
    if sys.platform == "darwin":
        return Path("/Library/Application Support/Seatmeter/agent")
    return Path("/var/lib/seatmeter-agent")


def load(
    flags: dict[str, Any], environ: dict[str, str] | None = None, file: Path | None = None
) -> AgentConfig:
    environ = dict(os.environ) if environ is None else environ
    file = file or _path(environ.get(ENV_PREFIX + "CONFIG"))
    layers = [
        ("flag", {k: v for k, v in flags.items() if v is not None}),
        ("environment", _from_environment(environ)),
        (f"file {file}", _from_file(file) if file else {}),
    ]
    values: dict[str, Any] = {"state_dir": default_state_dir()}
    for field in fields(AgentConfig):
        for source, layer in layers:
            if field.name in layer:
                values[field.name] = _convert(field.name, layer[field.name], source)
                break
    return AgentConfig(**values)


def _from_environment(environ: dict[str, str]) -> dict[str, str]:
    names = [field.name for field in fields(AgentConfig)]
    return {n: environ[ENV_PREFIX + n.upper()] for n in names if ENV_PREFIX + n.upper() in environ}


def _from_file(path: Path) -> dict[str, Any]:
    return settings_file.read(path, (f.name for f in fields(AgentConfig)), ConfigError)


def _convert(name: str, value: Any, source: str) -> Any:
    if name == "state_dir":
        return Path(value)
    if name == "log_level" and str(value) not in LOG_LEVELS:
        raise ConfigError(
            f"log_level (from {source}) is {value!r}; use one of {', '.join(LOG_LEVELS)}"
        )
    if name == "ca_bundle" and not Path(str(value)).is_file():
        raise ConfigError(
            f"ca_bundle (from {source}) is {value!r}, which is not a file; "
            "give the path of a PEM file of CA certificates"
        )
    kind = NUMBERS.get(name)
    if kind is None:
        return str(value)
    try:
        number = kind(value)
    except (TypeError, ValueError):
        number = 0
    if isinstance(value, bool) or number <= 0:
        raise ConfigError(f"{name} (from {source}) is {value!r}; give a positive number")
    return number


def _path(text: str | None) -> Path | None:
    return Path(text) if text else None
