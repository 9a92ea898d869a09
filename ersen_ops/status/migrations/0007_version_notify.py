"""On PostgreSQL, moving the public status version notifies every listening process (ersen_ops.status.version_push).

A trigger, not a call in the service: every writer of the row notifies, also one that bypasses the service, and in
the same transaction (NOTIFY is delivered at commit, never for a rollback).
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION status_statusversion_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('ersen_status_version', NEW.version::text || ':' || NEW.changed_at_us::text);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS status_statusversion_notify ON status_statusversion;
CREATE TRIGGER status_statusversion_notify
    AFTER INSERT OR UPDATE ON status_statusversion
    FOR EACH ROW EXECUTE FUNCTION status_statusversion_notify();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS status_statusversion_notify ON status_statusversion;
DROP FUNCTION IF EXISTS status_statusversion_notify();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("status", "0006_component_automatic_status")]
    operations = [migrations.RunPython(forward, backward)]
