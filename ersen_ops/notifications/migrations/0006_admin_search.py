"""On PostgreSQL, a trigram index of exactly the text the admin's search matches (ersen_ops.notifications.admin.DELIVERY_SEARCH_SQL), so a rare term is
found through the index instead of by reading every row."""

from django.db import migrations

SEARCH_SQL = "upper(subject || ' ' || event || ' ' || target_name || ' ' || related_id || ' ' || dedup_key)"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS delivery_search_trgm ON notifications_notificationdelivery USING gin (({SEARCH_SQL}) gin_trgm_ops)"
        )


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS delivery_search_trgm")


class Migration(migrations.Migration):
    dependencies = [("notifications", "0005_delivery_content_fewer_indexes")]
    operations = [migrations.RunPython(forward, backward)]
