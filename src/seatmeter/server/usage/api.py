"""`/api/v1/user-mappings` and `/api/v1/product-pools/{id}/applications`:
the administrator's corrections to identity and product mapping.

Every change re-attributes the sessions in the same transaction, so the
reports never show an attribution older than the rules.
"""

import logging
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field, StrictInt, StrictStr, StringConstraints
from sqlalchemy import select
from sqlalchemy.orm import Session

from seatmeter.server.accounts.auth import Admin, Reader
from seatmeter.server.api.fields import MAX_ID, Body, RowId
from seatmeter.server.api.paging import Listing, Page
from seatmeter.server.api.routing import StrictRoute
from seatmeter.server.api.state import Db
from seatmeter.server.db import utcnow
from seatmeter.server.entitlements.models import CloudUser, ProductPool
from seatmeter.server.errors import ApiError, invalid, not_found
from seatmeter.server.usage import identity, products
from seatmeter.server.usage.attribution import attribute
from seatmeter.server.usage.models import PoolApplications, UserMapping

log = logging.getLogger(__name__)

router = APIRouter(tags=["usage"], route_class=StrictRoute)

MAPPINGS = "/api/v1/user-mappings"
HostUser = Annotated[
    StrictStr, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)
]
ApplicationName = Annotated[StrictStr, StringConstraints(min_length=1, max_length=100)]


class UserMappingIn(Body):
    host_user: HostUser = Field(description="as sessions show it, e.g. CORP\\jdoe, or jdoe")
    cloud_user_id: Annotated[StrictInt, Field(ge=1, le=MAX_ID)]


class UserMappingOut(BaseModel):
    id: int
    host_user: str
    cloud_user_id: int
    email: str | None = Field(description="the cloud user's")
    created_at: datetime


class UnmatchedHostUser(BaseModel):
    host_user: str
    sessions: int
    last_started_at: datetime | None


class UnmatchedCloudUser(BaseModel):
    id: int
    license_server_id: int
    email: str | None
    first_name: str | None
    last_name: str | None


class Unmatched(BaseModel):
    host_users: list[UnmatchedHostUser] = Field(description="map to no cloud user")
    cloud_users: list[UnmatchedCloudUser] = Field(description="no known host user maps to them")


class Resolved(BaseModel):
    host_user: str
    rule: Literal["explicit", "email", "first_last"] | None = Field(
        description="the rule that decided; null: no cloud user matches"
    )
    cloud_user_ids: list[int]


class PoolApplicationsIn(Body):
    applications: Annotated[list[ApplicationName], Field(max_length=500)] = Field(
        description="catalog application names; [] for none"
    )


class PoolApplicationsOut(BaseModel):
    product_pool_id: int
    name: str
    normalised_name: str = Field(description="what the name rule compares")
    kind: Literal["product", "collection"] = Field(description="products come first")
    source: Literal["explicit", "name"] = Field(description="set by an administrator, or by rule")
    applications: list[str]


@router.get(MAPPINGS, response_model=Listing[UserMappingOut])
def list_mappings(
    _: Reader,
    db: Db,
    page: Page = Depends(),
    host_user: str | None = Query(None, max_length=255, description="this host user's only"),
) -> dict[str, Any]:
    """The administrator's explicit mappings, oldest first."""
    after = page.after[0] if page.after else 0
    query = (
        select(UserMapping, CloudUser.email)
        .join(CloudUser, CloudUser.id == UserMapping.cloud_user_id)
        .where(UserMapping.id > after)
        .order_by(UserMapping.id)
        .limit(page.limit + 1)
    )
    if host_user:
        query = query.where(UserMapping.host_user_key == identity.host_user_key(host_user))
    with db.reading() as session:
        items = [_mapping_shown(mapping, email) for mapping, email in session.execute(query)]
    return page.result(items, key=lambda item: [item["id"]])


@router.post(MAPPINGS, status_code=201, response_model=UserMappingOut)
def create_mapping(body: UserMappingIn, _: Admin, db: Db) -> dict[str, Any]:
    """Map a host user to a cloud user; it overrides the name rules."""
    with db.writing() as session:
        person = session.get(CloudUser, body.cloud_user_id)
        if person is None:
            raise invalid(
                "cloud_user_id",
                body.cloud_user_id,
                "names no cloud user; see GET /api/v1/cloud-users for their ids",
            )
        key = identity.host_user_key(body.host_user)
        _refuse_duplicate(session, key, body.host_user, person.id)
        mapping = UserMapping(host_user=body.host_user, host_user_key=key, cloud_user_id=person.id)
        session.add(mapping)
        session.flush()
        log.info("user mapping %d: %s -> cloud user %d", mapping.id, key, person.id)
        attribute(session)
        return _mapping_shown(mapping, person.email)


