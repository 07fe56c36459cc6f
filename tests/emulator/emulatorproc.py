"""A real `seatmeter emulator autodesk` process for tests, on loopback.

    from emulator.emulatorproc import running_emulator   # other folders
    from emulatorproc import running_emulator            # tests/emulator

    with running_emulator(generate_team(users=20), tmp_path, rate_limit=5) as autodesk:
        tokens = autodesk.sign_in()            # authorize + token, as a client does
        httpx.get(autodesk.base_url + "/team-admin/v1/teams", headers=autodesk.bearer(tokens))
        autodesk.calls()                       # the call log
        autodesk.control("PUT", "/faults", {"fail_rate": 0.5})

Every keyword is a flag of the command (`rate_window=2` -> `--rate-window
2`). The data dict is written to `tmp_path/autodesk-data.json`, the call
log to `tmp_path/autodesk-calls.jsonl` (read it with `logged_calls()`
even after `kill()`). The process is ready once /_emulator/health says
200 and is always stopped on leaving the block.
"""

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
from serverproc import clean_environment, free_port

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.05
START_ATTEMPTS = 3
REDIRECT_URI = "http://127.0.0.1/seatmeter/callback"
ALL_SCOPES = " ".join(
    f"tmadmapi:{scope}"
    for scope in (
        "team:read",
        "team-users:read",
        "team-users:write",
        "team-products:read",
        "team-products:write",
    )
)


class Emulator:
    """A started emulator process; `kill` and `stop` are safe at any time."""

    def __init__(self, data: dict[str, Any], folder: Path, **flags: Any) -> None:
        self.data = data
        self.folder = folder
        self.flags = flags
        self.port = 0
        self.data_path = folder / "autodesk-data.json"
        self.log_path = folder / "autodesk-calls.jsonl"
        self.output_path = folder / "autodesk-output.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def client(self) -> dict[str, Any]:
        """The first client of the data file."""
        return dict(self.data["clients"][0])

    # -- process ------------------------------------------------------------

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.data_path.write_text(json.dumps(self.data), encoding="utf-8")
        for attempt in range(START_ATTEMPTS):
            self.port = self.flags.get("port") or free_port()
            self._spawn()
            if self._ready():
                return
            taken = "address already in use" in self.output().lower()
            self.stop()
            if not taken or "port" in self.flags or attempt == START_ATTEMPTS - 1:
                break
        raise AssertionError(f"emulator did not become ready:\n{self.output()}")

    def _spawn(self) -> None:
        flags = {"data": self.data_path, "log": self.log_path, **self.flags, "port": self.port}
        argv = [sys.executable, "-m", "seatmeter", "emulator", "autodesk"]
        for name, value in flags.items():
            flag = "--" + name.replace("_", "-")
            if value is True or value is False:
                argv += [flag] if value else []
            else:
                argv += [flag, str(value)]
        with self.output_path.open("ab") as output:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=clean_environment(),
            )

    def _ready(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    return False
                try:
                    if client.get(f"{self.base_url}/_emulator/health").status_code == 200:
                        return True
                except httpx.TransportError:
                    pass
                time.sleep(POLL_INTERVAL_S)
        return False

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it hangs."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def kill(self) -> None:
        """SIGKILL at once: Autodesk vanishing mid-conversation."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def wait_for_exit(self, timeout: float = 10.0) -> int:
        """The exit code once the process ends on its own."""
        assert self.process is not None, "not running"
        code = self.process.wait(timeout)
        self.process = None
        return code

    def output(self) -> str:
        try:
            return self.output_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no output)"

    # -- control API and call log ---------------------------------------------

    def control(self, method: str, path: str, json: Any = None) -> httpx.Response:
        """Call the control API; `path` is under /_emulator (e.g. "/faults")."""
        url = f"{self.base_url}/_emulator/{path.lstrip('/')}"
        return httpx.request(method, url, json=json, timeout=10.0)

    def calls(self) -> list[dict[str, Any]]:
        response = self.control("GET", "/calls")
        response.raise_for_status()
        calls: list[dict[str, Any]] = response.json()["data"]
        return calls

    def team_admin_calls(self) -> list[dict[str, Any]]:
        return [call for call in self.calls() if call["path"].startswith("/team-admin/")]

    def logged_calls(self) -> list[dict[str, Any]]:
        """The --log file, readable after the process is gone."""
        if not self.log_path.exists():
            return []
        lines = self.log_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def tokens(self) -> list[dict[str, Any]]:
        tokens: list[dict[str, Any]] = self.control("GET", "/tokens").json()["data"]
        return tokens

    # -- OAuth, as a client does it --------------------------------------------

    def authorize(self, redirect_uri: str = REDIRECT_URI, **params: str) -> str:
        """The code from the authorize redirect (the admin approves at once)."""
        query = {
            "client_id": self.client["client_id"],
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "scope": ALL_SCOPES,
            "state": "test-state",
            **params,
        }
        response = httpx.get(f"{self.base_url}/authentication/v2/authorize", params=query)
        assert response.status_code == 302, response.text
        return parse_qs(urlparse(response.headers["location"]).query)["code"][0]

    def token(self, **form: str) -> httpx.Response:
        client = self.client
        return httpx.post(
            f"{self.base_url}/authentication/v2/token",
            data=form,
            auth=(client["client_id"], client["client_secret"]),
        )

    def sign_in(self, scope: str = ALL_SCOPES) -> dict[str, Any]:
        """Authorize and exchange the code: the token response."""
        code = self.authorize(scope=scope)
        response = self.token(grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI)
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        return tokens

    @staticmethod
    def bearer(tokens: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens['access_token']}"}


@contextmanager
def running_emulator(data: dict[str, Any], tmp_path: Path, **flags: Any) -> Iterator[Emulator]:
    emulator = Emulator(data, tmp_path, **flags)
    try:
        emulator.start()
        yield emulator
    finally:
        emulator.stop()
