"""What the agent tells the server is wrong, in words an administrator
can act on. The agent reports its current problems at every check-in;
the server keeps when each first appeared."""

from typing import Any

from seatmeter.agent.processes import Scan
from seatmeter.agent.tracker import Seen

MAX_PROBLEMS = 100

CONSENT_STEPS = (
    "in the application open the Desktop Analytics page, check 'I agree "
    "to data collection in desktop products for Autodesk analytics "
    "programs', click OK and restart the application"
)


class Problems:
    def __init__(self, hostname: str) -> None:
        self.hostname = hostname
        self._scan: list[dict[str, Any]] = []
        self._state: list[dict[str, Any]] = []
        self._unrecognised: list[dict[str, Any]] = []
        self._rejected: list[dict[str, Any]] = []

    def current(self) -> list[dict[str, Any]]:
        problems = self._scan + self._state + self._unrecognised + self._rejected
        return problems[:MAX_PROBLEMS]

    def from_scan(self, scan: Scan, silent: list[Seen], idle_window_s: float) -> None:
        problems = [
            {"code": "unknown_product_code", "message": sentence}
            for sentence in sorted(scan.problems)
        ]
        problems += [self._consent(process, idle_window_s) for process in silent]
        if scan.denied:
            problems.append(
                {
                    "code": "process_access_denied",
                    "message": f"{scan.denied} Autodesk process(es) could not be "
                    "inspected; run the agent as a service with administrator rights",
                }
            )
        self._scan = problems

    def from_state(
        self, dropped: int, limit: int, unwritable: str = "", os_error: str = ""
    ) -> None:
        self._state = []
        if unwritable:
            self._state.append(self._unwritable(unwritable, os_error, limit))
        if dropped:
            self._state.append(
                {
                    "code": "outbox_overflow",
                    "message": f"{dropped} session event(s) were dropped: the outbox "
                    f"holds at most {limit} while the server cannot be reached",
                    "detail": {"dropped": dropped},
                }
            )

    def unrecognised(self, names: list[str]) -> None:
        self._unrecognised = []
        if names:
            self._unrecognised.append(
                {
                    "code": "unrecognised_autodesk_processes",
                    "message": "processes under an Autodesk folder that the product "
                    f"catalog does not know: {', '.join(names)}",
                    "detail": {"names": ", ".join(names)},
                }
            )

    def rejected(self, count: int, reason: str) -> None:
        self._rejected = [
            {
                "code": "events_rejected",
                "message": f"the server refused {count} session event(s) for good "
                f"({reason}); they are kept in the agent's state folder",
            }
        ]

    def _unwritable(self, error: str, os_error: str, limit: int) -> dict[str, Any]:
        system = f" (the system says: {os_error})" if os_error else ""
        return {
            "code": "state_unwritable",
            "message": f"on {self.hostname}, {error}{system}. Until then the agent "
            f"keeps up to {limit} session event(s) in memory and sends them; they "
            "are lost if the agent stops before the state folder works again",
            "detail": {"hostname": self.hostname, "error": error, "os_error": os_error},
        }

    def _consent(self, process: Seen, idle_window_s: float) -> dict[str, Any]:
        minutes = round(idle_window_s / 60)
        return {
            "code": "legacy_consent_missing",
            "message": f"{process.application} {process.release} run by "
            f"{process.username} on {self.hostname} wrote no usage file in "
            f"{minutes} minutes: consent to Autodesk analytics data collection "
            f"is probably missing; {CONSENT_STEPS}",
            "detail": {
                "hostname": self.hostname,
                "username": process.username,
                "application": process.application,
                "release": process.release,
            },
        }
