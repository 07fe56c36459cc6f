"""Pool names to catalog products, and the administrator's corrections."""

import pytest
from usage_data import Team

from seatmeter.agent.catalog import load_packaged
from seatmeter.server.usage.products import by_name_rule, is_collection, normalise

POOL_APPLICATIONS = "/api/v1/product-pools/{}/applications"
AUTOCAD_FAMILY = (
    "AutoCAD",
    "Plant 3D",
    "Map 3D",
    "AutoCAD Architecture",
    "AutoCAD Mechanical",
    "AutoCAD MEP",
    "AutoCAD Electrical",
)


@pytest.mark.parametrize(
    ("pool_name", "normalised"),
    [
        ("AutoCAD - including specialized toolsets", "autocad"),
        ("AutoCAD including specialized toolsets", "autocad"),
        ("Revit", "revit"),
        (
            "Architecture Engineering & Construction Collection IC",
            "architecture engineering and construction collection",
        ),
        ("AEC Collection", "architecture engineering and construction collection"),
        ("Autodesk Inventor Professional 2024", "inventor professional"),
        ("Civil 3D (Subscription)", "civil 3d"),
        ("Media + Entertainment Collection", "media and entertainment collection"),
        ("AutoCAD LT", "autocad lt"),
    ],
)
def test_pool_names_are_normalised(pool_name, normalised):
    assert normalise(pool_name) == normalised


@pytest.mark.parametrize(
    ("pool_name", "applications"),
    [
        ("AutoCAD - including specialized toolsets", AUTOCAD_FAMILY),
        ("Revit", ("Revit",)),
        ("AutoCAD LT", ("AutoCAD LT",)),
        ("Navisworks Manage", ("Navisworks Manage",)),
        ("Something Autodesk never sold", ()),
    ],
)
def test_pool_names_find_their_applications(pool_name, applications):
    assert by_name_rule(load_packaged(), pool_name) == applications


def test_a_collection_entitles_what_the_catalog_says():
    found = by_name_rule(load_packaged(), "Architecture Engineering & Construction Collection IC")

    assert {"Revit", "Civil 3D", "AutoCAD", "3ds Max", "InfraWorks"} <= set(found)
    assert "Maya" not in found and "Inventor" not in found
    assert is_collection("AEC Collection") and is_collection("Revit LT Suite")
    assert not is_collection("Revit")


def test_pool_applications_by_api(admin, database):
    pool = Team(database).pool("Architecture Engineering & Construction Collection IC")
    url = POOL_APPLICATIONS.format(pool)

    by_rule = admin.get(url).json()
    changed = admin.put(url, json={"applications": ["Revit", "Civil 3D", "Revit"]})
    read_back = admin.get(url).json()
    emptied = admin.put(url, json={"applications": []}).json()
    reset = admin.delete(url).json()

    assert by_rule["source"] == "name" and by_rule["kind"] == "collection"
    assert "Revit" in by_rule["applications"]
    assert changed.status_code == 200, changed.text
    assert read_back["source"] == "explicit"
    assert read_back["applications"] == ["Revit", "Civil 3D"]
    assert (emptied["source"], emptied["applications"]) == ("explicit", [])
    assert reset == by_rule


def test_pool_applications_refuse_unknown_pools_and_applications(admin, database):
    pool = Team(database).pool("Revit")

    unknown_pool = admin.get(POOL_APPLICATIONS.format(424242))
    unknown_app = admin.put(POOL_APPLICATIONS.format(pool), json={"applications": ["Revit", "Rvt"]})

    assert unknown_pool.status_code == 404
    assert unknown_app.status_code == 422
    message = unknown_app.json()["error"]["message"]
    assert "applications[1]" in message and "'Rvt'" in message and "Civil 3D" in message
    assert admin.get(POOL_APPLICATIONS.format(pool)).json()["source"] == "name"
