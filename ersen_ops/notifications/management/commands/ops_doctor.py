"""`manage.py ops_doctor`: is this deployment ready to be relied on?

Prints what the control room shows at the top (channels the protocol relies on that are not configured,
deliveries of the last 7 days that reached nobody) and the rest of what production needs (SECRET_KEY,
ALLOWED_HOSTS, PostgreSQL, EMAIL_URL, the SSH key, the backup folder, OPS_STATUS_PAGE_URL, a worker
heartbeat). Exit status 1 when a channel the protocol cannot do without (the pager, for P1s) is missing after
launch, or with --strict when anything is not ok; 0 otherwise.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError
from django.urls import reverse
from django.utils import timezone

from ersen_ops.core.choices import Phase
from ersen_ops.core.doctor import FAIL, OK, WARN, deployment_findings
from ersen_ops.core.services import current_phase
from ersen_ops.notifications.outcomes import channel_label, channel_not_configured
from ersen_ops.notifications.reliance import reliances, unconfigured_channels
from ersen_ops.notifications.selectors import undelivered_counts, undelivered_list_query

UNDELIVERED_DAYS = 7
MARKS = {OK: "ok  ", WARN: "WARN", FAIL: "FAIL"}


class Command(BaseCommand):
    help = (
        "Check this deployment: notification channels the protocol relies on, deliveries that reached nobody in "
        "the last 7 days, and the production configuration. Exits 1 when the pager is missing after launch "
        "(or, with --strict, when anything is not ok)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--strict", action="store_true", help="exit 1 on any warning or failure")

    def handle(self, *args, strict=False, **options):
        now = timezone.now()
        out = self.stdout.write
        try:
            phase = current_phase()
            database = ""
        except DatabaseError as exc:  # unreachable or not migrated: say so, check the rest from the settings
            phase = settings.OPS_PHASE
            database = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} (run manage.py migrate?)"
        out(f"Ersen Ops doctor — phase: {Phase(phase).label}")
        if database:
            self._line(FAIL, "database", database)

        out("\nNotification channels the protocol relies on")
        gaps = {g.channel: g for g in unconfigured_channels(phase)}
        problems = 1 if database else 0
        blocking = []
        for channel, items in reliances(phase).items():
            gap = gaps.get(channel)
            purposes = "; ".join(r.purpose for r in items)
            if gap is None:
                self._line(OK, channel_label(channel), f"configured — {purposes}")
                continue
            level = FAIL if gap.blocking and phase == Phase.POSTLAUNCH else WARN
            problems += 1
            if level == FAIL:
                blocking.append(gap)
            self._line(level, gap.label, f"{gap.reason}; its messages are skipped — relied on for: {purposes}")
        if channel_not_configured("email") == "" and settings.EMAIL_BACKEND.endswith("console.EmailBackend"):
            self._line(WARN, "Email", "recipients set, but EMAIL_URL prints mail to the console (see below)")

        out(f"\nDeliveries of the last {UNDELIVERED_DAYS} days that reached nobody")
        since = now - timedelta(days=UNDELIVERED_DAYS)
        counts = undelivered_counts(since=since) if not database else None
        if counts is None:
            self._line(WARN, "deliveries", "not counted: the database cannot be read")
        elif counts["failed"] or counts["skipped"]:
            problems += 1
            where = (
                reverse("admin:notifications_notificationdelivery_changelist")
                + "?"
                + undelivered_list_query(since=since)
            )
            self._line(WARN, "deliveries", f"{counts['failed']} failed, {counts['skipped']} skipped — admin: {where}")
        else:
            self._line(OK, "deliveries", "none failed or skipped")

        out("\nProduction configuration")
        for finding in deployment_findings(now=now, database=not database):
            problems += finding.level != OK
            self._line(finding.level, finding.subject, finding.text)
        out("Also run: manage.py check --deploy")

        if blocking:
            raise CommandError(
                "After launch the protocol cannot be followed: "
                + "; ".join(f"{g.label} is not configured ({g.setting_hint})" for g in blocking)
                + "."
            )
        if strict and problems:
            raise CommandError(f"{problems} finding(s) are not ok (--strict).")
        out(f"\n{problems} finding(s) to look at." if problems else "\nEverything checked is ok.")

    def _line(self, level: str, subject: str, text: str) -> None:
        style = {OK: self.style.SUCCESS, WARN: self.style.WARNING, FAIL: self.style.ERROR}[level]
        self.stdout.write(f"  {style(MARKS[level])}  {subject}: {text}")
