"""Who a host user is on Autodesk's side: host user to cloud users.

The rules run in the order the `identity_rules` setting gives, and the
first rule that finds anyone decides (so an administrator's mapping
overrides the name rules for that host user):

- `explicit`: the administrator's user mappings. A mapping for
  `CORP\\jdoe` matches that account only; one for plain `jdoe` matches
  `jdoe` in any domain.
- `email`: the account name (`CORP\\jdoe` without its domain, `jdoe`)
  equals the local part of a cloud user's email (`jdoe@corp.com`).
- `first_last`: the account name equals the cloud user's `first.last`.

Names compare case-insensitively. The email and first_last rules see
only active cloud users whose email domain is in `identity_email_domains`
(any domain when empty); explicit mappings are the administrator's word
and apply as given. A host user may match several cloud users (a shared
admin account; one person on two license servers) and a cloud user
several host users. Nobody is dropped: `unmatched` lists both sides.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seatmeter.server.entitlements.models import CloudUser
from seatmeter.server.sessions.models import UsageSession
from seatmeter.server.settings import BY_NAME, Settings
from seatmeter.server.usage.models import UserMapping


@dataclass(frozen=True)
class IdentityRules:
    """The identity settings, as the rules use them."""

    order: tuple[str, ...]
    email_domains: frozenset[str] = frozenset()  # empty: any domain

    @classmethod
    def from_settings(cls, settings: Settings) -> "IdentityRules":
        return cls.parse(settings.identity_rules, settings.identity_email_domains)

    @classmethod
    def parse(cls, order: str, email_domains: str | None) -> "IdentityRules":
        names = tuple(name.strip() for name in order.split(","))
        domains = (email_domains or "").split(",")
        return cls(names, frozenset(d.strip().lower() for d in domains if d.strip()))


DEFAULT_RULES = IdentityRules.parse(BY_NAME["identity_rules"].default, None)
_installed: dict[str, IdentityRules] = {"rules": DEFAULT_RULES}


def install(settings: Settings) -> None:
    """Make `settings` the rules of this process; the app does it at start.

    Attribution runs from ingestion, the API and the connector's sync,
    none of which carries the settings, so the process holds them here.
    """
    _installed["rules"] = IdentityRules.from_settings(settings)


def installed() -> IdentityRules:
    return _installed["rules"]


def account_name(host_user: str) -> str:
    """`CORP\\jdoe` -> `jdoe`, lower case: the part the name rules see."""
    return host_user.rsplit("\\", 1)[-1].strip().lower()


def host_user_key(host_user: str) -> str:
    return host_user.strip().lower()


@dataclass(frozen=True)
class Resolution:
    rule: str | None  # the rule that decided; None: nobody matched
    cloud_user_ids: tuple[int, ...] = ()


@dataclass
class Directory:
    """Cloud users and explicit mappings, loaded once to resolve many host
    users without a query each."""

    rules: IdentityRules
    explicit: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    by_rule: dict[str, dict[str, set[int]]] = field(
        default_factory=lambda: {"email": defaultdict(set), "first_last": defaultdict(set)}
    )

    @classmethod
    def load(cls, session: Session, rules: IdentityRules | None = None) -> "Directory":
        directory = cls(rules or installed())
        for key, cloud_user_id in session.execute(
            select(UserMapping.host_user_key, UserMapping.cloud_user_id)
        ):
            directory.explicit[key].add(cloud_user_id)
        people = select(CloudUser.id, CloudUser.email, CloudUser.first_name, CloudUser.last_name)
        for person in session.execute(people.where(CloudUser.active.is_(True))):
            directory._index(*person)
        return directory

    def _index(
        self, cloud_user_id: int, email: str | None, first: str | None, last: str | None
    ) -> None:
        local, _, domain = (email or "").strip().lower().rpartition("@")
        if self.rules.email_domains and domain not in self.rules.email_domains:
            return
        if local:
            self.by_rule["email"][local].add(cloud_user_id)
        if first and first.strip() and last and last.strip():
            name = f"{first.strip()}.{last.strip()}".lower()
            self.by_rule["first_last"][name].add(cloud_user_id)

    def resolve(self, host_user: str) -> Resolution:
        """The cloud users a host user is, by the first rule that finds any."""
        name = account_name(host_user)
        for rule in self.rules.order:
            if rule == "explicit":
                found = self.explicit.get(host_user_key(host_user), set())
                if "\\" in host_user:
                    # A mapping of a bare name covers that name in any domain.
                    found = found | self.explicit.get(name, set())
            else:
                found = self.by_rule[rule].get(name, set())
            if found:
                return Resolution(rule, tuple(sorted(found)))
        return Resolution(None)


def known_host_users(session: Session) -> list[str]:
    """Every host user Seatmeter has heard of: in sessions or mappings."""
    in_sessions = session.scalars(select(UsageSession.username).distinct())
    mapped = session.scalars(select(UserMapping.host_user).distinct())
    return sorted(set(in_sessions) | set(mapped))


def host_users_for(session: Session, cloud_user_ids: list[int]) -> dict[int, list[str]]:
    """The host users that map to each of these cloud users, by the
    rules in force; every id given is a key, with [] when none map."""
    directory = Directory.load(session)
    wanted = set(cloud_user_ids)
    found: dict[int, list[str]] = {cloud_user_id: [] for cloud_user_id in cloud_user_ids}
    for host_user in known_host_users(session):
        for cloud_user_id in directory.resolve(host_user).cloud_user_ids:
            if cloud_user_id in wanted:
                found[cloud_user_id].append(host_user)
    return found


def unmatched(session: Session) -> dict[str, list[dict[str, Any]]]:
    """Host users that map to nobody, with their sessions, and active
    cloud users no known host user maps to."""
    directory = Directory.load(session)
    matched: set[int] = set()
    lonely: list[str] = []
    for host_user in known_host_users(session):
        resolution = directory.resolve(host_user)
        matched.update(resolution.cloud_user_ids)
        if resolution.rule is None:
            lonely.append(host_user)
    return {
        "host_users": _host_user_activity(session, lonely),
        "cloud_users": _cloud_users_except(session, matched),
    }


def _host_user_activity(session: Session, host_users: list[str]) -> list[dict[str, Any]]:
    activity = {
        username: (count, last)
        for username, count, last in session.execute(
            select(
                UsageSession.username,
                func.count(),
                func.max(UsageSession.started_at),
            ).group_by(UsageSession.username)
        )
    }
    rows = []
    for host_user in host_users:
        count, last = activity.get(host_user, (0, None))
        rows.append({"host_user": host_user, "sessions": count, "last_started_at": last})
    return rows


def _cloud_users_except(session: Session, matched: set[int]) -> list[dict[str, Any]]:
    people = session.scalars(
        select(CloudUser).where(CloudUser.active.is_(True)).order_by(CloudUser.id)
    )
    return [
        {
            "id": person.id,
            "license_server_id": person.license_server_id,
            "email": person.email,
            "first_name": person.first_name,
            "last_name": person.last_name,
        }
        for person in people
        if person.id not in matched
    ]
