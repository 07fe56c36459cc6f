"""The server's settings, as data: name, type, default, limits and help.

Each setting can come from a flag, an environment variable
`SEATMETER_<NAME>` or a TOML file (`--config`), in that order of
precedence, and is checked at start-up with a message that names the
setting, where the value came from, the value, and what is allowed.
`docs/settings.md` documents every one; a test keeps the two in step.
"""

import base64
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seatmeter import settings_file

ENV_PREFIX = "SEATMETER_"


@dataclass(frozen=True)
class Setting:
    name: str
    kind: type
    default: Any
    help: str
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()
    # Returns what is wrong with a value, or None when it is usable.
    check: Callable[[Any], str | None] | None = None


SETTINGS = (
    Setting(
        "data_dir",
        Path,
        Path("seatmeter-data"),
        "Folder for the SQLite database and the encryption key.",
    ),
    Setting(
        "database_url",
        str,
        None,
        "SQLAlchemy URL of the database; empty means SQLite in data_dir. "
        "PostgreSQL: postgresql+psycopg://user:password@host/database.",
        check=lambda url: _database_url_problem(url),
    ),
    Setting(
        "database_pool_size",
        int,
        20,
        "Database connections each server process keeps open; up to as many "
        "again are opened for bursts. Requests wait when all are busy.",
        minimum=1,
        maximum=200,
    ),
    Setting("host", str, "127.0.0.1", "Address the server listens on."),
    Setting("port", int, 8470, "TCP port the server listens on.", minimum=1, maximum=65535),
    Setting(
        "public_url",
        str,
        None,
        "URL people and Autodesk use to reach this server; empty means the "
        "URL each request came in on.",
    ),
    Setting(
        "secret_key",
        str,
        None,
        "Key that encrypts Autodesk credentials at rest (Fernet, base64). "
        "Empty means a key generated once in data_dir/secret.key; give the "
        "same key to every server process that shares one PostgreSQL.",
        check=lambda key: _fernet_key_problem(key),
    ),
    Setting(
        "max_body_bytes",
        int,
        1_048_576,
        "Largest request body accepted, in bytes.",
        minimum=1024,
        maximum=64 * 1_048_576,
    ),
    Setting(
        "max_events_per_batch",
        int,
        1000,
        "Most session events one agent request may carry.",
        minimum=1,
        maximum=100_000,
    ),
    Setting(
        "agent_checkin_interval_s",
        int,
        60,
        "Seconds between an agent's check-ins; an agent is offline after two missed ones.",
        minimum=5,
        maximum=86_400,
    ),
    Setting(
        "agent_standing_refresh_ms",
        int,
        1000,
        "How stale an agent's standing (credential, groups, monitoring) "
        "kept between check-ins may be: changes reach check-ins within "
        "this. 0 reads the change log before every check-in.",
        minimum=0,
        maximum=60_000,
    ),
    Setting(
        "agent_scan_interval_s",
        int,
        15,
        "Seconds between an agent's process scans.",
        minimum=1,
        maximum=3600,
    ),
    Setting(
        "legacy_idle_window_s",
        int,
        1800,
        "Seconds without a trackable action after which a pre-2020 "
        "application stops counting as used.",
        minimum=60,
        maximum=86_400,
    ),
    Setting(
        "identity_rules",
        str,
        "explicit,email,first_last",
        "Rules that map a host user (CORP\\jdoe) to cloud users, in order, "
        "comma-separated; the first rule that finds anyone decides. "
        "explicit: the administrator's user mappings; email: the name "
        "equals the email's local part; first_last: the name equals "
        "first.last. Names compare case-insensitively.",
        check=lambda rules: _identity_rules_problem(rules),
    ),
    Setting(
        "identity_email_domains",
        str,
        None,
        "Email domains (comma-separated, e.g. corp.com,corp.co.uk) the "
        "email and first_last rules may match; empty means any domain.",
        check=lambda domains: _email_domains_problem(domains),
    ),
    Setting(
        "web_session_hours",
        int,
        12,
        "Hours a sign-in to the web UI lasts before the password is asked again.",
        minimum=1,
        maximum=720,
    ),
    Setting(
        "autodesk_rate_limit",
        int,
        60,
        "Most Team Admin API calls per team per rate window; Autodesk allows 60 a minute.",
        minimum=1,
        maximum=10_000,
    ),
    Setting(
        "autodesk_rate_window_s",
        int,
        60,
        "Seconds in one Team Admin rate window, aligned to the UTC clock; "
        "calls are paced evenly across it.",
        minimum=1,
        maximum=3600,
    ),
    Setting(
        "autodesk_retries",
        int,
        6,
        "Times one Team Admin call is retried after a 429, a 503, a timeout "
        "or a dropped connection before the sync fails.",
        minimum=0,
        maximum=50,
    ),
    Setting(
        "autodesk_timeout_s",
        int,
        30,
        "Seconds to wait for Autodesk to answer one call.",
        minimum=1,
        maximum=600,
    ),
    Setting(
        "scheduler",
        str,
        "on",
        "Whether this process runs due syncs and the daily token refresh "
        "(several processes may all say on: each sync runs once).",
        choices=("on", "off"),
    ),
    Setting(
        "report_time_zone",
        str,
        "UTC",
        "IANA time zone in which reports cut days, weeks and months, e.g. "
        "Europe/Paris; a request may choose another with `tz`.",
        check=lambda name: _time_zone_problem(name),
    ),
    Setting(
        "session_retention_days",
        int,
        0,
        "Days a session is kept after it ended; older ones and their events "
        "are deleted once a day by the scheduler. 0 keeps them for ever.",
        minimum=0,
        maximum=36500,
    ),
    Setting(
        "log_level",
        str,
        "info",
        "How much the server logs.",
        choices=("debug", "info", "warning", "error"),
    ),
    Setting(
        "log_format",
        str,
        "text",
        "How log lines look: text for people, json for one JSON object per "
        "line (time, level, logger, message and any ids) for a log collector.",
        choices=("text", "json"),
    ),
)

