"""`/api/v1/product-pools`, `/cloud-users`, `/assignments`: what the team owns.

Lists in the API's `{"items", "next"}` form, ordered by id, each
filterable by `license_server_id`. Rows no longer listed by Autodesk stay,
with `active` false, so history reads the same way as the present.
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from seatmeter.server.accounts.auth import Reader
from seatmeter.server.api.fields import MAX_ID
from seatmeter.server.api.paging import Listing, Page
from seatmeter.server.api.routing import StrictRoute
from seatmeter.server.api.state import Db
from seatmeter.server.entitlements.models import (
    Assignment,
    CloudUser,
    PoolSeatCount,
    ProductPool,
)
from seatmeter.server.usage import identity

router = APIRouter(prefix="/api/v1", tags=["entitlements"], route_class=StrictRoute)

ServerFilter = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="only this license server's")
]
PoolFilter = Annotated[int | None, Query(ge=1, le=MAX_ID, description="only this pool's")]
ActiveFilter = Annotated[bool | None, Query(description="only current (true) or past (false)")]


class ProductPoolOut(BaseModel):
    id: int
    license_server_id: int
    product_id: str
    name: str
    total_seats: int | None
    assigned_seats: int | None
    unlimited: bool
    start_date: datetime | None
    end_date: datetime | None
    first_seen: datetime
    last_seen: datetime
    active: bool


class CloudUserOut(BaseModel):
    id: int
    license_server_id: int
    autodesk_id: str
    email: str | None
    first_name: str | None
    last_name: str | None
    first_seen: datetime
    last_seen: datetime
    active: bool
    host_users: list[str] = Field(
        description="host users (CORP\\jdoe) that map to this cloud user, by the identity rules"
    )


class AssignmentOut(BaseModel):
    id: int
    license_server_id: int
    cloud_user_id: int
    email: str | None
    product_pool_id: int
    product_id: str
    assignment_type: str
    first_seen: datetime
    last_seen: datetime
    active: bool
    unassigned_at: datetime | None
    days_used: int | None
    last_accessed: datetime | None


class SeatCountOut(BaseModel):
    id: int
    product_pool_id: int
    observed_at: datetime
    total_seats: int | None
    assigned_seats: int | None
    unlimited: bool


POOL_FIELDS = tuple(ProductPoolOut.model_fields)
USER_FIELDS = tuple(name for name in CloudUserOut.model_fields if name != "host_users")
COUNT_FIELDS = tuple(SeatCountOut.model_fields)


@router.get("/product-pools", response_model=Listing[ProductPoolOut])
def list_product_pools(
    _: Reader,
    db: Db,
    license_server_id: ServerFilter = None,
    active: ActiveFilter = None,
    page: Page = Depends(),
) -> dict[str, Any]:
    query = _filtered(select(ProductPool), ProductPool, license_server_id, active, page)
    with db.reading() as session:
        rows = session.scalars(query).all()
        items = [{name: getattr(row, name) for name in POOL_FIELDS} for row in rows]
    return page.result(items, key=lambda item: [item["id"]])


@router.get("/cloud-users", response_model=Listing[CloudUserOut])
def list_cloud_users(
    _: Reader,
    db: Db,
    license_server_id: ServerFilter = None,
    active: ActiveFilter = None,
    page: Page = Depends(),
) -> dict[str, Any]:
    query = _filtered(select(CloudUser), CloudUser, license_server_id, active, page)
    with db.reading() as session:
        rows = session.scalars(query).all()
        items = [{name: getattr(row, name) for name in USER_FIELDS} for row in rows]
        mapped = identity.host_users_for(session, [item["id"] for item in items])
    for item in items:
        item["host_users"] = mapped[item["id"]]
    return page.result(items, key=lambda item: [item["id"]])


@router.get("/assignments", response_model=Listing[AssignmentOut])
def list_assignments(
    _: Reader,
    db: Db,
    license_server_id: ServerFilter = None,
    active: ActiveFilter = None,
    page: Page = Depends(),
) -> dict[str, Any]:
    joined = (
        select(Assignment, CloudUser.email, ProductPool.product_id)
        .join(CloudUser, CloudUser.id == Assignment.cloud_user_id)
        .join(ProductPool, ProductPool.id == Assignment.product_pool_id)
    )
    query = _filtered(joined, Assignment, license_server_id, active, page)
    with db.reading() as session:
        items = [_assignment(*row) for row in session.execute(query).all()]
    return page.result(items, key=lambda item: [item["id"]])


@router.get("/product-pool-seat-counts", response_model=Listing[SeatCountOut])
def list_seat_counts(
    _: Reader,
    db: Db,
    license_server_id: ServerFilter = None,
    product_pool_id: PoolFilter = None,
    page: Page = Depends(),
) -> dict[str, Any]:
    """Each pool's seat counts from each moment a sync saw them change."""
    query = select(PoolSeatCount)
    if license_server_id is not None:
        query = query.join(ProductPool).where(ProductPool.license_server_id == license_server_id)
    if product_pool_id is not None:
        query = query.where(PoolSeatCount.product_pool_id == product_pool_id)
    if page.after:
        query = query.where(PoolSeatCount.id > _after(page.after))
    with db.reading() as session:
        rows = session.scalars(query.order_by(PoolSeatCount.id).limit(page.limit + 1)).all()
        items = [{name: getattr(row, name) for name in COUNT_FIELDS} for row in rows]
    return page.result(items, key=lambda item: [item["id"]])


def _filtered(
    query: Any, model: Any, server_id: int | None, active: bool | None, page: Page
) -> Any:
    """The query narrowed by the filters, one page plus one row long."""
    if server_id is not None:
        query = query.where(model.license_server_id == server_id)
    if active is not None:
        query = query.where(model.active.is_(active))
    if page.after:
        query = query.where(model.id > _after(page.after))
    return query.order_by(model.id).limit(page.limit + 1)


def _after(key: list[Any]) -> int:
    return key[0] if key and isinstance(key[0], int) else 0


def _assignment(row: Assignment, email: str | None, product_id: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "license_server_id": row.license_server_id,
        "cloud_user_id": row.cloud_user_id,
        "email": email,
        "product_pool_id": row.product_pool_id,
        "product_id": product_id,
        "assignment_type": row.assignment_type,
        "first_seen": row.first_seen,
        "last_seen": row.last_seen,
        "active": row.active,
        "unassigned_at": row.unassigned_at,
        "days_used": row.days_used,
        "last_accessed": row.last_accessed,
    }
