"""Make django-q's schedules match the ones the apps declare (idempotent)."""

from django.core.management.base import BaseCommand

from ersen_ops.core.scheduling import apply_schedules


class Command(BaseCommand):
    help = "Create, update or delete the cluster's schedules to match the declared ones."

    def handle(self, *args, **options):
        counts = apply_schedules()
        self.stdout.write("schedules: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
