"""`PATCH /api/v1/product-pools/{pool_id}`: a pool's cost per seat.

Only the cost is Seatmeter's own: everything else about a pool comes
from Autodesk and is changed there. Seat-efficiency multiplies the cost
by the idle seats.
"""

import logging
from typing import Annotated, Any, ClassVar

from fastapi import APIRouter
from pydantic import Field

from seatmeter.server.accounts.auth import Admin
from seatmeter.server.api.fields import Changes, RowId
from seatmeter.server.api.routing import StrictRoute
from seatmeter.server.api.state import Db
from seatmeter.server.entitlements.models import ProductPool
from seatmeter.server.errors import not_found

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/product-pools", tags=["product pools"], route_class=StrictRoute)

# Finite by construction: JSON has no Infinity and the parser refuses NaN.
Cost = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]


class PoolChanges(Changes):
    nullable: ClassVar[frozenset[str]] = frozenset({"cost_per_seat"})

    cost_per_seat: Cost | None = Field(
        None, description="what one seat costs for the period you compare; null clears it"
    )


@router.patch("/{pool_id}")
def change_pool(pool_id: RowId, changes: PoolChanges, _: Admin, db: Db) -> dict[str, Any]:
    with db.writing() as session:
        pool = session.get(ProductPool, pool_id)
        if pool is None:
            raise not_found("product pool", pool_id, "GET /api/v1/reports/current-usage")
        for name, value in changes.changes().items():
            setattr(pool, name, value)
        log.info("product pool %s: cost per seat set to %s", pool_id, pool.cost_per_seat)
        return {
            "id": pool.id,
            "name": pool.name,
            "license_server_id": pool.license_server_id,
            "total_seats": pool.total_seats,
            "cost_per_seat": pool.cost_per_seat,
        }
