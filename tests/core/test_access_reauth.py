"""Re-authentication before production actions: a stale session is asked for a fresh second factor (the prompt
names the action, the request is replayed after it), a fresh one is not, and the audit event says so."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.access import policy
from ersen_ops.core.models import SiteSettings
from ersen_ops.core.services import site_settings_get
from maintenance.choices import MaintenanceType, WindowStatus
from runbooks.models import RunbookExecution
from subscribers.choices import WebhookStatus
from tests.access import age_session, totp_code
from tests.maintenance.factories import MaintenanceWindowFactory
from tests.runbooks.factories import HostFactory, runbook_with_steps
from tests.subscribers.factories import WebhookSubscriberFactory

pytestmark = pytest.mark.django_db

STALE = 11  # minutes: OPS_REAUTH_MINUTES is 10


def asked_to_reauthenticate(response, path: str) -> bool:
    if response.status_code != 302:
        return False
    url = urlparse(response["Location"])
    return url.path == "/accounts/2fa/reauthenticate/" and parse_qs(url.query)["next"] == [path]


# --- the rule ----------------------------------------------------------------------------------------------------


def test_a_second_factor_is_fresh_for_ten_minutes_and_a_password_does_not_replace_it():
    records = [{"method": "password", "at": 1000.0}, {"method": "mfa", "type": "totp", "at": 1000.0}]
    assert policy.fresh_authentication(records, has_factor=True, now=1000 + 599, max_age_seconds=600)
    assert policy.fresh_authentication(records, has_factor=True, now=1000 + 600, max_age_seconds=600) is None
    password_later = [*records, {"method": "password", "at": 1500.0, "reauthenticated": True}]
    assert policy.fresh_authentication(password_later, has_factor=True, now=1700, max_age_seconds=600) is None
    # someone without a factor re-authenticates with the password
    assert policy.fresh_authentication(password_later, has_factor=False, now=1700, max_age_seconds=600)


# --- each guarded action -------------------------------------------------------------------------------------------


def change_phase(client, phase="prelaunch"):
    site_settings_get()
    return client.post(f"/admin/core/sitesettings/{SiteSettings.objects.get().pk}/change/", {"phase": phase})


def test_changing_the_phase_from_a_stale_session_asks_names_the_action_and_replays_it(client, users):
    client.force_login(users["admin"])
    age_session(client, STALE)
    path = f"/admin/core/sitesettings/{site_settings_get().pk}/change/"
    response = change_phase(client)
    assert asked_to_reauthenticate(response, path)
    assert SiteSettings.objects.get().phase == "postlaunch"  # nothing changed yet
    prompt = client.get(response["Location"]).content.decode()
    assert "Change the phase to prelaunch" in prompt and 'name="code"' in prompt
    replayed = client.post(response["Location"], {"code": totp_code(users["admin"]), "next": path})
    assert replayed.status_code == 302
    assert SiteSettings.objects.get().phase == "prelaunch"
    event = AuditEvent.objects.get(action="site.phase_changed")
    assert event.data["reauthenticated"] is True and event.data["reauthenticated_with"] == "totp"
    assert event.data["reauthenticated_at"]


def test_changing_the_phase_from_a_fresh_session_is_not_asked(client, users):
    client.force_login(users["admin"])
    age_session(client, 5)
    assert change_phase(client).status_code == 302
    event = AuditEvent.objects.get(action="site.phase_changed")
    assert event.data["reauthenticated"] is True and event.data["after"] == {"phase": "prelaunch"}


def test_re_enabling_a_webhook(client, users):
    webhook = WebhookSubscriberFactory(status=WebhookStatus.DISABLED, disabled_reason="10 failures")
    path = f"/admin/subscribers/webhooksubscriber/{webhook.pk}/do/enable/"
    client.force_login(users["operator"])
    age_session(client, STALE)
    assert asked_to_reauthenticate(client.post(path), path)
    webhook.refresh_from_db()
    assert webhook.status == WebhookStatus.DISABLED
    client.force_login(users["operator"])  # fresh
    assert client.post(path).status_code == 302
    webhook.refresh_from_db()
    assert webhook.status == WebhookStatus.ACTIVE
    assert AuditEvent.objects.get(action="subscribers.webhook.enabled").data["reauthenticated"] is True


def test_starting_an_emergency_window_but_not_a_routine_one(client, users, settings):
    emergency = MaintenanceWindowFactory(type=MaintenanceType.EMERGENCY, status=WindowStatus.SCHEDULED)
    path = reverse("admin:maintenance_maintenancewindow_workflow", args=[emergency.pk, "start"])
    client.force_login(users["operator"])
    age_session(client, STALE)
    assert asked_to_reauthenticate(client.post(path, {"justification": "payments down"}), path)
    emergency.refresh_from_db()
    assert emergency.status == WindowStatus.SCHEDULED
    routine = MaintenanceWindowFactory(type=MaintenanceType.ROUTINE, status=WindowStatus.SCHEDULED)
    routine_path = reverse("admin:maintenance_maintenancewindow_workflow", args=[routine.pk, "start"])
    assert not asked_to_reauthenticate(client.post(routine_path, {"justification": ""}), routine_path)
    client.force_login(users["operator"])  # fresh
    response = client.post(path, {"justification": "payments down"})
    emergency.refresh_from_db()
    assert response.status_code == 302 and emergency.status == WindowStatus.IN_PROGRESS
    started = AuditEvent.objects.filter(action__startswith="maintenance.window", target_id=str(emergency.pk)).last()
    assert started.data["reauthenticated"] is True


@pytest.fixture
def pinned_host(db):
    return HostFactory(
        name="prod-1",
        hostname="10.0.0.5",
        ssh_user="deploy",
        host_key_type="ssh-ed25519",
        host_key="AAAAC3NzaC1lZDI1NTE5AAAAIBd7Yy2Y6q1rX8h9r7e9o1H0Xw4oU2mJm3nq1aVbQwzA",
        host_key_fingerprint="SHA256:pinnedpinnedpinned",
    )


def launch(client, runbook, host):
    path = reverse("admin:runbooks_runbook_workflow", args=[runbook.pk, "run"])
    digest = client.get(f"{path}?host={host.pk}").context["form"].initial["digest"]
    return path, client.post(
        path,
        {
            "host": host.pk,
            "digest": digest,
            "justification": "Payments are down: the on-call engineer restarts the proxy now.",
        },
    )


def test_launching_a_runbook_that_changes_a_host_but_not_a_read_only_one(client, users, pinned_host):
    restart = runbook_with_steps("restart-proxy", [{"task": "restart_service", "params": {"service": "traefik"}}])
    smoke = runbook_with_steps("smoke", [{"task": "smoke_test"}])
    client.force_login(users["operator"])
    age_session(client, STALE)
    path, response = launch(client, restart, pinned_host)
    assert asked_to_reauthenticate(response, path)
    assert not RunbookExecution.objects.exists()
    _, response = launch(client, smoke, pinned_host)
    assert response.status_code == 302 and RunbookExecution.objects.count() == 1  # read-only: not asked
    client.force_login(users["operator"])  # fresh
    _, response = launch(client, restart, pinned_host)
    assert response.status_code == 302 and RunbookExecution.objects.count() == 2
    requested = AuditEvent.objects.filter(action="runbooks.execution.requested").order_by("id")
    assert "reauthenticated" not in requested[0].data and requested[1].data["reauthenticated"] is True


def test_pinning_a_host_key_from_a_stale_session_is_asked(client, users, pinned_host):
    path = reverse("admin:runbooks_host_workflow", args=[pinned_host.pk, "pin"])
    client.force_login(users["admin"])
    age_session(client, STALE)
    assert asked_to_reauthenticate(client.post(path, {"fingerprint": "SHA256:whatever", "compared": "on"}), path)
    assert not AuditEvent.objects.filter(action="runbooks.host.key_pinned").exists()


def test_changing_a_users_roles(client, users):
    from django.contrib.auth.models import Group

    from ersen_ops.core import roles
    from tests.core.test_user_access import user_form

    viewer, operators = users["viewer"], Group.objects.get(name=roles.OPERATORS)
    path = f"/admin/auth/user/{viewer.pk}/change/"
    client.force_login(users["admin"])
    age_session(client, STALE)
    assert asked_to_reauthenticate(client.post(path, user_form(viewer, groups=[operators])), path)
    assert list(viewer.groups.values_list("name", flat=True)) == [roles.VIEWERS]  # nothing saved
    client.force_login(users["admin"])  # fresh
    assert client.post(path, user_form(viewer, groups=[operators])).status_code == 302
    event = AuditEvent.objects.get(action="user.access_changed")
    assert event.data["after"] == {"groups": [roles.OPERATORS]} and event.data["reauthenticated"] is True
    # Editing a name only is no change of access: not asked, even from a stale session.
    age_session(client, STALE)
    form = {**user_form(viewer, groups=[operators]), "first_name": "Vera"}
    assert client.post(path, form).status_code == 302
