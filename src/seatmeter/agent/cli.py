"""`seatmeter-agent`: run the agent, or ask what it is doing.

seatmeter-agent run --server URL --token AGENT_TOKEN [--state-dir DIR]
seatmeter-agent status [--state-dir DIR]
"""

import argparse
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from seatmeter.agent import config as agent_config
from seatmeter.agent.config import AgentConfig, ConfigError
from seatmeter.agent.guarded_state import GuardedState
from seatmeter.agent.state import AgentState, StateError

STATE_FILE = "agent-state.db"


def main(argv: list[str] | None = None) -> None:
    arguments = _parser().parse_args(argv)
    try:
        config = agent_config.load(_flags(arguments), file=arguments.config)
    except ConfigError as error:
        sys.exit(f"seatmeter-agent: {error}")
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if arguments.command == "run":
            run(config)
        else:
            status(config)
    except StateError as error:
        sys.exit(f"seatmeter-agent: {error}")


def run(config: AgentConfig) -> None:
    from seatmeter.agent.runner import Agent
    from seatmeter.agent.uplink import Uplink

    if not config.server:
        sys.exit("seatmeter-agent: no server given; use --server URL or SEATMETER_AGENT_SERVER")
    # Never exits on an unusable state folder: it reports it and waits.
    state = GuardedState(
        config.state_dir / STATE_FILE, config.max_outbox_events, config.state_retry_s
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    agent = Agent(config, state, Uplink(config.server, config.verify))
    logging.getLogger(__name__).info(
        "agent %s on %s reporting to %s", agent.agent_id, agent.hostname, config.server
    )
    agent.run(stop)
    state.close()


def status(config: AgentConfig) -> None:
    path = config.state_dir / STATE_FILE
    if not path.exists():
        sys.exit(f"seatmeter-agent: no agent state in {config.state_dir}; is the agent running?")
    state = AgentState(path, config.max_outbox_events)
    for line in [*describe(state), writable(state)]:
        print(line)
    state.close()


def writable(state: AgentState) -> str:
    """Whether the agent can write its state, found by writing to it."""
    try:
        state.put("status_checked_at", time.time())
    except StateError as error:
        return f"state:         UNWRITABLE: {error}; the agent keeps events in memory"
    return "state:         writable"


def describe(state: AgentState) -> list[str]:
    told: dict[str, Any] = state.get("instructions") or {}
    seen: dict[str, Any] = state.get("status") or {}
    lines = [f"agent id:      {state.get('agent_id')}"]
    lines.append(f"enrolled:      {'yes' if state.get('credential') else 'no'}")
    if seen:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seen.get("at", 0)))
        word = "reachable" if seen.get("reachable") else f"unreachable ({seen.get('reason')})"
        lines.append(f"server:        {word}, last try {when}")
    else:
        lines.append("server:        not contacted yet")
    monitoring = "yes" if told.get("monitoring") else "no"
    lines.append(
        f"monitoring:    {monitoring}: {told.get('reason', 'no word from the server yet')}"
    )
    sessions = state.open_sessions()
    lines.append(f"open sessions: {len(sessions)}")
    lines += [
        f"  {s.application} {s.version} by {s.username} (pid {s.pid}, {s.source})" for s in sessions
    ]
    lines.append(f"outbox:        {state.depth()} event(s) waiting, {state.dropped()} dropped")
    return lines


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seatmeter-agent", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("run", "run the agent"), ("status", "what the agent is doing")):
        command = commands.add_parser(name, help=text)
        command.add_argument("--state-dir", type=Path, help="folder of the agent's state")
        command.add_argument("--config", type=Path, help="TOML file of settings")
        command.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
        if name == "run":
            command.add_argument("--server", help="URL of the Seatmeter server")
            command.add_argument("--token", help="agent-scope token, to enrol")
            command.add_argument("--ca-bundle", help="CA certificates to verify the server")
            command.add_argument("--scan-interval", dest="scan_interval_override_s", type=float)
            command.add_argument(
                "--checkin-interval", dest="checkin_interval_override_s", type=float
            )
    return parser


def _flags(arguments: argparse.Namespace) -> dict[str, Any]:
    names = ("state_dir", "log_level", "server", "token", "ca_bundle",
             "scan_interval_override_s", "checkin_interval_override_s")  # fmt: skip
    return {name: getattr(arguments, name, None) for name in names}
