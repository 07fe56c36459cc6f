"""The product pool each session counts against, stored on the session.

Reports read `sessions.attribution`, `cloud_user_id` and `product_pool_id`
instead of computing them per query, so they stay fast over millions of
sessions. A session's attribution depends only on its host user and its
application, and there are few such pairs but many sessions, so each
pair is resolved once and its sessions are updated in bulk:

- `unmapped`: the identity rules find no cloud user for the host user;
  both ids are null.
- `pool`: one of the host user's cloud users holds an active assignment
  on an active pool that entitles the application; the pool is chosen by
  products.preference, and among its holders the lowest cloud user id.
- `unassigned`: use without an assignment; cloud_user_id is the lowest of
  the host user's cloud user ids, product_pool_id is null.
- null: not yet attributed (sessions stored before attribution existed).

Only pairs whose attribution changes are written, and of those only the
rows that differ, so running it again after a sync that changed nothing
costs one read of the sessions in scope.

Ingestion attributes each batch's new sessions with what attribution
reads (every active cloud user, pool and assignment) kept across
batches: it is loaded again only when the entitlement generation, moved
by triggers on every table it reads (migration 0013), or the identity
rules have changed.

Known shortcoming: entitlements are those in force now, not when the
session ran; a session from before an assignment was removed turns
`unassigned` at the next run. Assignment history (first_seen, last_seen)
would allow better, at the cost of a per-session choice.
"""

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from seatmeter.server.entitlements.models import Assignment, CloudUser, ProductPool
from seatmeter.server.sessions.models import UsageSession
from seatmeter.server.usage.generation import Kept
from seatmeter.server.usage.identity import Directory, IdentityRules, installed
from seatmeter.server.usage.products import Entitlements

log = logging.getLogger(__name__)

CHUNK = 500
Pair = tuple[str, str]  # (host user, application)
Outcome = tuple[str, int | None, int | None]  # (attribution, cloud user, pool)
Stored = tuple[str | None, int | None, int | None]  # null: not yet attributed


def attribute(
    session: Session,
    *,
    license_server_id: int | None = None,
    since: datetime | None = None,
    session_ids: Iterable[int] | None = None,
) -> dict[str, int]:
    """Attribute sessions again, in the caller's transaction.

    All sessions by default; or those that may depend on one license
    server (its cloud users or pools, now or as stored, and those not yet
    attributed); those running at or after `since`; those with these ids.
    Returns how many sessions changed, in all and by new attribution.
    """
    counts: Counter[str] = Counter({"changed": 0, "pool": 0, "unassigned": 0, "unmapped": 0})
    engine: _Engine | None = None
    for scope in _scopes(since, session_ids):
        stored = _pairs(session, scope)
        pairs = set(stored)
        if license_server_id is not None and pairs:
            engine = engine or _Engine.load(session)
            pairs = engine.touching(session, license_server_id, stored)
        if not pairs:
            continue
        engine = engine or _Engine.load(session)
        outcomes = {pair: engine.decide(*pair) for pair in pairs}
        changes = {pair: new for pair, new in outcomes.items() if stored[pair] != {new}}
        _store(session, scope, changes, counts)

    level = logging.DEBUG if session_ids is not None else logging.INFO
    if counts["changed"]:
        log.log(level, "attribution changed on %d sessions: %s", counts["changed"], dict(counts))
    return dict(counts)


def outcomes(
    session: Session, pairs: Iterable[Pair], generation: int | None = None
) -> dict[Pair, Outcome]:
    """How sessions of these pairs are attributed now: for sessions about
    to be stored, so that they are stored attributed (ingestion).

    Only for transactions that change no entitlements: what they load is
    kept for others under the generation they read (generation.GENERATION,
    read here unless the caller read it already in this transaction)."""
    wanted = set(pairs)
    if not wanted:
        return {}
    engine = _kept_engine(session, generation)
    return {pair: engine.decide(*pair) for pair in wanted}


# The last engine loaded, by database, entitlement generation and rules.
_ENGINE: "Kept[_Engine]" = Kept(lambda session, rules: _Engine.load(session, rules))


def _kept_engine(session: Session, generation: int | None) -> "_Engine":
    """The engine for the entitlements committed now: the one kept when
    nothing changed since, else loaded and kept."""
    return _ENGINE.get(session, generation, installed())


def _scopes(
    since: datetime | None, session_ids: Iterable[int] | None
) -> list[list[ColumnElement[bool]]]:
    """The WHERE clauses of each round; ids come in chunks, one a round."""
    common: list[ColumnElement[bool]] = []
    if since is not None:
        common.append(or_(UsageSession.ended_at.is_(None), UsageSession.ended_at >= since))
    if session_ids is None:
        return [common]
    ids = sorted(set(session_ids))
    return [
        [*common, UsageSession.id.in_(ids[start : start + CHUNK])]
        for start in range(0, len(ids), CHUNK)
    ]


def _pairs(session: Session, scope: list[ColumnElement[bool]]) -> dict[Pair, set[Stored]]:
    """Each pair in scope with the outcomes stored on its sessions now:
    one scan, after which only pairs whose outcome changes are written."""
    query = (
        select(
            UsageSession.username,
            UsageSession.application,
            UsageSession.attribution,
            UsageSession.cloud_user_id,
            UsageSession.product_pool_id,
        )
        .where(*scope)
        .distinct()
    )
    pairs: dict[Pair, set[Stored]] = defaultdict(set)
    for username, application, attribution, cloud_user_id, pool_id in session.execute(query):
        pairs[(username, application)].add((attribution, cloud_user_id, pool_id))
    return pairs


