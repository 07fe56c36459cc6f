"""Facts loaded from the entitlements and kept while they are unchanged.

Triggers move the entitlement generation (one row, migrations 0013 and
0015) in the same transaction as any change to cloud users, mappings,
pools, their applications, assignments or catalogs. A fact a process
loaded under one generation is therefore good for as long as the
database still shows that generation, and is loaded again by the first
request that reads another.

Read the generation before the rows it guards: a change committed in
between is then loaded as well, and only makes the next request load
again.
"""

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatmeter.server.usage.models import EntitlementGeneration

GENERATION = select(EntitlementGeneration.value).where(EntitlementGeneration.id == 1)

Fact = TypeVar("Fact")


class Kept(Generic[Fact]):
    """One fact per process, kept by database, by generation and by what
    else its loading depends on (`depends`, passed on to `load`)."""

    def __init__(self, load: Callable[..., Fact]) -> None:
        self._load = load
        self._kept: tuple[Hashable, Fact] | None = None

    def get(self, session: Session, generation: int | None, *depends: Hashable) -> Fact:
        """The fact as of `generation`, read here when the caller has not
        read it in this transaction already."""
        if generation is None:
            generation = int(session.execute(GENERATION).scalar_one())
        key = (str(session.connection().engine.url), generation, *depends)
        kept = self._kept
        if kept is not None and kept[0] == key:
            return kept[1]
        fact = self._load(session, *depends)
        self._kept = (key, fact)
        return fact
