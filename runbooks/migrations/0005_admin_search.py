"""On PostgreSQL, a trigram index of exactly the text the admin's search matches (RunbookExecutionAdmin.search_expression), so a rare term is
found through the index instead of by reading every row."""

from django.db import migrations

SEARCH_SQL = "upper(runbook_name || ' ' || requested_by_name || ' ' || error || ' ' || task_id)"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS runbook_exec_search_trgm ON runbooks_runbookexecution USING gin (({SEARCH_SQL}) gin_trgm_ops)"
        )


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS runbook_exec_search_trgm")


class Migration(migrations.Migration):
    dependencies = [("runbooks", "0004_alter_runbookexecution_requested_via")]
    operations = [migrations.RunPython(forward, backward)]
