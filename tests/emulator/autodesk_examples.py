"""A small, hand-made data file whose every number a test can predict."""

from typing import Any

ADMIN = "admin@example.com"
TEAM = "100001"
OTHER_TEAM = "200002"  # exists, but ADMIN does not administer it
REVIT = "prod_0000000000a1"
DOCS = "prod_0000000000d0"  # unlimited
RENEWAL = "prod_0000000000f1"  # starts in the future
VAULT = "prod_0000000000b7"  # not supported by the Team Admin API
USERS = 250


def user(number: int) -> dict[str, str]:
    return {
        "id": f"US{1_000_000_000 + number}",
        "email": f"user{number}@example.com",
        "firstName": f"First{number}",
        "lastName": f"Last{number}",
    }


def pool(product_id: str, name: str, total: int | None, **more: Any) -> dict[str, Any]:
    return {
        "productId": product_id,
        "productName": name,
        "totalQuantity": total,
        "unlimited": total is None,
        "startDate": "2026-01-01T00:00:00.000Z",
        "endDate": "2099-01-01T00:00:00.000Z",
        **more,
    }


def assignment(number: int, product_id: str, kind: str = "DIRECT") -> dict[str, str]:
    return {"userId": user(number)["id"], "productId": product_id, "assignmentType": kind}


def example_data() -> dict[str, Any]:
    """Team 100001: 250 users; Revit (10 seats) held by users 0-11 (0 also
    through a group, 11 only through a group), Docs unlimited held by the
    whole team through TEAM for users 0-4, a future renewal, and Vault,
    which the API does not support."""
    revit = [assignment(n, REVIT) for n in range(11)]
    revit += [assignment(0, REVIT, "GROUP"), assignment(11, REVIT, "GROUP")]
    docs = [assignment(n, DOCS, "TEAM") for n in range(5)]
    return {
        "clients": [
            {"client_id": "demo-client", "client_secret": "demo-secret", "user": ADMIN},
            {
                "client_id": "other-client",
                "client_secret": "other-secret",
                "user": "other@example.com",
                "redirect_uris": ["http://127.0.0.1/registered"],
            },
        ],
        "teams": [
            {
                "id": TEAM,
                "name": "Example Team",
                "admins": [ADMIN],
                "users": [user(n) for n in range(USERS)],
                "pools": [
                    pool(REVIT, "Revit", 10),
                    pool(DOCS, "Autodesk Docs", None),
                    pool(RENEWAL, "AutoCAD", 5, startDate="2098-01-01T00:00:00.000Z"),
                    pool(VAULT, "Vault Professional", 3, supported=False),
                ],
                "assignments": [*revit, *docs, assignment(20, VAULT)],
            },
            {
                "id": OTHER_TEAM,
                "name": "Other Team",
                "admins": ["other@example.com"],
                "users": [user(9000)],
                "pools": [],
                "assignments": [],
            },
        ],
    }
