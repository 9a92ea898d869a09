"""The control room's headline says when all schedules are paused and how many scheduled runs were missed (24 h)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from scheduler import services
from scheduler.choices import Outcome
from scheduler.models import Occurrence
from tests.scheduler import factories as f

pytestmark = pytest.mark.django_db


def test_the_headline_names_the_pause_and_counts_misses(client, users):
    s = f.schedule(runbook=f.smoke_runbook(), target=f.host())
    now = timezone.now()
    for minutes in (5, 10):
        Occurrence.objects.create(
            schedule=s, due_at=now - timedelta(minutes=minutes), outcome=Outcome.MISSED, recorded_at=now
        )
    services.scheduler_pause(actor=users["operator"], reason="Migrating the VPS")
    client.force_login(users["viewer"])
    html = client.get(reverse("admin:index")).content.decode()
    assert "All schedules paused by operator" in html
    assert "2 scheduled runs missed (24 h)" in html
