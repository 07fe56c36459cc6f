"""The product pools a report speaks of: those its filters allow."""

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatmeter.server.entitlements.models import ProductPool
from seatmeter.server.reports.parameters import Filters


def pools_for(
    session: Session, filters: Filters, used: Iterable[int] = ()
) -> Sequence[ProductPool]:
    """Active pools, and pools with use, that the filters allow, by id."""
    query = select(ProductPool).order_by(ProductPool.id)
    if filters.product_pool_id is not None:
        query = query.where(ProductPool.id == filters.product_pool_id)
    else:
        query = query.where(ProductPool.active | ProductPool.id.in_([int(i) for i in used]))
    if filters.license_server_id is not None:
        query = query.where(ProductPool.license_server_id == filters.license_server_id)
    return session.scalars(query).all()
