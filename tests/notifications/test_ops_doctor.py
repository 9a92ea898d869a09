"""`manage.py ops_doctor`: the control room's channel findings plus what production needs; fails without a pager
after launch."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from ersen_ops.core.choices import Phase
from ersen_ops.core.models import WorkerHeartbeat
from ersen_ops.core.services import site_settings_set_phase
from ersen_ops.notifications.choices import DeliveryStatus
from tests.notifications.factories import DeliveryFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def configured(settings, tmp_path):
    key = tmp_path / "id_ed25519"
    key.write_text("key")
    settings.OPS_EMAIL_TO = ["ops@ersen.xyz"]
    for name in ("DISCORD_WEBHOOK_URL", "SLACK_WEBHOOK_URL", "SLACK_TEAM_OPS_WEBHOOK_URL", "PAGER_WEBHOOK_URL"):
        setattr(settings, name, "https://hooks.example/x")
    settings.PAGER_ROUTING_KEY = "key"
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.ALLOWED_HOSTS = ["ops.ersen.xyz", "status.ersen.xyz"]
    settings.OPS_STATUS_PAGE_URL = "https://status.ersen.xyz"
    settings.OPS_SSH_KEY_FILE = str(key)
    WorkerHeartbeat.objects.create(name="worker-1", seen_at=timezone.now())
    return settings


def doctor(*args) -> str:
    out = StringIO()
    call_command("ops_doctor", *args, stdout=out, no_color=True)
    return out.getvalue()


def test_without_a_pager_after_launch_the_doctor_fails_and_says_what_to_set(configured, capsys):
    site_settings_set_phase(actor="system:test", phase=Phase.POSTLAUNCH)
    configured.PAGER_WEBHOOK_URL = ""
    out = StringIO()
    with pytest.raises(CommandError, match=r"Pager is not configured \(set PAGER_WEBHOOK_URL\)"):
        call_command("ops_doctor", stdout=out, no_color=True)
    text = out.getvalue()
    assert "FAIL  Pager: not configured: set PAGER_WEBHOOK_URL; its messages are skipped" in text
    assert "P1 incidents (the immediate page)" in text
    assert "ok    Slack (alerts): configured" in text


def test_before_launch_a_missing_pager_is_a_warning_and_the_exit_status_is_zero(configured):
    site_settings_set_phase(actor="system:test", phase=Phase.PRELAUNCH)
    configured.PAGER_WEBHOOK_URL = ""
    text = doctor()
    assert "WARN  Pager: not configured" in text and "1 finding(s) to look at." in text


def test_the_doctor_checks_the_production_configuration(configured):
    site_settings_set_phase(actor="system:test", phase=Phase.POSTLAUNCH)
    text = doctor()
    for line in (
        "ok    SECRET_KEY: set (",
        "ok    ALLOWED_HOSTS: ops.ersen.xyz, status.ersen.xyz",
        "ok    EMAIL_URL: SMTP via",
        "ok    OPS_SSH_KEY_FILE:",
        "ok    OPS_BACKUP_DIR: /var/backups/ersen",
        "ok    OPS_STATUS_PAGE_URL: https://status.ersen.xyz",
        "ok    worker: heartbeat",
        "ok    deliveries: none failed or skipped",
    ):
        assert line in text, line
    assert ("ok    DATABASE_URL: PostgreSQL" in text) == ("postgresql" in configured.DATABASES["default"]["ENGINE"])

    configured.OPS_STATUS_PAGE_URL = "http://127.0.0.1:8000"
    configured.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    configured.OPS_SSH_KEY_FILE = "/nonexistent/key"
    WorkerHeartbeat.objects.update(seen_at=timezone.now() - timezone.timedelta(minutes=10))
    DeliveryFactory(status=DeliveryStatus.SKIPPED, last_error="not configured: set DISCORD_WEBHOOK_URL")
    text = doctor()
    assert "WARN  OPS_STATUS_PAGE_URL: http://127.0.0.1:8000 is this machine" in text
    assert "WARN  EMAIL_URL: console backend prints mail to the console" in text
    assert "FAIL  OPS_SSH_KEY_FILE: /nonexistent/key does not exist" in text
    assert "FAIL  worker: last heartbeat 6" in text
    assert (
        "WARN  deliveries: 0 failed, 1 skipped — admin: /admin/notifications/notificationdelivery/?status__in=" in text
    )
    with pytest.raises(CommandError, match=r"finding\(s\) are not ok \(--strict\)"):
        doctor("--strict")
