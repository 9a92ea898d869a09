"""Lists cost the same number of queries whatever their length (no query per row)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from api import services
from ersen_ops.audit.services import record
from tests.factories import ComponentFactory

pytestmark = pytest.mark.django_db


def _queries(client, path, raw) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


@pytest.mark.parametrize("path", ["incidents", "maintenance-windows", "components", "audit-events", "executions"])
def test_list_queries_do_not_grow_with_rows(users, path, settings):
    from tests.incidents.factories import open_incident
    from tests.maintenance.factories import MaintenanceWindowFactory
    from tests.runbooks.factories import ExecutionFactory

    settings.OPS_API_RATE_WINDOW_SECONDS = 10**9  # one rate window for the whole test (a new one costs an INSERT)
    _, raw = services.token_create(actor=users["admin"], name="q", scopes=["read"])
    client = Client()

    def add(n):
        for _ in range(n):
            component = ComponentFactory()
            open_incident(actor=users["commander"], components={component: "partial_outage"})
            MaintenanceWindowFactory(owner=users["operator"], components=[component])
            ExecutionFactory()
            record(actor="system:test", action="test.row", target=component)

    add(2)
    _queries(client, f"/api/ops/v1/{path}", raw)  # the first call also records the token's last use
    few = _queries(client, f"/api/ops/v1/{path}", raw)
    add(8)
    many = _queries(client, f"/api/ops/v1/{path}", raw)
    assert many == few, f"{path}: {few} queries with few rows, {many} with more"
