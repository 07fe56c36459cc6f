"""The product pools a report speaks of: those its filters allow."""

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from seatmeter.server.entitlements.models import ProductPool
from seatmeter.server.reports.parameters import Filters


def pools_for(
    session: Session, filters: Filters, used: Iterable[int] = ()
) -> Sequence[ProductPool]:
    """Active pools, and pools with use, that the filters allow, by id."""
    query = select(ProductPool).where(*allowed(filters, used))
    return session.scalars(query.order_by(ProductPool.id)).all()


def allowed(filters: Filters, used: Iterable[int] = ()) -> list[ColumnElement[bool]]:
    """The conditions on ProductPool that `pools_for` applies."""
    pool: Any = ProductPool
    conditions = []
    if filters.product_pool_id is not None:
        conditions.append(pool.id == filters.product_pool_id)
    else:
        conditions.append(pool.active | pool.id.in_([int(i) for i in used]))
    if filters.license_server_id is not None:
        conditions.append(pool.license_server_id == filters.license_server_id)
    return conditions
