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

Only rows whose attribution changes are written, so running it again
after a sync that changed nothing costs reads alone.

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

from sqlalchemy import ColumnElement, or_, select, tuple_, update
from sqlalchemy.orm import Session

from seatmeter.server.entitlements.models import Assignment, CloudUser, ProductPool
from seatmeter.server.sessions.models import UsageSession
from seatmeter.server.usage.identity import Directory
from seatmeter.server.usage.products import Entitlements

log = logging.getLogger(__name__)

CHUNK = 500
Pair = tuple[str, str]  # (host user, application)
Outcome = tuple[str, int | None, int | None]  # (attribution, cloud user, pool)


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
        pairs = _pairs(session, scope)
        if license_server_id is not None and pairs:
            engine = engine or _Engine.load(session)
            pairs = engine.touching(session, license_server_id, pairs, scope)
        if not pairs:
            continue
        engine = engine or _Engine.load(session)
        _store(session, scope, {pair: engine.decide(*pair) for pair in pairs}, counts)

    level = logging.DEBUG if session_ids is not None else logging.INFO
    if counts["changed"]:
        log.log(level, "attribution changed on %d sessions: %s", counts["changed"], dict(counts))
    return dict(counts)


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


def _pairs(session: Session, scope: list[ColumnElement[bool]]) -> set[Pair]:
    query = select(UsageSession.username, UsageSession.application).where(*scope).distinct()
    return {(username, application) for username, application in session.execute(query)}


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
    def load(cls, session: Session) -> "_Engine":
        held = (
            select(Assignment.cloud_user_id, Assignment.product_pool_id)
            .join(ProductPool, ProductPool.id == Assignment.product_pool_id)
            .where(Assignment.active.is_(True), ProductPool.active.is_(True))
        )
        holdings: dict[int, set[int]] = defaultdict(set)
        for cloud_user_id, pool_id in session.execute(held):
            holdings[cloud_user_id].add(pool_id)
        return cls(Directory.load(session), Entitlements.load(session), holdings)

    def decide(self, host_user: str, application: str) -> Outcome:
        people = self.directory.resolve(host_user).cloud_user_ids
        if not people:
            return ("unmapped", None, None)
        for pool in self.entitlements.pools_for(application):
            holders = [person for person in people if pool.pool_id in self.holdings[person]]
            if holders:
                return ("pool", holders[0], pool.pool_id)
        return ("unassigned", people[0], None)

    def touching(
        self,
        session: Session,
        license_server_id: int,
        pairs: set[Pair],
        scope: list[ColumnElement[bool]],
    ) -> set[Pair]:
        """The pairs whose attribution may depend on this license server."""
        users = select(CloudUser.id).where(CloudUser.license_server_id == license_server_id)
        pools = select(ProductPool.id).where(ProductPool.license_server_id == license_server_id)
        server_users = set(session.scalars(users))
        stored = (
            select(UsageSession.username, UsageSession.application)
            .where(
                *scope,
                or_(
                    UsageSession.attribution.is_(None),
                    UsageSession.cloud_user_id.in_(users),
                    UsageSession.product_pool_id.in_(pools),
                ),
            )
            .distinct()
        )
        touched = {(username, application) for username, application in session.execute(stored)}
        for pair in pairs - touched:
            if server_users.intersection(self.directory.resolve(pair[0]).cloud_user_ids):
                touched.add(pair)
        return touched & pairs


def _store(
    session: Session,
    scope: list[ColumnElement[bool]],
    outcomes: dict[Pair, Outcome],
    counts: Counter[str],
) -> None:
    """One UPDATE per outcome (and chunk of pairs), of changed rows only."""
    by_outcome: dict[Outcome, list[Pair]] = defaultdict(list)
    for pair, outcome in outcomes.items():
        by_outcome[outcome].append(pair)
    for (attribution, cloud_user_id, pool_id), pairs in by_outcome.items():
        for start in range(0, len(pairs), CHUNK):
            chunk = sorted(pairs[start : start + CHUNK])
            statement = (
                update(UsageSession)
                .where(*scope)
                .where(tuple_(UsageSession.username, UsageSession.application).in_(chunk))
                .where(_differs(attribution, cloud_user_id, pool_id))
                .values(
                    attribution=attribution,
                    cloud_user_id=cloud_user_id,
                    product_pool_id=pool_id,
                )
                .execution_options(synchronize_session=False)
            )
            changed = _rowcount(session.execute(statement))
            counts["changed"] += changed
            counts[attribution] += changed


def _differs(attribution: str, cloud_user_id: int | None, pool_id: int | None) -> Any:
    return or_(
        UsageSession.attribution.is_distinct_from(attribution),
        UsageSession.cloud_user_id.is_distinct_from(cloud_user_id),
        UsageSession.product_pool_id.is_distinct_from(pool_id),
    )


def _rowcount(result: Any) -> int:
    return int(result.rowcount)