BY_NAME = {setting.name: setting for setting in SETTINGS}


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message says why."""


@dataclass(frozen=True)
class Settings:
    """The values in force; defaults live in SETTINGS alone (see `load`)."""

    data_dir: Path
    # Kept out of repr: both may hold a password or a key.
    database_url: str | None = field(repr=False)
    database_pool_size: int
    host: str
    port: int
    public_url: str | None
    secret_key: str | None = field(repr=False)
    max_body_bytes: int
    max_events_per_batch: int
    agent_checkin_interval_s: int
    agent_standing_refresh_ms: int
    agent_scan_interval_s: int
    legacy_idle_window_s: int
    identity_rules: str
    identity_email_domains: str | None
    web_session_hours: int
    autodesk_rate_limit: int
    autodesk_rate_window_s: int
    autodesk_retries: int
    autodesk_timeout_s: int
    scheduler: str
    report_time_zone: str
    session_retention_days: int
    log_level: str
    log_format: str
    # Where each value came from: "flag", "environment", a file, "default".
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'seatmeter.db'}"


def load(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Settings from flags, then environment, then file, then defaults."""
    environ = os.environ if environ is None else environ
    config_file = config_file or _config_file_from(environ)
    layers = [
        ("flag", {k: v for k, v in (flags or {}).items() if v is not None}),
        ("environment", _from_environment(environ)),
        (f"file {config_file}", _from_file(config_file) if config_file else {}),
    ]
    values = {setting.name: setting.default for setting in SETTINGS}
    sources = dict.fromkeys(values, "default")
    for setting in SETTINGS:
        for source, layer in layers:
            if setting.name in layer:
                values[setting.name] = _check(setting, layer[setting.name], source)
                sources[setting.name] = source
                break
    return Settings(**values, sources=sources)


