"""State changes of the public status machinery itself: the cache version and calendar sequences.

These run inside the caller's transaction (the receivers in `signals.py` call them on every
save of something the public status shows), so a rolled-back change bumps nothing and a
committed one is visible to the very next request in every process. They record no audit
event: they are bookkeeping of a cache, not decisions; the change that caused them is audited
by its own service.
"""

from __future__ import annotations

import hashlib
import json
import time

from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from ersen_ops.status.models import CalendarSequence, StatusVersion


def _now_us() -> int:
    return int(time.time() * 1_000_000)


def status_version_bump() -> None:
    """Move the public status version (one UPDATE; creates the row if a test flush removed it)."""
    now_us = _now_us()
    updated = StatusVersion.objects.filter(pk=StatusVersion.SINGLETON).update(
        version=F("version") + 1, changed_at_us=Greatest(F("changed_at_us"), now_us)
    )
    if updated:
        return
    try:
        with transaction.atomic():
            StatusVersion.objects.create(pk=StatusVersion.SINGLETON, version=1, changed_at_us=now_us)
    except IntegrityError:  # created concurrently: bump that one
        StatusVersion.objects.filter(pk=StatusVersion.SINGLETON).update(
            version=F("version") + 1, changed_at_us=Greatest(F("changed_at_us"), now_us)
        )


def calendar_fingerprint(fields: dict) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


@transaction.atomic
def calendar_sequence_sync(*, window_public_id: str, fields: dict) -> CalendarSequence:
    """Record what the window's VEVENT shows; bump its SEQUENCE when that changed. Idempotent."""
    fingerprint = calendar_fingerprint(fields)
    row = CalendarSequence.objects.select_for_update().filter(window_public_id=window_public_id).first()
    if row is None:
        try:
            with transaction.atomic():
                return CalendarSequence.objects.create(
                    window_public_id=window_public_id, sequence=0, fingerprint=fingerprint
                )
        except IntegrityError:
            row = CalendarSequence.objects.select_for_update().get(window_public_id=window_public_id)
    if row.fingerprint != fingerprint:
        row.sequence += 1
        row.fingerprint = fingerprint
        row.changed_at = timezone.now()
        row.save(update_fields=["sequence", "fingerprint", "changed_at"])
    return row
