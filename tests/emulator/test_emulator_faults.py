"""Allowances and injected faults, over real HTTP against a real process."""

import math
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from autodesk_examples import TEAM, example_data
from emulatorproc import Emulator, running_emulator

pytestmark = pytest.mark.slow

WINDOW_S = 2
ATTEMPTS = 3


def users_url(autodesk: Emulator) -> str:
    return f"{autodesk.base_url}/team-admin/v1/teams/{TEAM}/users"


def wait_for_window_start(window_s: float) -> None:
    # Start a burst just after a window opens, so it fits in one window.
    now = time.time()
    time.sleep(math.floor(now / window_s) * window_s + window_s - now + 0.02)


def test_the_sixth_call_in_a_window_is_429_and_the_next_window_works(tmp_path: Path) -> None:
    with running_emulator(example_data(), tmp_path, rate_limit=5, rate_window=WINDOW_S) as autodesk:
        headers = autodesk.bearer(autodesk.sign_in())
        with httpx.Client(headers=headers, timeout=10) as http:
            for _ in range(ATTEMPTS):
                wait_for_window_start(WINDOW_S)
                answers = [http.get(users_url(autodesk)) for _ in range(6)]
                # On a very slow machine a burst may straddle two windows.
                if len({answer.headers["x-ratelimit-reset"] for answer in answers}) == 1:
                    break
            else:
                pytest.fail("no burst of 6 calls fitted in one window")

            assert [answer.status_code for answer in answers] == [200] * 5 + [429]
            remaining = [int(answer.headers["x-ratelimit-remaining"]) for answer in answers]
            assert remaining == [4, 3, 2, 1, 0, 0]
            assert {answer.headers["x-ratelimit-limit"] for answer in answers} == {"5"}
            refused = answers[-1]
            assert refused.headers["content-type"] == "application/problem+json"
            retry_after = int(refused.headers["retry-after"])
            assert 1 <= retry_after <= WINDOW_S
            reset = int(refused.headers["x-ratelimit-reset"])
            assert reset % WINDOW_S == 0

            time.sleep(max(reset - time.time(), 0) + 0.05)
            assert http.get(users_url(autodesk)).status_code == 200


def test_list_teams_has_its_own_allowance(tmp_path: Path) -> None:
    with running_emulator(example_data(), tmp_path, rate_limit=2, rate_window=3600) as autodesk:
        headers = autodesk.bearer(autodesk.sign_in())
        teams = f"{autodesk.base_url}/team-admin/v1/teams"
        assert [httpx.get(teams, headers=headers).status_code for _ in range(3)] == [200, 200, 429]
        # The team's own allowance is untouched by List Teams.
        assert httpx.get(users_url(autodesk), headers=headers).status_code == 200


def test_fail_rate_answers_about_the_share_asked_with_retry_after(tmp_path: Path) -> None:
    flags = {"fail_rate": 0.3, "seed": 7, "rate_limit": 100_000, "fault_retry_after": 2}
    with running_emulator(example_data(), tmp_path, **flags) as autodesk:
        headers = autodesk.bearer(autodesk.sign_in())
        with httpx.Client(headers=headers, timeout=10) as http:
            answers = [http.get(users_url(autodesk), params={"limit": 1}) for _ in range(200)]
        statuses = Counter(answer.status_code for answer in answers)
        faults = statuses[429] + statuses[503]
        assert statuses[200] + faults == 200
        # 200 draws at 30%: 60 expected, and 35..85 is over 4 sigma wide.
        assert 35 <= faults <= 85
        assert statuses[429] > 10 and statuses[503] > 10
        for answer in answers:
            if answer.status_code != 200:
                assert answer.headers["retry-after"] == "2"
                assert answer.headers["content-type"] == "application/problem+json"
        logged = Counter(call["fault"] for call in autodesk.team_admin_calls())
        assert logged["429"] + logged["503"] == faults


def test_the_same_seed_gives_the_same_faults(tmp_path: Path) -> None:
    runs = []
    for number in range(2):
        folder = tmp_path / str(number)
        with running_emulator(example_data(), folder, fail_rate=0.5, seed=11) as autodesk:
            headers = autodesk.bearer(autodesk.sign_in())
            runs.append(
                [httpx.get(users_url(autodesk), headers=headers).status_code for _ in range(20)]
            )
    assert runs[0] == runs[1]
    assert len(set(runs[0])) > 1


def test_fault_retry_after_may_be_zero(tmp_path: Path) -> None:
    with running_emulator(example_data(), tmp_path, fail_rate=1, fault_retry_after=0) as autodesk:
        headers = autodesk.bearer(autodesk.sign_in())
        response = httpx.get(users_url(autodesk), headers=headers)
        assert response.status_code in (429, 503)
        assert response.headers["retry-after"] == "0"


def test_a_dropped_call_is_a_transport_error_for_httpx(tmp_path: Path) -> None:
    with running_emulator(example_data(), tmp_path, drop_rate=1) as autodesk:
        headers = autodesk.bearer(autodesk.sign_in())
        with pytest.raises(httpx.TransportError):
            httpx.get(users_url(autodesk), headers=headers)
        # The process lives on; the control API turns the drops off.
        assert autodesk.control("PUT", "/faults", {"drop_rate": 0}).status_code == 200
        assert httpx.get(users_url(autodesk), headers=headers).status_code == 200
        faults = [call["fault"] for call in autodesk.team_admin_calls()]
        assert faults == ["drop", None]


def test_exit_after_calls_ends_the_process_after_answering(tmp_path: Path) -> None:
    with running_emulator(example_data(), tmp_path, exit_after_calls=3) as autodesk:
        headers = autodesk.bearer(autodesk.sign_in())
        answers = [httpx.get(users_url(autodesk), headers=headers) for _ in range(3)]
        assert [answer.status_code for answer in answers] == [200, 200, 200]
        assert autodesk.wait_for_exit() == 3
        with pytest.raises(httpx.TransportError):
            httpx.get(users_url(autodesk), headers=headers)
        logged = [call for call in autodesk.logged_calls() if "/team-admin/" in call["path"]]
        assert [call["status"] for call in logged] == [200, 200, 200]


def test_the_call_log_file_survives_a_kill(tmp_path: Path) -> None:
    with running_emulator(example_data(), tmp_path) as autodesk:
        headers = autodesk.bearer(autodesk.sign_in())
        httpx.get(users_url(autodesk), headers={**headers, "X-Request-Id": "before-kill"})
        autodesk.kill()
        assert autodesk.logged_calls()[-1]["request_id"] == "before-kill"


def test_latency_and_faults_can_be_changed_while_running(tmp_path: Path) -> None:
    with running_emulator(example_data(), tmp_path) as autodesk:
        change = {"latency_ms": 5, "fail_rate": 1, "rate_limit": 7}
        now = autodesk.control("PUT", "/faults", change).json()
        assert now["latency_ms"] == 5 and now["fail_rate"] == 1 and now["rate_limit"] == 7
        headers = autodesk.bearer(autodesk.sign_in())
        assert httpx.get(users_url(autodesk), headers=headers).status_code in (429, 503)
        bad = autodesk.control("PUT", "/faults", {"fail_rate": 2})
        assert bad.status_code == 400
        assert bad.json()["errors"][0]["field"] == "fail_rate"
        assert autodesk.control("PUT", "/faults", {"nonsense": 1}).status_code == 400
