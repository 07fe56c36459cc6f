"""The user mappings page and the troubleshooting step that uses them."""

import re

import pytest
from conftest import enrol
from fastapi.testclient import TestClient
from webpages import csrf_of, signed_in

from seatmeter.server.db import Database, utcnow
from seatmeter.server.entitlements.models import CloudUser
from seatmeter.server.license_servers.models import LicenseServer
from seatmeter.server.sessions.models import UsageSession

XSS = "<script>alert(1)</script>"


@pytest.fixture
def admin_page(client: TestClient, database: Database) -> TestClient:
    return signed_in(client, database, "ada", "admin")


@pytest.fixture
def people(client: TestClient, tokens: dict[str, str], database: Database) -> dict[str, int]:
    enrol(client, tokens["agent"], "agent-1", "CAD-01")
    with database.writing() as session:
        server = LicenseServer(name="Team", team_id="t-1")
        session.add(server)
        session.flush()
        ids = {}
        for name in ("alice", "jdoe"):
            person = CloudUser(
                license_server_id=server.id, autodesk_id=name, email=f"{name}@corp.com"
            )
            session.add(person)
            session.flush()
            ids[name] = person.id
        for host_user in ("CORP\\alice", "CORP\\j.doe", f"CORP\\{XSS}"):
            session.add(
                UsageSession(
                    hostname="CAD-01",
                    username=host_user,
                    application="Revit",
                    version="2026",
                    source="process",
                    started_at=utcnow(),
                    agent_id="agent-1",
                )
            )
    return ids


def section(html: str, name: str) -> str:
    found = re.search(rf'id="{name}">(.*?)</section>', html, re.S)
    assert found, html[-1500:]
    return found.group(1)


def test_mapping_a_host_user_takes_it_off_both_unmatched_lists(
    admin_page: TestClient, people: dict[str, int]
) -> None:
    before = admin_page.get("/user-mappings").text
    token = csrf_of(admin_page.get("/"))
    form = {"csrf_token": token, "host_user": "CORP\\j.doe", "cloud_user_id": people["jdoe"]}

    added = admin_page.post("/user-mappings", data=form)
    again = admin_page.post("/user-mappings", data=form)
    after = admin_page.get("/user-mappings").text

    assert "CORP\\j.doe" in section(before, "unmatched-host-users")
    assert "jdoe@corp.com" in section(before, "unmatched-cloud-users")
    assert "CORP\\alice" not in section(before, "unmatched-host-users")
    assert added.status_code == 303, added.text
    assert again.status_code == 409 and "already mapped" in again.text
    assert "CORP\\j.doe" not in section(after, "unmatched-host-users")
    assert "jdoe@corp.com" not in section(after, "unmatched-cloud-users")
    assert "<script>alert(1)" not in after and "&lt;script&gt;alert(1)" in after


@pytest.mark.parametrize(
    ("form", "answer"),
    [
        ({"host_user": "CORP\\x", "cloud_user_id": "abc"}, "cloud_user_id: choose a cloud user"),
        ({"host_user": "CORP\\x", "cloud_user_id": "999999"}, "cloud_user_id: names no cloud"),
        ({"host_user": "", "cloud_user_id": "1"}, "host_user: "),
    ],
)
def test_bad_mappings_are_refused_by_name(
    admin_page: TestClient, people: dict[str, int], form: dict[str, str], answer: str
) -> None:
    token = csrf_of(admin_page.get("/"))

    response = admin_page.post("/user-mappings", data={"csrf_token": token, **form})

    assert response.status_code == 422, response.text
    assert answer in response.text


def test_troubleshooting_names_host_users_without_a_cloud_user(
    admin_page: TestClient, people: dict[str, int]
) -> None:
    page = admin_page.get("/troubleshoot?hostname=CAD-01").text

    step = re.search(
        r'data-state="(\w+)">\s*<strong>Host user mapped[^<]*</strong>(.*?)</li>', page, re.S
    )
    assert step, page[-2000:]
    assert step.group(1) == "warning"
    assert "CORP\\j.doe" in step.group(2) and "CORP\\alice" not in step.group(2)
