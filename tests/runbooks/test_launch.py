"""Launch rules through the service: permissions, the post-launch window rule with real windows, snapshots."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from ersen_ops.core.errors import PermissionRefused, PolicyViolation
from ersen_ops.core.services import site_settings_set_phase
from maintenance.choices import WindowStatus
from runbooks import services
from tests.factories import ComponentFactory
from tests.maintenance.factories import MaintenanceWindowFactory
from tests.runbooks.factories import HostFactory, runbook_with_steps

pytestmark = pytest.mark.django_db


@pytest.fixture
def host(db):
    h = HostFactory(name="prod-1", host_key_type="ssh-ed25519", host_key="AAAA", host_key_fingerprint="SHA256:x")
    h.components.set([ComponentFactory(name="Database")])
    return h


@pytest.fixture(autouse=True)
def postlaunch(db):
    site_settings_set_phase(actor="system:test", phase="postlaunch")


def test_only_users_with_run_runbook_may_launch(users, host):
    runbook = runbook_with_steps("restart", [{"task": "restart_service"}])
    with pytest.raises(PermissionRefused, match="runbooks.run_runbook"):
        services.execution_launch(actor=users["viewer"], runbook=runbook, host=host, justification="x" * 20)


def test_inside_an_in_progress_window_of_the_hosts_components_no_justification(users, host):
    MaintenanceWindowFactory(
        status=WindowStatus.IN_PROGRESS,
        components=list(host.components.all()),
        planned_start=timezone.now() - timedelta(minutes=10),
    )
    runbook = runbook_with_steps("restart", [{"task": "restart_service"}])
    execution = services.execution_launch(actor=users["operator"], runbook=runbook, host=host)
    assert not execution.outside_window and execution.justification == ""


def test_a_window_of_other_components_does_not_count(users, host):
    MaintenanceWindowFactory(status=WindowStatus.IN_PROGRESS, components=[ComponentFactory(name="Widgets")])
    runbook = runbook_with_steps("restart", [{"task": "restart_service"}])
    with pytest.raises(PolicyViolation, match=r"prod-1 \(Database\) has no maintenance window in progress"):
        services.execution_launch(actor=users["operator"], runbook=runbook, host=host)
    execution = services.execution_launch(
        actor=users["operator"], runbook=runbook, host=host, justification="Certificate expired, customers see warnings"
    )
    assert execution.outside_window


def test_linking_a_window_that_does_not_cover_the_host_is_refused(users, host):
    other = MaintenanceWindowFactory(status=WindowStatus.SCHEDULED, components=[ComponentFactory(name="Widgets")])
    runbook = runbook_with_steps("backup", [{"task": "backup_database"}])
    with pytest.raises(PolicyViolation, match="does not include any component that runs on prod-1"):
        services.execution_launch(actor=users["operator"], runbook=runbook, host=host, window=other)


def test_the_plan_is_a_snapshot_edits_later_do_not_change_it(users, host):
    runbook = runbook_with_steps("restart", [{"task": "restart_service", "params": {"service": "traefik"}}])
    execution = services.execution_launch(
        actor=users["operator"], runbook=runbook, host=host, justification="Certificate expired, customers see warnings"
    )
    services.runbook_save(
        actor=users["admin"], runbook=runbook, steps=[{"task": "restart_service", "params": {"service": "web"}}]
    )
    execution.refresh_from_db()
    assert execution.plan[0]["params"]["service"] == "traefik"
    assert execution.host_snapshot["host_key_fingerprint"] == "SHA256:x"


def test_an_unpinned_host_is_refused_at_launch(users):
    bare = HostFactory(name="new-box")
    runbook = runbook_with_steps("restart", [{"task": "restart_service"}])
    with pytest.raises(Exception, match="new-box has no pinned host key"):
        services.execution_launch(actor=users["operator"], runbook=runbook, host=bare, justification="x" * 20)
