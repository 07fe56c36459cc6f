"""User mappings: which host user is which cloud user, where the name
rules do not find them, and who is left unmatched on either side.

Adding and removing call the usage API's functions in-process, so the
checks (a known cloud user, no duplicate) and the re-attribution of
sessions are the same as over HTTP.
"""

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError
from sqlalchemy import select

from seatmeter.server.api.fields import RowId
from seatmeter.server.api.state import Db
from seatmeter.server.entitlements.models import CloudUser
from seatmeter.server.errors import invalid
from seatmeter.server.usage import api as usage
from seatmeter.server.usage import identity
from seatmeter.server.usage.models import UserMapping
from seatmeter.web.auth import SignedIn
from seatmeter.web.csrf import AdminForm
from seatmeter.web.render import render
from seatmeter.web.routing import WebRoute, back_to

router = APIRouter(route_class=WebRoute)

PATH = "/user-mappings"


@router.get(PATH)
def mappings_page(request: Request, _: SignedIn, db: Db) -> Response:
    with db.reading() as session:
        rows = session.execute(
            select(UserMapping, CloudUser.email)
            .join(CloudUser, CloudUser.id == UserMapping.cloud_user_id)
            .order_by(UserMapping.host_user_key, UserMapping.id)
        ).all()
        mappings = [{"mapping": mapping, "email": email} for mapping, email in rows]
        lonely = identity.unmatched(session)
    return render(request, "user_mappings.html", mappings=mappings, unmatched=lonely)


@router.post(PATH)
def add_mapping(form: AdminForm, db: Db) -> Response:
    body = _body(form)
    shown = usage.create_mapping(body, _admin(), db)
    return back_to(PATH, f"{shown['host_user']} mapped to {shown['email'] or 'cloud user'}")


@router.post(PATH + "/{mapping_id}/delete")
def delete_mapping(mapping_id: RowId, _: AdminForm, db: Db) -> Response:
    usage.delete_mapping(mapping_id, _admin(), db)
    return back_to(PATH, f"user mapping {mapping_id} removed")


def _body(form: Any) -> usage.UserMappingIn:
    raw = {"host_user": str(form.get("host_user", "")).strip()}
    cloud_user_id = str(form.get("cloud_user_id", "")).strip()
    if not cloud_user_id.isdigit():
        raise invalid("cloud_user_id", cloud_user_id, "choose a cloud user from the list")
    try:
        return usage.UserMappingIn(**raw, cloud_user_id=int(cloud_user_id))
    except ValidationError as error:
        problem = error.errors()[0]
        field = str(problem["loc"][0]) if problem["loc"] else "form"
        raise invalid(field, raw.get(field, cloud_user_id), problem["msg"]) from None


def _admin() -> Any:
    # The route has checked the administrator already (AdminForm).
    return None
