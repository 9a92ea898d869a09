"""Demo maintenance windows in every state, built through the real services (so each has its audit trail).

Idempotent: a window whose title exists is left alone. Times are relative to now, so
the demo always shows an upcoming routine slot, a window running late and a closed one; what each step
announced is dated when the step happened (`deliveries_dated`), so the public history reads as it did.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from ersen_ops.notifications.services import deliveries_dated
from ersen_ops.status.models import Component
from maintenance import policy, services
from maintenance.choices import ItemKey, MaintenanceType
from maintenance.models import ChecklistItem, FreezePeriod, MaintenanceWindow

TITLES = {
    "upcoming": "Deploy release 2.4 (dashboard + API)",
    "draft": "Kernel security patch on the VPS",
    "running": "Emergency: PostgreSQL failover after disk errors",
    "done": "PostgreSQL 16.4 minor upgrade",
    "cancelled": "Traefik 3.2 upgrade",
}


def _components(*names):
    return list(Component.objects.filter(name__in=names))


def _approve(window, keys, users, now):
    for key in keys:
        item = ChecklistItem.objects.filter(window=window, key=key, done_at__isnull=True).first()
        if item is None:
            continue
        extra = {"evidence_url": "https://backups.ersen.xyz/listing"} if key == ItemKey.BACKUP_VERIFIED else {}
        with deliveries_dated(now):
            services.checklist_approve(actor=users["approver"], item=item, note="Checked (demo).", now=now, **extra)


def seed(stdout) -> None:
    User = get_user_model()
    users = {u.username: u for u in User.objects.filter(username__in=["operator", "approver", "admin"])}
    if not {"operator", "approver"} <= set(users):
        stdout.write("maintenance demo: the operator/approver logins are missing; skipped.")
        return
    operator, approver = users["operator"], users["approver"]
    now = timezone.now()
    existing = set(MaintenanceWindow.objects.filter(title__in=TITLES.values()).values_list("title", flat=True))
    common = {"owner": operator, "on_call_engineer": approver}

    if not FreezePeriod.objects.filter(name="Launch week freeze (demo)").exists():
        start = now + timedelta(days=45)
        services.freeze_save(
            actor=operator,
            freeze=FreezePeriod(
                name="Launch week freeze (demo)",
                start=start,
                end=start + timedelta(days=7),
                reason="Marketing launch: no planned changes.",
            ),
        )

    before_keys = [ItemKey.BACKUP_VERIFIED, ItemKey.ROLLBACK_PLAN, ItemKey.ON_CALL_CONFIRMED]

    if TITLES["upcoming"] not in existing:
        slot_start, _ = policy.next_routine_slots(now + timedelta(hours=24), 1)[0]
        window = services.window_create(
            actor=operator,
            title=TITLES["upcoming"],
            type=MaintenanceType.ROUTINE,
            planned_start=slot_start,
            planned_end=slot_start + timedelta(minutes=45),
            impact="The dashboard is read-only for up to 45 minutes; widgets keep serving.",
            reason="Release 2.4: new billing page and a database migration.",
            rollback_plan="Redeploy 2.3 (image tag v2.3.7) and restore the pre-maintenance dump.",
            components=_components("Website", "API", "Database"),
            **common,
        )
        services.window_schedule(actor=operator, window=window, now=now)
        _approve(window, [ItemKey.ROLLBACK_PLAN], {"approver": approver}, now)

    if TITLES["draft"] not in existing:
        start = now + timedelta(hours=6)
        services.window_create(
            actor=operator,
            title=TITLES["draft"],
            type=MaintenanceType.URGENT,
            planned_start=start,
            planned_end=start + timedelta(minutes=20),
            impact="The whole site is unavailable for about 10 minutes during the reboot.",
            reason="Kernel update for a published privilege-escalation CVE.",
            rollback_plan="Boot the previous kernel from the GRUB menu; unlock LUKS by hand afterwards.",
            components=_components("Website", "Login", "Widgets", "Payments", "API", "Database"),
            **common,
        )

    if TITLES["running"] not in existing:
        start = now - timedelta(minutes=90)
        window = services.window_create(
            actor=operator,
            title=TITLES["running"],
            type=MaintenanceType.EMERGENCY,
            planned_start=start,
            planned_end=start + timedelta(minutes=60),
            impact="Payments fail; the dashboard is read-only.",
            reason="The primary database disk reports I/O errors; failing over to the replica.",
            rollback_plan="",
            components=_components("Payments"),
            **common,
        )
        with deliveries_dated(start - timedelta(minutes=2)):
            services.window_schedule(actor=operator, window=window, now=start - timedelta(minutes=2))
        with deliveries_dated(start):
            services.window_start(
                actor=operator,
                window=window,
                now=start,
                justification="Customers cannot pay; no time for the backup first.",
            )
        # Running long: the sweeper marked it overdue soon after its ETA, and the admin shows it in red.
        with deliveries_dated(start + timedelta(minutes=65)):
            services.windows_mark_overdue(start + timedelta(minutes=65))

    if TITLES["done"] not in existing:
        slot_start, _ = policy.next_routine_slots(now - timedelta(days=8), 1)[0]
        window = services.window_create(
            actor=operator,
            title=TITLES["done"],
            type=MaintenanceType.ROUTINE,
            planned_start=slot_start,
            planned_end=slot_start + timedelta(minutes=30),
            impact="Brief read-only mode on the dashboard.",
            reason="Security fixes in PostgreSQL 16.4.",
            rollback_plan="Reinstall 16.3 packages; the on-disk format is unchanged.",
            components=_components("Database"),
            **common,
        )
        with deliveries_dated(slot_start - timedelta(days=2)):
            services.window_schedule(actor=operator, window=window, now=slot_start - timedelta(days=2))
        _approve(window, before_keys, {"approver": approver}, slot_start - timedelta(hours=2))
        with deliveries_dated(slot_start):
            services.window_start(actor=operator, window=window, now=slot_start)
        during = [ItemKey.MONITOR_LOGS, ItemKey.TEST_CORE]
        _approve(window, during, {"approver": approver}, slot_start + timedelta(minutes=20))
        with deliveries_dated(slot_start + timedelta(minutes=28)):
            services.window_complete(actor=operator, window=window, now=slot_start + timedelta(minutes=28))
        _approve(window, [ItemKey.SMOKE_TEST], {"approver": approver}, slot_start + timedelta(minutes=35))

    if TITLES["cancelled"] not in existing:
        slot_start, _ = policy.next_routine_slots(now + timedelta(days=8), 1)[0]
        window = services.window_create(
            actor=operator,
            title=TITLES["cancelled"],
            type=MaintenanceType.ROUTINE,
            planned_start=slot_start,
            planned_end=slot_start + timedelta(minutes=30),
            impact="TLS handshakes may fail for a few seconds.",
            reason="Traefik 3.2 with the new certificate resolver.",
            rollback_plan="Pin the previous image tag and restart traefik.",
            components=_components("Website"),
            **common,
        )
        services.window_cancel(
            actor=operator, window=window, reason="Upstream release pulled; waiting for 3.2.1.", now=now
        )

    created = len(set(TITLES.values()) - existing)
    if created:
        stdout.write(f"maintenance demo: {created} window(s) (draft, scheduled, running late, completed, cancelled).")
