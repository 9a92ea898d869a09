"""The admin of host groups and their runs: the launch page, the host × step matrix (bounded queries, live JSON),
Cancel with its permission, and the "exactly one of role or list" rule on the group form."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from ersen_ops.audit.models import AuditEvent
from runbooks import services
from runbooks.choices import ExecutionStatus, GroupRunStatus, StepKind, StepStatus
from runbooks.models import ExecutionStep, GroupRun, HostGroup
from tests.runbooks.factories import HostFactory, runbook_with_steps

pytestmark = pytest.mark.django_db

PAGE_QUERIES = 10
SMOKE = [{"task": "smoke_test", "params": {"checks": "https://ersen.xyz/login 200"}}]


@pytest.fixture(autouse=True)
def _prelaunch(db):
    from ersen_ops.core.services import site_settings_set_phase

    site_settings_set_phase(actor="system:test", phase="prelaunch")


def make_group(users, count: int, *, slug="web") -> HostGroup:
    for i in range(count):
        HostFactory(name=f"{slug}-{i}", roles="web", position=100 - i)
    return services.host_group_save(
        actor=users["admin"], group=HostGroup(name=slug.title(), slug=slug, role="web"), hosts=[]
    )


def launch(users, group, **kwargs) -> GroupRun:
    runbook = runbook_with_steps("smoke", SMOKE + SMOKE)
    return services.group_run_launch(actor=users["operator"], runbook=runbook, host_group=group, **kwargs)


def test_the_matrix_page_shows_every_host_in_run_order_with_attempts(client, users):
    group = make_group(users, 3)
    run = launch(users, group, batch_size=2)
    first = run.executions.get(host__name="web-2")
    now = timezone.now()
    for attempt, status in ((1, StepStatus.FAILED), (2, StepStatus.SUCCEEDED)):
        ExecutionStep.objects.create(
            execution=first,
            order=attempt,
            plan_index=0,
            attempt=attempt,
            task="smoke_test",
            kind=StepKind.CHECK,
            label="GET",
            status=status,
            started_at=now,
        )
    client.force_login(users["viewer"])
    response = client.get(reverse("admin:runbooks_grouprun_change", args=[run.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert page.index("web-2") < page.index("web-1") < page.index("web-0")  # position 98, 99, 100
    assert "succeeded ×2" in page and "Waiting for its batch" in page
    assert 'src="/static/runbooks/group_run.js"' in page and "<script>" not in page
    data = client.get(reverse("admin:runbooks_grouprun_matrix", args=[run.pk])).json()
    assert [r["host"] for r in data["rows"]] == ["web-2", "web-1", "web-0"]
    assert [r["batch"] for r in data["rows"]] == [1, 1, 2]
    assert data["rows"][0]["cells"][0] == {"status": "succeeded", "attempts": 2, "colour": "#2e7d32"}
    assert data["rows"][2]["cells"][0]["status"] == "waiting"
    assert data["rows"][0]["url"] == reverse("admin:runbooks_runbookexecution_change", args=[first.pk])
    assert [c["order"] for c in data["columns"]] == [1, 2]


def test_the_matrix_costs_the_same_queries_for_3_and_12_hosts(client, users, django_assert_num_queries):
    small = launch(users, make_group(users, 3, slug="small"))
    big_group = make_group(users, 12, slug="big")
    big_group.role = ""
    services.host_group_save(
        actor=users["admin"],
        group=big_group,
        hosts=list(HostFactory._meta.model.objects.filter(name__startswith="big")),
    )
    big = launch(users, big_group)
    client.force_login(users["viewer"])
    client.get(reverse("admin:runbooks_grouprun_change", args=[small.pk]))  # warm caches (session, permissions)
    with django_assert_num_queries(8):
        client.get(reverse("admin:runbooks_grouprun_matrix", args=[small.pk]))
    with django_assert_num_queries(8):
        client.get(reverse("admin:runbooks_grouprun_matrix", args=[big.pk]))
    with django_assert_num_queries(PAGE_QUERIES):
        assert client.get(reverse("admin:runbooks_grouprun_change", args=[small.pk])).status_code == 200
    with django_assert_num_queries(PAGE_QUERIES):
        assert client.get(reverse("admin:runbooks_grouprun_change", args=[big.pk])).status_code == 200


def test_the_matrix_json_changes_nothing_and_needs_view_permission(client, users):
    run = launch(users, make_group(users, 2))
    before = list(AuditEvent.objects.filter(target_id=str(run.pk)).values_list("action", flat=True))
    client.force_login(users["viewer"])
    assert client.post(reverse("admin:runbooks_grouprun_matrix", args=[run.pk])).status_code == 403
    assert client.get(reverse("admin:runbooks_grouprun_matrix", args=[run.pk])).status_code == 200
    run.refresh_from_db()
    assert run.status == GroupRunStatus.QUEUED
    assert list(AuditEvent.objects.filter(target_id=str(run.pk)).values_list("action", flat=True)) == before


def test_cancel_from_the_page_needs_the_cancel_permission(client, users):
    run = launch(users, make_group(users, 3))
    url = reverse("admin:runbooks_grouprun_workflow", args=[run.pk, "cancel"])
    client.force_login(users["viewer"])
    assert client.post(url, {"reason": "no"}).status_code == 403
    client.force_login(users["operator"])
    assert client.get(url).status_code == 200  # the confirmation page changes nothing
    run.refresh_from_db()
    assert run.status == GroupRunStatus.QUEUED
    response = client.post(url, {"reason": "wrong group"})
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == GroupRunStatus.CANCELLED and run.cancel_reason == "wrong group"
    assert set(run.executions.values_list("status", flat=True)) == {ExecutionStatus.CANCELLED}


def test_run_on_a_host_group_from_the_runbook_page(client, users):
    group = make_group(users, 3)
    runbook = runbook_with_steps("smoke", SMOKE)
    client.force_login(users["operator"])
    listing = client.get(reverse("admin:runbooks_runbook_changelist")).content.decode()
    url = reverse("admin:runbooks_runbook_workflow", args=[runbook.pk, "run_group"])
    assert url in listing and "Run on a host group" in listing
    page = client.get(url)
    text = page.content.decode()
    assert page.status_code == 200 and text.index("web-2") < text.index("web-0")
    assert not GroupRun.objects.exists()
    form = page.context["form"]
    response = client.post(
        url,
        {
            "host_group": group.pk,
            "digest": form.initial["digest"],
            "batch_size": 2,
            "max_failures": 1,
            "justification": "",
        },
    )
    run = GroupRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "admin:runbooks_grouprun_change", args=[run.pk]
    )
    assert (run.batch_size, run.max_failures, run.requested_by_name) == (2, 1, "operator")


def test_a_host_group_is_a_role_or_a_list_in_the_admin(client, users):
    host = HostFactory(name="solo", roles="db")
    client.force_login(users["admin"])
    url = reverse("admin:runbooks_hostgroup_add")
    data = {"name": "Both", "slug": "both", "description": "", "role": "web", "hosts": [host.pk]}
    response = client.post(url, data)
    assert response.status_code == 200 and "not both" in response.content.decode()
    data["role"] = ""
    assert client.post(url, data).status_code == 302
    group = HostGroup.objects.get(slug="both")
    assert list(group.hosts.all()) == [host]
    event = AuditEvent.objects.get(action="runbooks.host_group.created")
    assert event.data["after"]["hosts"] == ["solo"]
    page = client.get(reverse("admin:runbooks_hostgroup_change", args=[group.pk])).content.decode()
    assert "solo" in page and "position 100" in page


def test_the_reaper_task_advances_a_run_whose_kick_was_lost(users):
    from runbooks import tasks

    run = launch(users, make_group(users, 3), batch_size=2)
    # Batch 1 ended, but the advance after commit never ran (the worker died right after its commit).
    run.executions.filter(batch=1).update(status=ExecutionStatus.SUCCEEDED, finished_at=timezone.now())
    tasks.reap_lost_executions()
    run.refresh_from_db()
    assert run.current_batch == 2 and run.status == GroupRunStatus.RUNNING
    assert run.executions.get(batch=2).status == ExecutionStatus.QUEUED
    events = AuditEvent.objects.filter(target_id=str(run.pk), target_type__model="grouprun")
    actions = list(events.order_by("id").values_list("action", flat=True))
    assert actions[-2:] == ["runbooks.group_run.started", "runbooks.group_run.batch_started"]
    tasks.reap_lost_executions()  # nothing more to do: idempotent
    assert events.filter(action="runbooks.group_run.batch_started").count() == 2


def test_an_execution_of_a_group_links_to_its_run(client, users):
    run = launch(users, make_group(users, 2))
    execution = run.executions.get(batch=1)
    client.force_login(users["viewer"])
    page = client.get(reverse("admin:runbooks_runbookexecution_change", args=[execution.pk])).content.decode()
    assert reverse("admin:runbooks_grouprun_change", args=[run.pk]) in page and "batch 1" in page
