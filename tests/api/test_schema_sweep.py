"""A property-based sweep of the operations API's OpenAPI schema (schemathesis): every operation gets generated
requests, valid and invalid, against the live server; no answer is a 5xx and every answer matches the schema
(status code documented, content type, body). Bounded: a few examples per operation, so it runs in about a minute."""

from __future__ import annotations

import itertools

import hypothesis
import pytest
import requests
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import ComponentFactory

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES_PER_OPERATION = 8  # valid requests per operation
NEGATIVE_EXAMPLES_PER_OPERATION = 4  # requests that break the schema (wrong types, missing fields) per operation
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_every_operation_answers_within_its_schema(live_server, make_token, role_users, settings):
    from ersen_ops.core.services import site_settings_set_phase
    from tests.incidents.factories import open_incident
    from tests.maintenance.conftest import ensure_checklist_templates

    settings.OPS_API_RATE_LIMIT = 100_000
    ensure_checklist_templates()
    site_settings_set_phase(actor="system:test", phase="prelaunch")
    ComponentFactory(name="Website")
    open_incident(actor=role_users["commander"])
    _, raw = make_token(role_users["admin"], ["read", "maintenance", "incidents", "runbooks", "status"])

    schema = schemathesis.openapi.from_url(live_server.url + "/api/ops/v1/schema/?format=json")
    session = requests.Session()
    headers = {"Authorization": f"Bearer {raw}"}
    failures, operations = [], 0
    modes = (
        (GenerationMode.POSITIVE, EXAMPLES_PER_OPERATION),
        (GenerationMode.NEGATIVE, NEGATIVE_EXAMPLES_PER_OPERATION),
    )
    for (mode, examples), result in itertools.product(modes, list(schema.get_all_operations())):
        operation = result.ok()
        operations += 1

        @hypothesis.settings(
            max_examples=examples,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        def sweep(case):
            response = case.call(base_url=live_server.url, session=session, headers=headers, timeout=30)
            case.validate_response(response, checks=CHECKS)

        try:
            sweep()
        except Exception as exc:  # collect all, report together
            failures.append(f"{mode.value} {operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    assert operations >= 2 * 30
    assert not failures, "\n\n".join(failures)
