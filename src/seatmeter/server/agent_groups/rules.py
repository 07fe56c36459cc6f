"""Auto-assign rules: which newly enrolled agents join a group.

A rule is a kind and a value: `all` (no value), `hostname` (a glob such as
`CAD-*`, case-insensitive), `os` (windows, linux or macos) or `network`
(an IPv4 network in CIDR form, matched against the address the agent
enrolled from). A group admits an agent when any of its rules matches.
"""

import ipaddress
from fnmatch import fnmatchcase
from typing import Literal

from pydantic import model_validator

from seatmeter.server.api.fields import Body

OPERATING_SYSTEMS = ("windows", "linux", "macos")


class Rule(Body):
    kind: Literal["all", "hostname", "os", "network"]
    value: str | None = None

    @model_validator(mode="after")
    def _value_fits_kind(self) -> "Rule":
        check = _CHECKS[self.kind]
        problem = check(self.value)
        if problem:
            raise ValueError(f"rule {self.kind!r} with value {self.value!r}: {problem}")
        if self.kind == "os" and self.value:
            self.value = self.value.lower()
        return self


def matches(rule: Rule, hostname: str, os: str, ip_address: str | None) -> bool:
    if rule.kind == "all":
        return True
    if rule.kind == "hostname":
        return fnmatchcase(hostname.lower(), (rule.value or "").lower())
    if rule.kind == "os":
        return os.lower() == rule.value
    return _in_network(ip_address, rule.value or "")


def _in_network(ip_address: str | None, cidr: str) -> bool:
    if not ip_address:
        return False
    try:
        return ipaddress.ip_address(ip_address) in ipaddress.ip_network(cidr)
    except ValueError:
        return False


def _check_all(value: str | None) -> str | None:
    return "takes no value; leave value out" if value else None


def _check_hostname(value: str | None) -> str | None:
    if not value or not value.strip():
        return "needs a hostname pattern such as 'CAD-*'"
    return "pattern is longer than 255 characters" if len(value) > 255 else None


def _check_os(value: str | None) -> str | None:
    if (value or "").lower() not in OPERATING_SYSTEMS:
        return f"needs one of {', '.join(OPERATING_SYSTEMS)}"
    return None


def _check_network(value: str | None) -> str | None:
    try:
        ipaddress.IPv4Network(value or "")
    except ValueError as error:
        return f"needs an IPv4 network such as '10.1.0.0/16' ({error})"
    return None


_CHECKS = {
    "all": _check_all,
    "hostname": _check_hostname,
    "os": _check_os,
    "network": _check_network,
}
