"""On PostgreSQL, a statement trigger rejects TRUNCATE of the audit table, beside the UPDATE/DELETE row trigger.

TRUNCATE fires no row triggers, so the append-only trigger of 0002 never saw it. The same function
refuses it (its message names the operation). A superuser can still disable triggers: the witness file
(ersen_ops.audit.witness) is what notices that.
"""

from django.db import migrations

FORWARD = """
DROP TRIGGER IF EXISTS audit_auditevent_no_truncate ON audit_auditevent;
CREATE TRIGGER audit_auditevent_no_truncate
    BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_auditevent_append_only();
"""

BACKWARD = "DROP TRIGGER IF EXISTS audit_auditevent_no_truncate ON audit_auditevent;"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_trigger")]
    operations = [migrations.RunPython(forward, backward)]
