"""Demo data: idempotent, with one login per role."""

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command

from ersen_ops.status.models import Component

pytestmark = pytest.mark.django_db


def _counts():
    return {
        m._meta.label: m.objects.count() for m in apps.get_models() if m._meta.app_label not in {"sessions", "django_q"}
    }


def test_seed_demo_twice_changes_nothing(tmp_path, settings, capsys):
    settings.BASE_DIR = tmp_path
    call_command("seed_demo")
    out = capsys.readouterr().out
    after_first = _counts()
    call_command("seed_demo")
    assert _counts() == after_first
    assert set(Component.objects.values_list("name", flat=True)) >= {
        "Website",
        "Login",
        "Widgets",
        "Payments",
        "API",
        "Database",
    }
    User = get_user_model()
    assert User.objects.get(username="admin").is_superuser
    for username, role in [
        ("operator", "Operators"),
        ("approver", "Approvers"),
        ("commander", "Incident commanders"),
        ("viewer", "Viewers"),
    ]:
        assert User.objects.get(username=username).groups.filter(name=role).exists()
        assert username in out
    assert (tmp_path / ".demo-credentials").stat().st_mode & 0o077 == 0


def test_seeded_status_posts_are_dated_when_their_events_happened(
    tmp_path, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone
    from django_q.conf import Conf

    from ersen_ops.status.models import StatusPost

    monkeypatch.setattr(Conf, "SYNC", True)  # the worker's sending, inline: each delivery publishes its post
    settings.BASE_DIR = tmp_path
    seeded_at = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", quiet_credentials=True)
    posts = list(StatusPost.objects.order_by("created_at"))
    assert len(posts) >= 10

    def dates(words):
        return [p.created_at for p in posts if words in p.subject]

    # The completed upgrade: announced two days ahead, started and completed on its day, about a week ago.
    scheduled, started, completed = (
        dates(f"{kind}: PostgreSQL 16.4")[0] for kind in ("Scheduled maintenance", "in progress", "complete")
    )
    assert scheduled < started < completed < seeded_at - timedelta(days=6)
    assert started - scheduled >= timedelta(days=2) and completed - started == timedelta(minutes=28)
    # The resolved P1, nine days ago, in the order of its updates.
    p1 = dates("Login fails after certificate renewal")
    assert p1 == sorted(p1) and seeded_at - timedelta(days=10) < p1[0] < p1[-1] < seeded_at - timedelta(days=8)
    # A history over weeks, not a burst at the seeding time: only what really happens now is dated now.
    assert posts[-1].created_at - posts[0].created_at > timedelta(days=14)
    recent = [p for p in posts if p.created_at > seeded_at - timedelta(minutes=5)]
    assert len(recent) <= 3, [p.subject for p in recent]
