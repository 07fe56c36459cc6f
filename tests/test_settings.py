"""Settings are data: documented, layered, and checked with exact messages."""

import re
from pathlib import Path

import pytest

from seatmeter.server.settings import SETTINGS, Settings, SettingsError, load

DOCS = Path(__file__).parent.parent / "docs" / "settings.md"


def test_every_setting_is_documented():
    documented = set(re.findall(r"^\| `(\w+)` \| `SEATMETER_(\w+)`", DOCS.read_text(), re.M))

    assert documented == {(s.name, s.name.upper()) for s in SETTINGS}


def test_every_setting_is_a_field_of_settings():
    fields = set(Settings.__dataclass_fields__) - {"sources"}

    assert fields == {setting.name for setting in SETTINGS}


def test_defaults_apply_when_nothing_is_given():
    settings = load(environ={})

    assert settings.port == 8470
    assert settings.effective_database_url == "sqlite:///seatmeter-data/seatmeter.db"
    assert settings.sources["port"] == "default"


def test_flag_beats_environment_beats_file(tmp_path):
    config = tmp_path / "seatmeter.toml"
    config.write_text('port = 9001\nhost = "0.0.0.0"\nlog_level = "debug"\n')
    environ = {"SEATMETER_PORT": "9002", "SEATMETER_HOST": "10.0.0.1"}

    settings = load(flags={"port": 9003}, environ=environ, config_file=config)

    assert (settings.port, settings.host, settings.log_level) == (9003, "10.0.0.1", "debug")
    assert settings.sources["port"] == "flag"
    assert settings.sources["host"] == "environment"
    assert settings.sources["log_level"] == f"file {config}"


def test_config_file_named_by_environment(tmp_path):
    config = tmp_path / "seatmeter.toml"
    config.write_text("agent_checkin_interval_s = 30\n")

    settings = load(environ={"SEATMETER_CONFIG": str(config)})

    assert settings.agent_checkin_interval_s == 30


@pytest.mark.parametrize(
    ("flags", "environ", "message"),
    [
        ({}, {"SEATMETER_PORT": "abc"}, "setting port (from environment variable "
         "SEATMETER_PORT) is 'abc'; give a whole number"),
        ({"port": "0"}, {}, "setting port (from flag --port) is 0; use a value of at least 1"),
        ({"port": "70000"}, {}, "is 70000; use a value of at most 65535"),
        ({"log_level": "loud"}, {}, "is 'loud'; use one of debug, info, warning, error"),
        ({"agent_scan_interval_s": "1.5"}, {}, "is '1.5'; give a whole number"),
    ],
)  # fmt: skip
def test_bad_values_are_named_with_their_source(flags, environ, message):
    with pytest.raises(SettingsError) as raised:
        load(flags=flags, environ=environ)

    assert message in str(raised.value)


def test_file_errors_name_the_file_and_key(tmp_path):
    config = tmp_path / "seatmeter.toml"
    config.write_text("prot = 1\n")
    with pytest.raises(SettingsError, match="unknown setting 'prot'"):
        load(environ={}, config_file=config)

    config.write_text("port = [\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load(environ={}, config_file=config)

    config.write_text("port = true\n")
    with pytest.raises(SettingsError, match=r"port \(from file .*\) is True"):
        load(environ={}, config_file=config)


def test_secrets_stay_out_of_repr():
    key = "Vf4cFqU8dCXZpVbBM9yVQ0m7mJ6m9fC4b7tX1ZlqZ8Y="
    url = "postgresql+psycopg://u:hunter2@h/d"
    settings = load(flags={"secret_key": key, "database_url": url}, environ={})

    assert key not in repr(settings)
    assert "hunter2" not in repr(settings)


def test_a_bad_database_url_hides_its_password():
    with pytest.raises(SettingsError) as raised:
        load(flags={"database_url": "mysql://u:hunter2@h/d"}, environ={})

    assert "hunter2" not in str(raised.value)
    assert "sqlite or postgresql" in str(raised.value)
