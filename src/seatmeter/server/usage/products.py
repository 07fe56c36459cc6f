"""Which product pools entitle which applications.

The catalog's `entitled_by` names, for each application, the products and
collections whose seats entitle it, in Autodesk's offer names. A pool
entitles an application when its name, normalised, equals one of those
names, normalised. Autodesk's pool names vary ("AutoCAD - including
specialized toolsets", "Architecture Engineering & Construction Collection
IC"), so normalising lower-cases the name, reads `&` and `+` as "and",
drops a leading "Autodesk", a subtitle after " - ", anything in brackets,
an "including ..." tail, release years and trailing offer words such as
"IC" or "Subscription", and then applies ALIASES. Where that still gets a
pool wrong, an administrator sets its applications explicitly
(`PUT /api/v1/product-pools/{id}/applications`), which replaces the rule
for that pool until removed.

When several pools could count one session, `preference` orders them: a
product's pool before a collection's (a name with "collection" or
"suite"), then the pool entitling fewer applications (the more specific:
an "AutoCAD Plant 3D" pool before an "AutoCAD" one for Plant 3D), then
the lowest pool id (the pool Seatmeter saw first), so that the choice
never changes between runs while the data does not.
"""

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatmeter.agent.catalog import Catalog, load_packaged, parse
from seatmeter.server.catalogs import service as catalogs
from seatmeter.server.entitlements.models import ProductPool
from seatmeter.server.usage.models import PoolApplications

# Other names Autodesk and administrators use, normalised, for the
# catalog's names, normalised.
ALIASES = {
    "aec collection": "architecture engineering and construction collection",
    "aec industry collection": "architecture engineering and construction collection",
    "pdm collection": "product design and manufacturing collection",
    "pd and m collection": "product design and manufacturing collection",
    "me collection": "media and entertainment collection",
    "m and e collection": "media and entertainment collection",
    "inventor": "inventor professional",
    "revit lt suite": "autocad revit lt suite",
    "fusion 360": "fusion",
}
_OFFER_WORDS = frozenset({"ic", "commercial", "subscription", "new", "named", "user", "single"})
_SUBTITLE = re.compile(r"\s[-\u2013\u2014]\s.*$|\(.*?\)|\[.*?\]|\bincluding\b.*$")
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def normalise(name: str) -> str:
    """A pool or product name reduced to what identifies the product."""
    text = name.lower().replace("&", " and ").replace("+", " and ")
    text = _YEAR.sub(" ", _SUBTITLE.sub(" ", text))
    words = _NOT_WORD.sub(" ", text).split()
    if words[:1] == ["autodesk"]:
        words = words[1:]
    while words and words[-1] in _OFFER_WORDS:
        words.pop()
    plain = " ".join(words)
    return ALIASES.get(plain, plain)


def is_collection(name: str) -> bool:
    words = normalise(name).split()
    return "collection" in words or "suite" in words


@dataclass(frozen=True)
class PoolEntitlement:
    pool_id: int
    name: str
    applications: tuple[str, ...]
    source: str  # "explicit": set by an administrator; "name": by rule
    collection: bool

    def preference(self) -> tuple[bool, int, int]:
        """Sort key: the first pool by it counts the session."""
        return (self.collection, len(self.applications), self.pool_id)

    def shown(self) -> dict[str, Any]:
        return {
            "product_pool_id": self.pool_id,
            "name": self.name,
            "normalised_name": normalise(self.name),
            "kind": "collection" if self.collection else "product",
            "source": self.source,
            "applications": list(self.applications),
        }


def current_catalog(session: Session) -> Catalog:
    # The packaged catalog is parsed once a process, and a Catalog is never
    # modified: parsing it again for every batch of sessions cost ~10 ms.
    packaged = load_packaged()
    if catalogs.current_revision(session) == packaged.revision:
        return packaged
    return parse(catalogs.current(session))


def application_names(catalog: Catalog) -> list[str]:
    return [entry["name"] for entry in catalog.as_document()["applications"]]


def by_name_rule(catalog: Catalog, pool_name: str) -> tuple[str, ...]:
    """The applications a pool of this name entitles by the name rule."""
    return _by_normalised_product(catalog).get(normalise(pool_name), ())


@lru_cache(maxsize=4)
def _by_normalised_product(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    """The catalog's applications by each entitling product's name,
    normalised, in catalog order. Once per catalog, not once per pool:
    ingestion loads every pool's applications for each batch, and copying
    the catalog for each pool cost ~2 ms a pool."""
    found: dict[str, list[str]] = {}
    for application in application_names(catalog):
        for product in dict.fromkeys(map(normalise, catalog.entitled_by(application))):
            found.setdefault(product, []).append(application)
    return {product: tuple(applications) for product, applications in found.items()}


def entitlement(catalog: Catalog, pool: ProductPool, explicit: list[str] | None) -> PoolEntitlement:
    if explicit is not None:
        applications, source = tuple(explicit), "explicit"
    else:
        applications, source = by_name_rule(catalog, pool.name), "name"
    return PoolEntitlement(pool.id, pool.name, applications, source, is_collection(pool.name))


class Entitlements:
    """Every active pool's applications, loaded once for many sessions."""

    def __init__(self, pools: list[PoolEntitlement]) -> None:
        by_application: dict[str, list[PoolEntitlement]] = {}
        for pool in sorted(pools, key=PoolEntitlement.preference):
            for application in pool.applications:
                by_application.setdefault(application, []).append(pool)
        self._by_application = by_application

    @classmethod
    def load(cls, session: Session) -> "Entitlements":
        catalog = current_catalog(session)
        explicit: dict[int, list[str]] = {
            pool_id: applications
            for pool_id, applications in session.execute(
                select(PoolApplications.product_pool_id, PoolApplications.applications)
            )
        }
        pools = session.scalars(select(ProductPool).where(ProductPool.active.is_(True)))
        return cls([entitlement(catalog, pool, explicit.get(pool.id)) for pool in pools])

    def pools_for(self, application: str) -> list[PoolEntitlement]:
        """The pools entitling an application, the preferred first."""
        return self._by_application.get(application, [])
