"""Schemathesis generates requests from the served OpenAPI schema, valid
and invalid, for every operation, and checks each answer: never a 5xx,
and every status, content type and body as the schema documents them.

It runs as an admin, so writes go through; the agent API is reached with
an enrolled agent's own credential. Examples per operation are few, to
keep the suite fast; derandomized, so that a failure repeats.

Left out is the check that every schema-valid request is accepted: some
rules cannot be said in JSON Schema (a time before 1970, a duplicate
name, a stop before its start) and are refused with 422 by design.

Schemathesis's own pytest plugin does not run under this pytest, so the
operations are walked here, each through a Hypothesis test of its own.
"""

from typing import Any

import schemathesis
from conftest import bearer, enrol
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

EXAMPLES_PER_OPERATION = 12


def test_every_operation_answers_as_documented(client: TestClient, tokens: dict[str, str]) -> None:
    credential = enrol(client, tokens["agent"], "fuzz-agent", "FUZZ-01")
    callers = {"admin": bearer(tokens["admin"]), "agent": bearer(credential)}
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)

    failures, tried = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        caller = "agent" if operation.path.startswith("/api/agent/") else "admin"
        try:
            _fuzz(operation, callers[caller])
        except Exception as error:  # each failure is reported, all at once
            failures.append(f"{operation.label}: {error}")
        tried += 1

    assert tried > 20, "the schema lists fewer operations than the API has"
    assert not failures, "\n\n".join(failures)


def _fuzz(operation: Any, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

    run()
