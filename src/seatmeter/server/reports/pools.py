"""The product pools a report speaks of: those its filters allow."""

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatmeter.server.entitlements.models import ProductPool
from seatmeter.server.reports.parameters import Filters


def pools_for(
    session: Session, filters: Filters, used: Iterable[int] = ()
) -> Sequence[ProductPool]:
    """Active pools, and pools with use, that the filters allow, by id.
    (current-usage applies the same rule to the pools it keeps.)"""
    pool: Any = ProductPool
    query = select(ProductPool)
    if filters.product_pool_id is not None:
        query = query.where(pool.id == filters.product_pool_id)
    else:
        query = query.where(pool.active | pool.id.in_([int(i) for i in used]))
    if filters.license_server_id is not None:
        query = query.where(pool.license_server_id == filters.license_server_id)
    return session.scalars(query.order_by(ProductPool.id)).all()
