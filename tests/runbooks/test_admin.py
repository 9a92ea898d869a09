"""Admin: Run shows the exact commands and the target before anything happens; permissions; live JSON; lists."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.services import site_settings_set_phase
from runbooks.choices import ExecutionStatus
from runbooks.models import Host, Runbook, RunbookExecution
from tests.runbooks.factories import ExecutionFactory, HostFactory, runbook_with_steps

pytestmark = pytest.mark.django_db


@pytest.fixture
def host(db):
    return HostFactory(
        name="prod-1",
        hostname="10.0.0.5",
        ssh_user="deploy",
        host_key_type="ssh-ed25519",
        host_key="AAAAC3NzaC1lZDI1NTE5AAAAIBd7Yy2Y6q1rX8h9r7e9o1H0Xw4oU2mJm3nq1aVbQwzA",
        host_key_fingerprint="SHA256:pinnedpinnedpinned",
        parameter_defaults={"backup_dir": "/srv/backups"},
    )


@pytest.fixture
def backup(db):
    return runbook_with_steps("database-backup", [{"task": "backup_database"}], name="Database backup")


def run_url(runbook, **query):
    from django.utils.http import urlencode

    url = reverse("admin:runbooks_runbook_workflow", args=[runbook.pk, "run"])
    return url + ("?" + urlencode(query) if query else "")


def test_run_page_shows_the_target_and_exact_commands_and_changes_nothing(client, users, host, backup):
    client.force_login(users["operator"])
    response = client.get(run_url(backup, host=host.pk))
    assert response.status_code == 200
    page = response.content.decode()
    assert "deploy@10.0.0.5:22" in page and "SHA256:pinnedpinnedpinned" in page
    assert "docker exec ersen-db-1 pg_dump -U ersen ersen &gt; /srv/backups/backup_YYYYMMDD.sql.partial-ID" in page
    assert "timeout 1200 s per command on the host" in page
    assert (
        RunbookExecution.objects.count() == 0
        and not AuditEvent.objects.filter(action__startswith="runbooks.execution").exists()
    )


def test_operator_launches_from_the_run_page_and_lands_on_the_execution(client, users, host, backup):
    site_settings_set_phase(actor="system:test", phase="prelaunch")
    client.force_login(users["operator"])
    page = client.get(run_url(backup, host=host.pk))
    digest = page.context["form"].initial["digest"]
    response = client.post(run_url(backup), {"host": host.pk, "digest": digest, "justification": ""})
    execution = RunbookExecution.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:runbooks_runbookexecution_change", args=[execution.pk])
    assert execution.status == ExecutionStatus.QUEUED and execution.requested_by == users["operator"]
    assert execution.plan[0]["params"]["backup_dir"] == "/srv/backups"
    event = AuditEvent.objects.get(action="runbooks.execution.requested")
    assert event.actor == users["operator"] and event.data["host"] == "prod-1"


def test_postlaunch_launch_outside_a_window_needs_a_typed_justification_and_is_flagged(client, users, host, backup):
    site_settings_set_phase(actor="system:test", phase="postlaunch")
    client.force_login(users["operator"])
    page = client.get(run_url(backup, host=host.pk))
    assert "has no maintenance window in progress" in page.content.decode()
    digest = page.context["form"].initial["digest"]
    refused = client.post(run_url(backup), {"host": host.pk, "digest": digest, "justification": "now"})
    assert refused.status_code == 400 and "at least 15 characters; got 3" in refused.content.decode()
    assert not RunbookExecution.objects.exists()
    client.post(run_url(backup), {"host": host.pk, "digest": digest, "justification": "Disk almost full, backup first"})
    execution = RunbookExecution.objects.get()
    assert execution.outside_window and execution.justification == "Disk almost full, backup first"


def test_a_changed_plan_since_review_is_refused(client, users, host, backup):
    site_settings_set_phase(actor="system:test", phase="prelaunch")
    client.force_login(users["operator"])
    digest = client.get(run_url(backup, host=host.pk)).context["form"].initial["digest"]
    host.parameter_defaults = {"backup_dir": "/elsewhere"}
    host.save()
    response = client.post(run_url(backup), {"host": host.pk, "digest": digest})
    assert response.status_code == 400 and "changed since you reviewed the commands" in response.content.decode()
    assert not RunbookExecution.objects.exists()


def test_viewer_cannot_run_cancel_or_pin(client, users, host, backup):
    client.force_login(users["viewer"])
    assert client.get(run_url(backup, host=host.pk)).status_code == 403
    assert client.post(run_url(backup), {"host": host.pk, "digest": "x"}).status_code == 403
    execution = ExecutionFactory(runbook=backup, host=host)
    cancel = reverse("admin:runbooks_runbookexecution_workflow", args=[execution.pk, "cancel"])
    assert client.post(cancel, {"reason": "x"}).status_code == 403
    pin = reverse("admin:runbooks_host_workflow", args=[host.pk, "pin"])
    assert client.get(pin).status_code == 403
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.QUEUED
    # Viewers do see the record and its live output.
    assert client.get(reverse("admin:runbooks_runbookexecution_change", args=[execution.pk])).status_code == 200
    assert client.get(reverse("admin:runbooks_runbookexecution_output", args=[execution.pk])).status_code == 200


def test_operator_cancels_a_queued_execution_from_the_admin(client, users, host, backup):
    execution = ExecutionFactory(runbook=backup, host=host)
    client.force_login(users["operator"])
    url = reverse("admin:runbooks_runbookexecution_workflow", args=[execution.pk, "cancel"])
    assert client.get(url).status_code == 200
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.QUEUED, "GET never mutates"
    client.post(url, {"reason": "wrong host"})
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.CANCELLED and execution.cancel_requested_by == users["operator"]
    assert AuditEvent.objects.filter(action="runbooks.execution.cancelled", actor=users["operator"]).exists()


def test_retry_button_only_for_finished_failures(client, users, host, backup):
    site_settings_set_phase(actor="system:test", phase="prelaunch")
    failed = ExecutionFactory(
        runbook=backup,
        host=host,
        status=ExecutionStatus.FAILED,
        plan=[{"order": 1, "task": "backup_database", "params": {}, "timeout": 60}],
    )
    client.force_login(users["operator"])
    page = client.get(reverse("admin:runbooks_runbookexecution_change", args=[failed.pk]))
    buttons = {b["name"]: b for b in page.context["workflow_buttons"]}
    assert buttons["retry"]["enabled"] and "cancel" not in buttons
    client.post(reverse("admin:runbooks_runbookexecution_workflow", args=[failed.pk, "retry"]), {})
    retry = RunbookExecution.objects.exclude(pk=failed.pk).get()
    assert retry.retry_of == failed and retry.requested_via == "retry"


def test_output_json_needs_a_login_and_shows_steps(client, users, host, backup):
    from django.utils import timezone

    from runbooks.choices import StepKind
    from runbooks.models import ExecutionStep

    execution = ExecutionFactory(runbook=backup, host=host, status=ExecutionStatus.RUNNING, started_at=timezone.now())
    ExecutionStep.objects.create(
        execution=execution,
        order=1,
        plan_index=0,
        task="backup_database",
        kind=StepKind.COMMAND,
        label="Dump",
        command="timeout 5s sh -c 'x'",
        status="running",
        started_at=timezone.now(),
        stdout="line 1\n",
        stdout_bytes=7,
    )
    url = reverse("admin:runbooks_runbookexecution_output", args=[execution.pk])
    assert client.get(url).status_code == 302  # to the login page
    client.force_login(users["viewer"])
    data = client.get(url).json()
    assert data["status"] == "running" and data["final"] is False
    assert data["steps"][0]["stdout"] == "line 1\n" and data["steps"][0]["command"] == "timeout 5s sh -c 'x'"
    assert client.post(url).status_code == 403


def test_queued_execution_shows_what_it_waits_for(client, users, host, backup):
    running = ExecutionFactory(runbook=backup, host=host, status=ExecutionStatus.RUNNING)
    waiting = ExecutionFactory(runbook=backup, host=host)
    client.force_login(users["viewer"])
    page = client.get(reverse("admin:runbooks_runbookexecution_changelist")).content.decode()
    assert f"waiting for execution #{running.pk} on this host" in page
    data = client.get(reverse("admin:runbooks_runbookexecution_output", args=[waiting.pk])).json()
    assert data["waiting"] == f"waiting for execution #{running.pk} on this host"


def test_runbook_steps_are_validated_on_save(client, users):
    client.force_login(users["admin"])
    data = {
        "name": "Bad",
        "slug": "bad",
        "description": "",
        "default_host_role": "db",
        "enabled": "on",
        "steps-TOTAL_FORMS": "1",
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
        "steps-0-order": "1",
        "steps-0-task": "backup_database",
        "steps-0-params": '{"database": "ersen; rm -rf /"}',
        "steps-0-timeout_seconds": "",
    }
    response = client.post(reverse("admin:runbooks_runbook_add"), data)
    assert response.status_code == 200 and "is refused" in response.content.decode()
    assert not Runbook.objects.filter(slug="bad").exists()
    data["steps-0-params"] = '{"database": "ersen"}'
    response = client.post(reverse("admin:runbooks_runbook_add"), data)
    assert response.status_code == 302
    runbook = Runbook.objects.get(slug="bad")
    assert AuditEvent.objects.get(action="runbooks.runbook.created").data["after"]["steps"][0]["params"] == {
        "database": "ersen"
    }
    assert runbook.steps.get().task == "backup_database"


def test_host_parameter_defaults_are_validated(client, users):
    client.force_login(users["admin"])
    data = {
        "name": "h1",
        "hostname": "10.0.0.9",
        "port": "22",
        "ssh_user": "deploy",
        "roles": "db",
        "enabled": "on",
        "parameter_defaults": '{"backup_dir": "../etc"}',
        "notes": "",
    }
    response = client.post(reverse("admin:runbooks_host_add"), data)
    assert response.status_code == 200 and "“backup_dir”" in response.content.decode()
    data["parameter_defaults"] = '{"backup_dir": "/srv/backups"}'
    assert client.post(reverse("admin:runbooks_host_add"), data).status_code == 302
    assert AuditEvent.objects.get(action="runbooks.host.created").data["after"]["hostname"] == "10.0.0.9"


@pytest.mark.parametrize("model", ["runbookexecution", "host", "runbook"])
def test_changelists_use_a_constant_number_of_queries(client, users, django_assert_max_num_queries, model):
    from tests.factories import ComponentFactory

    client.force_login(users["admin"])
    url = reverse(f"admin:runbooks_{model}_changelist")

    def make(n):
        runbook = runbook_with_steps("rb", [{"task": "smoke_test"}])
        for i in range(n):
            h = HostFactory(name=f"h-{model}-{Host.objects.count()}-{i}")
            h.components.add(ComponentFactory())
            ExecutionFactory(runbook=runbook, host=h, status=ExecutionStatus.QUEUED)

    make(10)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    make(60)
    with django_assert_max_num_queries(len(small.captured_queries)):
        assert client.get(url).status_code == 200


def test_fetch_and_pin_shows_the_fingerprint_and_records_who_pinned_it(client, users, sandbox):
    from runbooks import remote

    host = HostFactory(name="sandbox", hostname="127.0.0.1", port=sandbox.port, ssh_user=sandbox.user)
    expected = remote.fingerprint_of(sandbox.host_key().key_type, sandbox.host_key().key_base64)
    client.force_login(users["admin"])
    url = reverse("admin:runbooks_host_workflow", args=[host.pk, "pin"])
    page = client.get(url)
    assert page.status_code == 200 and f"ssh-ed25519 {expected}" in page.content.decode()
    host.refresh_from_db()
    assert not host.is_pinned, "GET never pins"
    # A fingerprint other than the one the server presents is refused.
    refused = client.post(url, {"fingerprint": "SHA256:somethingelse", "compared": "on"})
    assert refused.status_code == 400 and "not the SHA256:somethingelse you confirmed" in refused.content.decode()
    client.post(url, {"fingerprint": expected, "compared": "on"})
    host.refresh_from_db()
    assert host.host_key_fingerprint == expected and host.host_key_pinned_by == users["admin"]
    event = AuditEvent.objects.get(action="runbooks.host.key_pinned")
    assert event.data["reauthenticated"] is True  # a fresh second factor (the login, just now)
    assert event.actor == users["admin"] and event.data["after"]["host_key_fingerprint"] == expected
    assert event.data["before"]["host_key_fingerprint"] == ""


def test_operators_cannot_pin_host_keys(client, users, sandbox):
    host = HostFactory(name="sandbox", hostname="127.0.0.1", port=sandbox.port)
    client.force_login(users["operator"])
    assert client.get(reverse("admin:runbooks_host_workflow", args=[host.pk, "pin"])).status_code == 403


# --- the Run page's parameter form (issue 14 point 9) --------------------------------------------------------


def test_run_page_has_a_typed_field_per_parameter_with_the_value_this_run_uses(client, users, host, backup):
    client.force_login(users["operator"])
    response = client.get(run_url(backup, host=host.pk))
    form = response.context["form"]
    assert form["param__verify_restore"].field.choices == [("yes", "yes"), ("no", "no")]
    assert form["param__verify_restore"].value() == "no"
    assert form["param__backup_dir"].value() == "/srv/backups"  # the host's default, not the task's
    help_text = form["param__backup_dir"].help_text
    assert "Allowed: an absolute path" in help_text and "This runbook and host use '/srv/backups'." in help_text
    assert "Task default: 'ersen'." in form["param__database"].help_text


def test_changed_values_re_render_the_commands_before_anything_runs(client, users, host, backup):
    site_settings_set_phase(actor="system:test", phase="prelaunch")
    client.force_login(users["operator"])
    digest = client.get(run_url(backup, host=host.pk)).context["form"].initial["digest"]
    values = {"host": host.pk, "digest": digest, "param__database": "billing", "param__verify_restore": "yes"}
    shown = client.post(run_url(backup), {**values, "_rerender": "1"})
    assert shown.status_code == 302 and "param__database=billing" in shown["Location"]
    assert not RunbookExecution.objects.exists()
    page = client.get(shown["Location"])
    html = page.content.decode()
    assert "pg_dump -U ersen billing" in html and "Parameters you changed:" in html
    new_digest = page.context["form"].initial["digest"]
    assert new_digest != digest
    response = client.post(run_url(backup), {**values, "digest": new_digest})
    assert response.status_code == 302
    execution = RunbookExecution.objects.get()
    assert execution.plan[0]["params"]["database"] == "billing"
    assert execution.plan[0]["params"]["verify_restore"] == "yes"


def test_a_value_outside_the_allow_list_is_a_field_error_naming_the_rule(client, users, host, backup):
    site_settings_set_phase(actor="system:test", phase="prelaunch")
    client.force_login(users["operator"])
    digest = client.get(run_url(backup, host=host.pk)).context["form"].initial["digest"]
    response = client.post(run_url(backup), {"host": host.pk, "digest": digest, "param__database": "ersen; rm -rf /"})
    assert response.status_code == 400
    errors = response.context["form"].errors["param__database"]
    assert "'ersen; rm -rf /' is refused — allowed: a PostgreSQL name" in errors[0]
    assert not RunbookExecution.objects.exists()


def test_the_window_rule_is_stated_once_and_the_justification_is_asked_only_when_needed(client, users, host, backup):
    site_settings_set_phase(actor="system:test", phase="prelaunch")
    client.force_login(users["operator"])
    page = client.get(run_url(backup, host=host.pk))
    html = page.content.decode()
    assert html.count('class="window-rule"') == 1 and "No justification is needed." in html
    assert "justification" not in page.context["form"].fields
    site_settings_set_phase(actor="system:test", phase="postlaunch")
    page = client.get(run_url(backup, host=host.pk))
    html = page.content.decode()
    assert "has no maintenance window in progress" in html and "Type the justification below." in html
    assert "outside a window" not in html and "outside an in-progress window" not in html
    assert "justification" in page.context["form"].fields