@router.get(f"{MAPPINGS}/unmatched", response_model=Unmatched)
def list_unmatched(_: Reader, db: Db) -> dict[str, Any]:
    """Host users no rule maps, and active cloud users nobody maps to.

    Not paged: both lists are bounded by the people in the organisation.
    """
    with db.reading() as session:
        return identity.unmatched(session)


@router.get(f"{MAPPINGS}/resolve", response_model=Resolved)
def resolve(
    _: Reader, db: Db, host_user: str = Query(min_length=1, max_length=255)
) -> dict[str, Any]:
    """Which cloud users a host user is, and by which rule: to check a rule."""
    with db.reading() as session:
        resolution = identity.Directory.load(session).resolve(host_user)
    return {
        "host_user": host_user,
        "rule": resolution.rule,
        "cloud_user_ids": list(resolution.cloud_user_ids),
    }


@router.delete(f"{MAPPINGS}/{{mapping_id}}", status_code=204)
def delete_mapping(mapping_id: RowId, _: Admin, db: Db) -> Response:
    with db.writing() as session:
        mapping = session.get(UserMapping, mapping_id)
        if mapping is None:
            raise not_found("user mapping", mapping_id, MAPPINGS)
        session.delete(mapping)
        session.flush()
        log.info("user mapping %d removed", mapping_id)
        attribute(session)
    return Response(status_code=204)


POOL_APPLICATIONS = "/api/v1/product-pools/{pool_id}/applications"


@router.get(POOL_APPLICATIONS, response_model=PoolApplicationsOut)
def get_pool_applications(pool_id: RowId, _: Reader, db: Db) -> dict[str, Any]:
    """The applications a pool entitles, and whether by rule or by hand."""
    with db.reading() as session:
        return _pool_shown(session, _pool(session, pool_id))


@router.put(POOL_APPLICATIONS, response_model=PoolApplicationsOut)
def set_pool_applications(
    pool_id: RowId, body: PoolApplicationsIn, _: Admin, db: Db
) -> dict[str, Any]:
    """Set a pool's applications by hand, replacing the name rule."""
    with db.writing() as session:
        pool = _pool(session, pool_id)
        applications = _known_applications(session, body.applications)
        stored = session.get(PoolApplications, pool.id)
        if stored is None:
            session.add(PoolApplications(product_pool_id=pool.id, applications=applications))
        else:
            stored.applications = applications
            stored.updated_at = utcnow()
        session.flush()
        log.info("product pool %d: applications set to %s", pool.id, applications)
        attribute(session)
        return _pool_shown(session, pool)


@router.delete(POOL_APPLICATIONS, response_model=PoolApplicationsOut)
def reset_pool_applications(pool_id: RowId, _: Admin, db: Db) -> dict[str, Any]:
    """Forget the hand-set applications: the name rule applies again."""
    with db.writing() as session:
        pool = _pool(session, pool_id)
        stored = session.get(PoolApplications, pool.id)
        if stored is not None:
            session.delete(stored)
            session.flush()
            log.info("product pool %d: applications follow the name rule again", pool.id)
            attribute(session)
        return _pool_shown(session, pool)


def _mapping_shown(mapping: UserMapping, email: str | None) -> dict[str, Any]:
    return {
        "id": mapping.id,
        "host_user": mapping.host_user,
        "cloud_user_id": mapping.cloud_user_id,
        "email": email,
        "created_at": mapping.created_at,
    }


def _refuse_duplicate(session: Session, key: str, host_user: str, cloud_user_id: int) -> None:
    existing = session.scalar(
        select(UserMapping.id).where(
            UserMapping.host_user_key == key, UserMapping.cloud_user_id == cloud_user_id
        )
    )
    if existing is not None:
        raise ApiError(
            409,
            "mapping_exists",
            f"host_user: {host_user!r} is already mapped to cloud user "
            f"{cloud_user_id} (user mapping {existing}); nothing to add",
            [{"field": "host_user", "value": host_user, "problem": "already mapped"}],
        )


def _pool(session: Session, pool_id: int) -> ProductPool:
    pool = session.get(ProductPool, pool_id)
    if pool is None:
        raise not_found("product pool", pool_id, "GET /api/v1/product-pools")
    return pool


def _known_applications(session: Session, wanted: list[str]) -> list[str]:
    known = products.application_names(products.current_catalog(session))
    for index, name in enumerate(wanted):
        if name not in known:
            raise invalid(
                f"applications[{index}]",
                name,
                f"is not an application of the product catalog; use one of {', '.join(known)}",
            )
    return list(dict.fromkeys(wanted))


def _pool_shown(session: Session, pool: ProductPool) -> dict[str, Any]:
    stored = session.get(PoolApplications, pool.id)
    explicit = stored.applications if stored is not None else None
    catalog = products.current_catalog(session)
    return products.entitlement(catalog, pool, explicit).shown()
