from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "ersen_ops.audit"
    label = "audit"
    verbose_name = "Audit log"
