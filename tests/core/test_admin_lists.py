"""Admin lists at a million rows (ersen_ops/core/admin_lists.py): no full COUNT(*), no SELECT DISTINCT over the
table, search through one trigram index, estimated counts shown as such. The speed itself: bench/admin_lists.py."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ersen_ops.audit.admin import AUDIT_SEARCH_SQL, AuditEventAdmin
from ersen_ops.audit.models import AuditEvent
from ersen_ops.audit.services import record
from ersen_ops.core import admin_lists
from ersen_ops.notifications.models import NotificationDelivery
from tests.factories import ComponentFactory

pytestmark = pytest.mark.django_db

LIST = "/admin/audit/auditevent/"


def _events(n: int, **kwargs):
    for i in range(n):
        record(actor=kwargs.get("actor", "system:bench"), action=kwargs.get("action", f"step.{i % 3}"), data={"i": i})


def _sql(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries]


def test_the_audit_list_reads_no_whole_table(postgres, client, users):
    _events(30)
    client.force_login(users["admin"])
    with CaptureQueriesContext(connection) as captured:
        response = client.get(LIST)
    assert response.status_code == 200
    audit = [sql for sql in _sql(captured) if "audit_auditevent" in sql]
    distinct = [sql for sql in audit if "DISTINCT" in sql.upper()]
    assert distinct and all("LIMIT" in sql.upper() for sql in distinct), "a sidebar filter read the whole table"
    counts = [sql for sql in audit if "COUNT(" in sql.upper()]
    assert counts and all("LIMIT" in sql.upper() for sql in counts), f"an unbounded count: {counts}"
    assert f"{AuditEvent.objects.count()} audit events".encode() in response.content


def test_beyond_the_limit_the_count_is_postgres_estimate_and_says_so(postgres, client, users, monkeypatch):
    monkeypatch.setattr(admin_lists, "EXACT_COUNT_LIMIT", 5)
    _events(40)
    client.force_login(users["admin"])
    response = client.get(LIST)
    assert response.status_code == 200
    assert b"about " in response.content and b"PostgreSQL's estimate" in response.content
    assert b"(40 total)" not in response.content


def test_the_sidebar_lists_the_recent_actions_and_actors(postgres, client, users):
    _events(3, action="incident.opened", actor="system:checks")
    client.force_login(users["admin"])
    content = client.get(LIST).content.decode()
    assert "action (recent)" in content and "?action=incident.opened" in content
    assert "actor (recent)" in content and "actor_name=system%3Achecks" in content
    filtered = client.get(LIST + "?action=incident.opened")
    assert filtered.status_code == 200 and b"3 audit events" in filtered.content


def test_search_matches_any_searchable_column_and_an_exact_id(postgres, client, users):
    component = ComponentFactory(name="Checkout gateway")
    record(actor="system", action="component.changed", target=component)
    _events(5)
    client.force_login(users["admin"])
    found = client.get(LIST + "?q=checkout")
    assert b"1 audit event" in found.content and b"Checkout gateway" in found.content
    assert b"1 audit event" in client.get(LIST + "?q=COMPONENT.CHANGED").content
    assert b"0 audit events" in client.get(LIST + "?q=100%25").content  # a literal %, not a wildcard
    event = AuditEvent.objects.order_by("id").first()
    assert f'{event.pk}</a>'.encode() in client.get(LIST + f"?q={event.pk}").content


def test_search_goes_through_the_trigram_index(postgres):
    """The admin's search expression is the indexed one, so the planner can use it for a rare term."""
    _events(5)
    queryset, _ = AuditEventAdmin(AuditEvent, None).get_search_results(None, AuditEvent.objects.all(), "rare-term")
    with connection.cursor() as cursor:  # a tiny table: make the planner show which index can answer the filter
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        plan = queryset.order_by().values("pk").explain()
    assert "audit_search_trgm" in plan, plan
    assert f"({AUDIT_SEARCH_SQL}) LIKE" in str(queryset.query)


