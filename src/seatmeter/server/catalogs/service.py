"""Which catalog is current: the newest of the packaged and the uploaded."""

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from seatmeter.agent.catalog import CatalogError, load_packaged, parse
from seatmeter.server.catalogs.models import ProductCatalog
from seatmeter.server.errors import ApiError

log = logging.getLogger(__name__)


def current(session: Session) -> dict[str, Any]:
    packaged = load_packaged()
    uploaded = session.scalar(
        select(ProductCatalog).order_by(ProductCatalog.revision.desc()).limit(1)
    )
    if uploaded is not None and uploaded.revision > packaged.revision:
        return uploaded.document
    return packaged.as_document()


def current_revision(session: Session) -> int:
    uploaded = session.scalar(
        select(ProductCatalog.revision).order_by(ProductCatalog.revision.desc()).limit(1)
    )
    return max(load_packaged().revision, uploaded or 0)


def upload(session: Session, document: Any) -> int:
    """Store a new catalog; agents fetch it at their next check-in."""
    try:
        catalog = parse(document)
    except CatalogError as error:
        # The catalog's own messages start with the field's path.
        field, _, problem = str(error).partition(": ")
        raise ApiError(
            422,
            "invalid_value",
            f"catalog {error}",
            [{"field": field, "value": None, "problem": problem}],
        ) from None
    newest = current_revision(session)
    if catalog.revision <= newest:
        raise ApiError(
            409,
            "stale_revision",
            f"revision: {catalog.revision} is not newer than the current "
            f"catalog's revision {newest}; give revision {newest + 1} or more",
        )
    session.add(ProductCatalog(revision=catalog.revision, document=catalog.as_document()))
    log.info("product catalog revision %d uploaded", catalog.revision)
    return catalog.revision
