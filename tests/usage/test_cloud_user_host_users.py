"""GET /api/v1/cloud-users names the host users that map to each one."""

from usage_data import Team, add_session


def test_each_cloud_user_lists_the_host_users_mapped_to_it(admin, database):
    team = Team(database)
    ann = team.user("ann.lee@example.com", "Ann", "Lee")
    team.user("ben.smith@example.com", "Ben", "Smith")
    add_session(database, "EXAMPLE\\ann.lee", "Revit")
    add_session(database, "ann.lee", "AutoCAD", hostname="CAD-02")

    listing = admin.get("/api/v1/cloud-users", params={"license_server_id": team.id})

    assert listing.status_code == 200, listing.text
    found = {item["email"]: item["host_users"] for item in listing.json()["items"]}
    assert sorted(found["ann.lee@example.com"]) == ["EXAMPLE\\ann.lee", "ann.lee"]
    assert found["ben.smith@example.com"] == []
    assert ann in {item["id"] for item in listing.json()["items"]}
