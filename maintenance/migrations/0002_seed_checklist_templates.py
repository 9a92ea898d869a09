"""Seeds the three checklist templates word for word from maintenance-window-best-practices.md (sections 3-5)."""

from django.db import migrations

# (phase, title, [(key, text), ...]) — texts exactly as the seed writes them.
SEED_CHECKLISTS = [
    (
        "before",
        "Checklist Before Maintenance",
        [
            ("backup_verified", "Backup completed and verified"),
            ("rollback_plan", "Rollback plan documented"),
            ("status_scheduled", 'Status page updated to "Scheduled Maintenance"'),
            ("on_call_confirmed", "On-call engineer confirmed available"),
            ("eta_communicated", "Estimated completion time communicated"),
        ],
    ),
    (
        "during",
        "During Maintenance",
        [
            ("status_under_maintenance", 'Status page shows "Under Maintenance"'),
            ("monitor_logs", "Monitor logs for issues"),
            ("test_core", "Test core functionality after changes"),
            ("update_eta", "Update ETA if running long"),
        ],
    ),
    (
        "after",
        "After Maintenance",
        [
            ("status_operational", 'Status page updated to "Operational"'),
            ("smoke_test", "Smoke test all critical paths (login, widgets, payments)"),
            ("summary_team_ops", "Post-maintenance summary in #team-ops"),
        ],
    ),
]


def seed(apps, schema_editor):
    ChecklistTemplate = apps.get_model("maintenance", "ChecklistTemplate")
    ChecklistTemplateItem = apps.get_model("maintenance", "ChecklistTemplateItem")
    db = schema_editor.connection.alias
    for phase, title, items in SEED_CHECKLISTS:
        template, created = ChecklistTemplate.objects.using(db).get_or_create(phase=phase, defaults={"title": title})
        if not created:
            continue
        for order, (key, text) in enumerate(items, start=1):
            ChecklistTemplateItem.objects.using(db).create(template=template, order=order, key=key, text=text)


class Migration(migrations.Migration):
    dependencies = [("maintenance", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