def _config_file_from(environ: Mapping[str, str]) -> Path | None:
    path = environ.get(ENV_PREFIX + "CONFIG")
    return Path(path) if path else None


def _from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    names = (setting.name for setting in SETTINGS)
    return {
        name: environ[ENV_PREFIX + name.upper()]
        for name in names
        if ENV_PREFIX + name.upper() in environ
    }


def _from_file(path: Path) -> dict[str, Any]:
    return settings_file.read(path, BY_NAME, SettingsError)


def _check(setting: Setting, raw: Any, source: str) -> Any:
    where = f"setting {setting.name} (from {_describe(setting, source)})"
    if raw == "" and setting.default is None:
        return None
    value = _convert(setting, raw, where)
    if setting.minimum is not None and value < setting.minimum:
        raise SettingsError(f"{where} is {value}; use a value of at least {setting.minimum}")
    if setting.maximum is not None and value > setting.maximum:
        raise SettingsError(f"{where} is {value}; use a value of at most {setting.maximum}")
    if setting.choices and value not in setting.choices:
        raise SettingsError(f"{where} is {value!r}; use one of {', '.join(setting.choices)}")
    problem = setting.check(value) if setting.check else None
    if problem:
        raise SettingsError(f"{where} {problem}")
    return value


def _database_url_problem(url: str) -> str | None:
    # Imported here: reading settings should not cost a database stack.
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    example = "postgresql+psycopg://user:password@host/database"
    try:
        parsed = make_url(url)
        parsed.get_dialect()
    except ArgumentError:
        # Unparsable, so no password can be found in it to hide.
        return f"is {url!r}, not a database URL; give one such as {example}"
    except NoSuchModuleError:
        shown = parsed.render_as_string(hide_password=True)
        return f"is {shown!r}, an unknown driver; give a URL such as {example}"
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        shown = parsed.render_as_string(hide_password=True)
        return f"is {shown!r}; Seatmeter runs on sqlite or postgresql"
    return None


IDENTITY_RULES = ("explicit", "email", "first_last")


def _identity_rules_problem(rules: str) -> str | None:
    names = [name.strip() for name in rules.split(",")]
    unknown = [name for name in names if name not in IDENTITY_RULES]
    if unknown or len(set(names)) != len(names):
        return (
            f"is {rules!r}; give some of {', '.join(IDENTITY_RULES)}, each "
            "once, comma-separated, in the order they should apply"
        )
    return None


def _email_domains_problem(domains: str) -> str | None:
    for domain in domains.split(","):
        name = domain.strip()
        if not name or "@" in name or " " in name or "." not in name:
            return (
                f"has {name!r}, not an email domain; give domains such as "
                "corp.com,corp.co.uk (no @), comma-separated"
            )
    return None


def _time_zone_problem(name: str) -> str | None:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(name)
    except (ValueError, KeyError):
        return f"is {name!r}, not a known IANA time zone; give one such as Europe/Paris or UTC"
    return None


def _fernet_key_problem(key: str) -> str | None:
    try:
        decoded = base64.urlsafe_b64decode(key.encode())
    except ValueError:
        decoded = b""
    if len(decoded) != 32:
        return (
            "is not a Fernet key (32 url-safe base64 bytes); make one with: "
            "python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'"
        )
    return None


def _convert(setting: Setting, raw: Any, where: str) -> Any:
    if setting.kind is int:
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise SettingsError(f"{where} is {raw!r}; give a whole number")
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{where} is {raw!r}; give a whole number") from None
    if not isinstance(raw, str | Path):
        raise SettingsError(f"{where} is {raw!r}; give text")
    return setting.kind(raw)


def _describe(setting: Setting, source: str) -> str:
    if source == "environment":
        return f"environment variable {ENV_PREFIX}{setting.name.upper()}"
    if source == "flag":
        return f"flag --{setting.name.replace('_', '-')}"
    return source
