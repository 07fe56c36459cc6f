"""A newer product catalog reaches agents by revision, with no upgrade."""

from datetime import UTC, datetime

from conftest import bearer, enrol

from seatmeter.agent.catalog import load_packaged


def test_the_packaged_catalog_is_served_until_a_newer_one_is_uploaded(admin, tokens):
    credential = enrol(admin, tokens["agent"], "agent-1", "CAD-01")
    packaged = load_packaged()

    assert admin.get("/api/v1/catalog").json()["revision"] == packaged.revision

    newer = packaged.as_document()
    newer["revision"] = packaged.revision + 1
    newer["applications"][0]["name"] = "AutoCAD (site build)"
    uploaded = admin.put("/api/v1/catalog", json=newer)

    assert uploaded.json() == {"revision": packaged.revision + 1}
    told = admin.post(
        "/api/agent/v1/check-in",
        json={"clock": datetime.now(UTC).isoformat()},
        headers=bearer(credential),
    ).json()
    assert told["catalog_revision"] == packaged.revision + 1
    served = admin.get("/api/agent/v1/catalog", headers=bearer(credential)).json()
    assert served["applications"][0]["name"] == "AutoCAD (site build)"


def test_an_invalid_catalog_is_refused_naming_the_field(admin):
    document = load_packaged().as_document()
    document["revision"] += 1
    document["applications"][1]["executables"] = "revit.exe"

    refused = admin.put("/api/v1/catalog", json=document)

    assert refused.status_code == 422
    assert "applications[1].executables" in refused.json()["error"]["message"]
    assert admin.get("/api/v1/catalog").json()["revision"] == load_packaged().revision
