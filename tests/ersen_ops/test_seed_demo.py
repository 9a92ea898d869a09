"""Demo data: idempotent, with one login per role."""

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command

from ersen_ops.status.models import Component

pytestmark = pytest.mark.django_db


def _counts():
    return {m._meta.label: m.objects.count() for m in apps.get_models() if m._meta.app_label not in {"sessions", "django_q"}}


def test_seed_demo_twice_changes_nothing(tmp_path, settings, capsys):
    settings.BASE_DIR = tmp_path
    call_command("seed_demo")
    out = capsys.readouterr().out
    after_first = _counts()
    call_command("seed_demo")
    assert _counts() == after_first
    assert set(Component.objects.values_list("name", flat=True)) >= {"Website", "Login", "Widgets", "Payments", "API", "Database"}
    User = get_user_model()
    assert User.objects.get(username="admin").is_superuser
    for username, role in [("operator", "Operators"), ("approver", "Approvers"), ("commander", "Incident commanders"), ("viewer", "Viewers")]:
        assert User.objects.get(username=username).groups.filter(name=role).exists()
        assert username in out
    assert (tmp_path / ".demo-credentials").stat().st_mode & 0o077 == 0