def test_the_delivery_and_execution_lists_and_djangos_queue_lists_render(postgres, client, users):
    NotificationDelivery.objects.create(event="incident.opened", channel="email", subject="P1 checkout", status="failed")
    client.force_login(users["admin"])
    for url in (
        "/admin/notifications/notificationdelivery/",
        "/admin/notifications/notificationdelivery/?status__exact=failed&q=checkout",
        "/admin/runbooks/runbookexecution/?q=backup",
        "/admin/django_q/success/",
        "/admin/django_q/failure/",
        "/admin/django_q/schedule/",
        "/admin/django_q/ormq/",
    ):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200, url
        whole = [sql for sql in _sql(captured) if "DISTINCT" in sql.upper() and "LIMIT" not in sql.upper()]
        assert not whole, url
    failed = client.get("/admin/notifications/notificationdelivery/?status__exact=failed&q=checkout")
    assert b"1 notification delivery" in failed.content


def _ids_on(content: str) -> list[int]:
    import re

    table = content[content.index('id="result_list"') : content.index("</table>", content.index('id="result_list"'))]
    ids = []
    for n in re.findall(r'/(\d+)/change/', table):
        if int(n) not in ids:
            ids.append(int(n))
    return ids


def _link(content: str, label: str) -> str:
    import html
    import re

    match = re.search(r'<a href="([^"]*)"[^>]*>' + re.escape(label), content)
    assert match, f"no “{label}” link"
    return LIST + html.unescape(match.group(1))


def test_the_default_order_pages_by_keyset_without_offset(postgres, client, users, monkeypatch):
    monkeypatch.setattr(AuditEventAdmin, "list_per_page", 10)
    _events(25, action="keyset.step")
    client.force_login(users["admin"])
    newest = list(AuditEvent.objects.filter(action="keyset.step").order_by("-id").values_list("id", flat=True))
    first = client.get(LIST + "?action=keyset.step").content.decode()
    assert _ids_on(first) == newest[:10]
    assert "‹ Newer" not in first and "« Newest" not in first
    with CaptureQueriesContext(connection) as captured:
        second = client.get(_link(first, "Older ›")).content.decode()
    assert _ids_on(second) == newest[10:20]
    listing = [sql for sql in _sql(captured) if "audit_auditevent" in sql and "ORDER BY" in sql.upper()]
    assert listing and not any("OFFSET" in sql.upper() for sql in listing), listing
    assert any('"audit_auditevent"."id") < ' in sql for sql in listing), "the page is not a row comparison"
    third = client.get(_link(second, "Older ›")).content.decode()
    assert _ids_on(third) == newest[20:]
    assert "Older ›" not in third, "the last page offers an older page"
    back = client.get(_link(third, "‹ Newer")).content.decode()
    assert _ids_on(back) == newest[10:20], "the filter and the order survive going back"
    assert _ids_on(client.get(_link(back, "« Newest")).content.decode()) == newest[:10]


def test_keyset_pages_follow_a_composite_order_and_other_orders_keep_page_numbers(postgres, client, users):
    """Executions are ordered by (requested at, id), newest first: the cursor is a row, compared on both columns."""
    from django.utils import timezone

    from runbooks.admin.executions import RunbookExecutionAdmin
    from runbooks.models import RunbookExecution
    from tests.runbooks.factories import ExecutionFactory

    same_time = timezone.now()
    executions = [ExecutionFactory(requested_at=same_time) for _ in range(RunbookExecutionAdmin.list_per_page + 5)]
    url = "/admin/runbooks/runbookexecution/"
    client.force_login(users["admin"])
    first = client.get(url).content.decode()
    expected = list(RunbookExecution.objects.order_by("-requested_at", "-id").values_list("id", flat=True))
    assert _ids_on(first) == expected[: RunbookExecutionAdmin.list_per_page]
    import html
    import re

    older = html.unescape(re.search(r'<a href="([^"]*)"[^>]*>Older ›', first).group(1))
    assert _ids_on(client.get(url + older).content.decode()) == expected[RunbookExecutionAdmin.list_per_page :]
    by_status = client.get(url + "?o=2").content.decode()
    assert "Older ›" not in by_status and len(executions) > RunbookExecutionAdmin.list_per_page
    assert client.get(url + "?after=not-a-number").status_code == 200
