"""The agent runs on every workstation: importing it must not load the
server's stack. Checked in a fresh interpreter, since this test process
has long since imported the server.

The fresh interpreter cannot import the server's packages at all, as on
a workstation where only the agent is installed (`pip install seatmeter`
without the [server] extra): the agent must import cleanly there, and
the optional imports of its libraries (httpx loads click for its own
command line when it finds it) must not count against it."""

import json
import subprocess
import sys

AGENT_MODULES = [
    "seatmeter.agent.cli",
    "seatmeter.agent.runner",
    "seatmeter.agent.processes",
    "seatmeter.agent.uplink",
    "seatmeter.agent.state",
    "seatmeter.agent.catalog",
    "seatmeter.agent.tracker",
    "seatmeter.agent.usage_files",
    "seatmeter.agent.problems",
]
SERVER_STACK = [
    "fastapi",
    "starlette",
    "sqlalchemy",
    "alembic",
    "pydantic",
    "uvicorn",
    "psycopg",
    "argon2",
    "cryptography",
    "click",
]

PROBE = """\
import importlib, importlib.abc, json, sys  # noqa

class AgentOnlyInstall(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {stack!r}:
            raise ImportError(f"{{name}} is not installed with the agent")
        return None

sys.meta_path.insert(0, AgentOnlyInstall())
for name in {modules!r}:
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)))
"""


def test_the_agent_imports_none_of_the_servers_stack() -> None:
    loaded = imported_by(AGENT_MODULES)

    assert set(AGENT_MODULES) <= loaded
    server_stack = sorted({_top(name) for name in loaded} & set(SERVER_STACK))
    assert server_stack == [], "the agent's imports load the server's stack"
    server = sorted(name for name in loaded if name.startswith("seatmeter.server"))
    assert server == [], "the agent's imports load the server's own modules"


def imported_by(modules: list[str]) -> set[str]:
    """Every module in sys.modules after importing these, in a fresh
    interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(modules=modules, stack=SERVER_STACK)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout))


def _top(module: str) -> str:
    return module.split(".", 1)[0]
