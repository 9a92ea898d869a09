from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _after_migrate(sender, using="default", **kwargs):
    from django.apps import apps

    # post_migrate is sent once per app; act once, after the last app created its permissions.
    with_models = [c for c in apps.get_app_configs() if c.models_module is not None]
    if sender.label != with_models[-1].label:
        return
    from ersen_ops.core.roles import sync_roles
    from ersen_ops.core.scheduling import apply_schedules

    sync_roles(using=using)
    apply_schedules()
    _create_cache_table(using)


def _create_cache_table(using: str) -> None:
    """The database cache (rate-limit counts, used TOTP codes) needs its table; creating it twice does nothing."""
    from django.conf import settings
    from django.core.management import call_command

    if any(c["BACKEND"].endswith("DatabaseCache") for c in settings.CACHES.values()):
        call_command("createcachetable", database=using, verbosity=0)


class CoreConfig(AppConfig):
    name = "ersen_ops.core"
    label = "core"
    verbose_name = "Site"

    def ready(self):
        from django.contrib.admin import options
        from django.db import models

        from ersen_ops.core import queue  # noqa: F401  (connects the django-q delivery counter)
        from ersen_ops.core.accounts import records
        from ersen_ops.core.forms import LimitedJSONField

        # Login records: every login, logout, failed login and lockout is audited.
        records.connect()
        # Every model JSONField in every admin form gets the size and depth limits. This app is first in
        # INSTALLED_APPS, so this runs before the admin's autodiscover instantiates any ModelAdmin.
        options.FORMFIELD_FOR_DBFIELD_DEFAULTS[models.JSONField] = {"form_class": LimitedJSONField}

        from ersen_ops.core.access import signals as access_signals

        access_signals.connect()  # allauth's factor/session signals → audit events

        # Runs once per migrate, after every app created its permissions.
        post_migrate.connect(_after_migrate, dispatch_uid="ersen_ops.core.after_migrate")
