"""The uplink sorts failures into what the agent can do about them, and
the agent's settings come from flags, environment or a file."""

import httpx
import pytest

from seatmeter.agent import config
from seatmeter.agent.uplink import (
    BatchRejected,
    BatchTooLarge,
    CredentialRefused,
    ServerUnreachable,
    Uplink,
)


def uplink_answering(status: int, body: object = None) -> Uplink:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body)

    return Uplink("http://seatmeter.test", transport=httpx.MockTransport(answer))


def error(code: str, **detail: object) -> dict[str, object]:
    return {"error": {"code": code, "message": "m", "details": [detail] if detail else []}}


@pytest.mark.parametrize(
    ("status", "body", "raised"),
    [
        (401, error("unauthorized"), CredentialRefused),
        (413, error("body_too_large"), BatchTooLarge),
        (422, error("invalid_event", event_id="e-1"), BatchRejected),
        (503, error("database_unavailable"), ServerUnreachable),
        (500, "not json at all", ServerUnreachable),
        (429, None, ServerUnreachable),
    ],
)
def test_failures_are_sorted(status, body, raised):
    with pytest.raises(raised):
        uplink_answering(status, body).send("sma_x", [{"event_id": "e-1"}])


def test_a_rejected_batch_names_its_events():
    with pytest.raises(BatchRejected) as rejected:
        uplink_answering(422, error("invalid_event", event_id="e-7")).send("sma_x", [])

    assert rejected.value.event_ids == ["e-7"]


def test_no_answer_is_unreachable():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    uplink = Uplink("http://seatmeter.test", transport=httpx.MockTransport(refuse))

    with pytest.raises(ServerUnreachable, match="ConnectTimeout"):
        uplink.check_in("sma_x", {})


def test_settings_flag_beats_environment_beats_file(tmp_path):
    file = tmp_path / "agent.toml"
    file.write_text('server = "https://file"\nbatch_size = 50\nscan_interval_override_s = 30\n')
    environ = {"SEATMETER_AGENT_SERVER": "https://env", "SEATMETER_AGENT_BATCH_SIZE": "70"}

    loaded = config.load({"server": "https://flag"}, environ=environ, file=file)

    assert (loaded.server, loaded.batch_size, loaded.scan_interval_override_s) == (
        "https://flag",
        70,
        30,
    )


@pytest.mark.parametrize(
    ("flags", "environ", "message"),
    [
        ({"scan_interval_override_s": "-1"}, {}, "scan_interval_override_s (from flag) is '-1'"),
        ({}, {"SEATMETER_AGENT_BATCH_SIZE": "many"}, "batch_size (from environment) is 'many'"),
    ],
)
def test_bad_settings_are_named(flags, environ, message):
    with pytest.raises(config.ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config.load(flags, environ=environ)


def test_unknown_file_setting_is_named(tmp_path):
    file = tmp_path / "agent.toml"
    file.write_text('sever = "https://typo"\n')

    with pytest.raises(config.ConfigError, match="unknown setting 'sever'"):
        config.load({}, environ={}, file=file)