class _Engine:
    """What attribution needs to know, loaded once for every pair."""

    def __init__(
        self,
        directory: Directory,
        entitlements: Entitlements,
        holdings: dict[int, set[int]],
    ) -> None:
        self.directory = directory
        self.entitlements = entitlements
        self.holdings = holdings

    @classmethod
    def load(cls, session: Session, rules: IdentityRules | None = None) -> "_Engine":
        held = (
            select(Assignment.cloud_user_id, Assignment.product_pool_id)
            .join(ProductPool, ProductPool.id == Assignment.product_pool_id)
            .where(Assignment.active.is_(True), ProductPool.active.is_(True))
        )
        holdings: dict[int, set[int]] = defaultdict(set)
        for cloud_user_id, pool_id in session.execute(held):
            holdings[cloud_user_id].add(pool_id)
        return cls(Directory.load(session, rules), Entitlements.load(session), holdings)

    def decide(self, host_user: str, application: str) -> Outcome:
        people = self.directory.resolve(host_user).cloud_user_ids
        if not people:
            return ("unmapped", None, None)
        for pool in self.entitlements.pools_for(application):
            holders = [person for person in people if pool.pool_id in self.holdings.get(person, ())]
            if holders:
                return ("pool", holders[0], pool.pool_id)
        return ("unassigned", people[0], None)

    def touching(
        self, session: Session, license_server_id: int, stored: dict[Pair, set[Stored]]
    ) -> set[Pair]:
        """The pairs whose attribution may depend on this license server:
        stored with its cloud users or pools, resolving to its cloud users
        now, not yet attributed, or left inconsistent by a deletion."""
        users = set(
            session.scalars(
                select(CloudUser.id).where(CloudUser.license_server_id == license_server_id)
            )
        )
        pools = set(
            session.scalars(
                select(ProductPool.id).where(ProductPool.license_server_id == license_server_id)
            )
        )

        def touches(outcome: Stored) -> bool:
            attribution, cloud_user_id, pool_id = outcome
            deleted = (attribution != "unmapped" and cloud_user_id is None) or (
                attribution == "pool" and pool_id is None
            )
            return attribution is None or deleted or cloud_user_id in users or pool_id in pools

        return {
            pair
            for pair, outcomes in stored.items()
            if any(touches(outcome) for outcome in outcomes)
            or users.intersection(self.directory.resolve(pair[0]).cloud_user_ids)
        }


# The new outcome of each changed pair, for one UPDATE joined to it. A
# temporary table, private to the connection and never in migrations.
_changes = Table(
    "attribution_changes",
    MetaData(),
    Column("username", String(255), primary_key=True),
    Column("application", String(100), primary_key=True),
    Column("attribution", String(16), nullable=False),
    Column("cloud_user_id", Integer),
    Column("product_pool_id", Integer),
    prefixes=["TEMPORARY"],
)
_CREATE_CHANGES = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS attribution_changes ("
    "username VARCHAR(255) NOT NULL, application VARCHAR(100) NOT NULL, "
    "attribution VARCHAR(16) NOT NULL, cloud_user_id INTEGER, product_pool_id INTEGER, "
    "PRIMARY KEY (username, application))"
)


def _store(
    session: Session,
    scope: list[ColumnElement[bool]],
    changes: dict[Pair, Outcome],
    counts: Counter[str],
) -> None:
    """Write the changed pairs' outcomes: one UPDATE per attribution value,
    joined to a temporary table of them, of the rows that differ only.
    One statement per pair would cost a round trip each."""
    if not changes:
        return
    session.execute(text(_CREATE_CHANGES))
    session.execute(delete(_changes))
    rows = [
        {
            "username": username,
            "application": application,
            "attribution": attribution,
            "cloud_user_id": cloud_user_id,
            "product_pool_id": pool_id,
        }
        for (username, application), (attribution, cloud_user_id, pool_id) in changes.items()
    ]
    session.execute(insert(_changes), rows)
    sessions = UsageSession.__table__.c
    for attribution in sorted({outcome[0] for outcome in changes.values()}):
        statement = (
            update(UsageSession)
            .where(*scope)
            .where(
                _changes.c.attribution == attribution,
                sessions.username == _changes.c.username,
                sessions.application == _changes.c.application,
                or_(
                    sessions.attribution.is_distinct_from(_changes.c.attribution),
                    sessions.cloud_user_id.is_distinct_from(_changes.c.cloud_user_id),
                    sessions.product_pool_id.is_distinct_from(_changes.c.product_pool_id),
                ),
            )
            .values(
                attribution=_changes.c.attribution,
                cloud_user_id=_changes.c.cloud_user_id,
                product_pool_id=_changes.c.product_pool_id,
            )
            .execution_options(synchronize_session=False)
        )
        changed = _rowcount(session.execute(statement))
        counts["changed"] += changed
        counts[attribution] += changed
    session.execute(delete(_changes))


def _rowcount(result: Any) -> int:
    return int(result.rowcount)
