"""Never leak: a marker in every internal field of every model must appear on no public endpoint or page.

Two layers:
1. the data is made through the real services by staff whose user names, emails and names carry
   the marker, with the marker in every internal text typed in (internal notes, non-public
   updates, rollback plans, justifications, approval notes, level-change reasons, runbook
   output…), so any text a service publishes that quotes them would leak it;
2. then every remaining text field of every row of every model that is not public by design
   (see `is_public`) is overwritten with the marker — notification deliveries, hosts, audit
   data, checklist items, freezes, hidden components, drafts, unannounced windows…

Then every public endpoint and page is fetched and searched (the calendar unfolded first).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.apps import apps
from django.db import models

from ersen_ops.audit.services import record
from ersen_ops.core import roles
from ersen_ops.core.choices import Phase
from ersen_ops.core.services import site_settings_set_phase
from ersen_ops.status.services import status_version_bump
from incidents import services as incident_services
from maintenance import services
from maintenance.choices import ChecklistPhase, ItemKey
from maintenance.models import FreezePeriod, MaintenanceWindow
from statuspage import caching, policy
from tests.factories import ComponentFactory, user_with_role
from tests.maintenance.conftest import approve_phase
from tests.maintenance.factories import JAN_TUE_0200, MaintenanceWindowFactory
from tests.statuspage.test_integration import send_posts

pytestmark = pytest.mark.django_db

MARKER = "Zq7LEAKq"
PROJECT_APPS = {"auth", "core", "audit", "notifications", "status", "maintenance", "incidents", "runbooks"}
THU = JAN_TUE_0200 + timedelta(days=2)


def marked(text: str = "") -> str:
    return f"{text} {MARKER}".strip()


# --- what is public by design ---------------------------------------------------------------------------------


def is_public(obj, field: str) -> bool:
    label = obj._meta.label
    if label == "status.Component":
        return field in ("name", "description") and obj.public and (obj.group is None or obj.group.public)
    if label == "incidents.Incident":
        return field == "title" and obj.updates.filter(public=True).exists()
    if label == "incidents.IncidentUpdate":
        return field == "body" and obj.public
    if label == "maintenance.MaintenanceWindow":
        announced = obj.status != "draft" and obj.announced_at is not None
        return announced and field in ("title", "announcement", "cancellation_reason")
    if label == "status.StatusPost":
        return field == "body" and obj.event in policy.MAINTENANCE_EVENT_STATUS
    return False


SKIPPED_FIELDS = {
    # Identifiers and links between rows (not text anyone reads); changing them would break the data set.
    "public_id",
    "related_id",
    "evidence_id",
    "target_id",
    "window_public_id",
    "event",
    "password",
    "codename",
}


def mark_every_internal_field() -> int:
    """Overwrite every non-public text/JSON field of every row with the marker. Returns the number of fields."""
    count = 0
    for model in apps.get_models():
        meta = model._meta
        if meta.app_label not in PROJECT_APPS or meta.proxy or not meta.managed:
            continue
        if meta.label in ("audit.AuditEvent", "auth.Permission"):
            continue  # append-only (written with the marker through record()); Django's own catalogue
        for obj in model.objects.all():
            changes = {}
            for field in meta.concrete_fields:
                if field.primary_key or field.choices or field.name in SKIPPED_FIELDS or is_public(obj, field.name):
                    continue
                if isinstance(field, models.JSONField):
                    changes[field.name] = {"leak": MARKER}
                elif isinstance(field, (models.CharField, models.TextField)):
                    value = f"{MARKER}{obj.pk}" if field.unique else MARKER
                    if field.max_length:
                        value = value[: field.max_length]
                    changes[field.name] = value
            if changes:
                model.objects.filter(pk=obj.pk).update(**changes)
                count += len(changes)
    # update() sends no signals: tell the status cache, as any bulk writer must.
    status_version_bump()
    caching.documents.clear()
    return count


# --- the data set ---------------------------------------------------------------------------------------------------


def staff():
    roles.sync_roles()
    people = {
        "operator": user_with_role(f"{MARKER}op", roles.OPERATORS),
        "approver": user_with_role(f"{MARKER}ap", roles.APPROVERS),
        "commander": user_with_role(f"{MARKER}ic", roles.INCIDENT_COMMANDERS),
        "admin": user_with_role(f"{MARKER}ad", None),
    }
    people["admin"].is_superuser = True
    for user in people.values():
        user.email = f"{user.username.lower()}@ersen.xyz"
        user.first_name, user.last_name = MARKER, MARKER
        user.save()
    return people


def build_world():
    site_settings_set_phase(actor="system:test", phase=Phase.POSTLAUNCH)
    people = staff()
    operator, approvers = people["operator"], [people["approver"], people["admin"]]
    database = ComponentFactory(name="Database", position=1)
    api = ComponentFactory(name="API", position=2)
    hidden_group = ComponentFactory(name=marked("Internal group"), is_group=True, public=False, position=3)
    ComponentFactory(name=marked("Hidden worker"), group=hidden_group, position=4)
    ComponentFactory(name=marked("Secret queue"), public=False, position=5, status="major_outage")
    FreezePeriod.objects.create(
        name=marked("Freeze"), start=THU + timedelta(days=30), end=THU + timedelta(days=31), reason=MARKER
    )

    # A window through its whole life, every internal text carrying the marker.
    window = MaintenanceWindowFactory(
        title="Database upgrade",
        owner=operator,
        on_call_engineer=people["approver"],
        components=[database],
        rollback_plan=marked("Restore the backup"),
    )
    services.window_schedule(actor=operator, window=window, now=JAN_TUE_0200 - timedelta(days=3))
    services.window_update(
        actor=operator,
        window=window,
        planned_start=THU,
        planned_end=THU + timedelta(hours=1),
        now=JAN_TUE_0200 - timedelta(days=2),
    )
    approve_phase(window, ChecklistPhase.BEFORE, approvers, now=THU - timedelta(hours=1), note=marked("looks fine"))
    services.window_start(actor=operator, window=window, now=THU)
    services.window_update_eta(
        actor=operator,
        window=window,
        new_eta=THU + timedelta(minutes=90),
        reason="Reindexing takes longer",
        now=THU + timedelta(minutes=50),
    )
    approve_phase(
        window,
        ChecklistPhase.DURING,
        approvers,
        now=THU + timedelta(minutes=60),
        note=marked("ok"),
        skip_keys=[ItemKey.UPDATE_ETA],
    )
    services.window_complete(actor=operator, window=window, now=THU + timedelta(minutes=70))
    record(actor=operator, action="test.leak", target=window, data={"secret": MARKER})

    # Announced then cancelled; a draft; a draft cancelled before announcing.
    cancelled = MaintenanceWindowFactory(
        title="Kernel patch",
        owner=operator,
        components=[api],
        planned_start=THU + timedelta(days=5),
        planned_end=THU + timedelta(days=5, hours=1),
    )
    services.window_schedule(actor=operator, window=cancelled, now=THU)
    services.window_cancel(actor=operator, window=cancelled, reason="Vendor fix slipped", now=THU + timedelta(hours=2))
    MaintenanceWindowFactory(
        title=marked("Draft"),
        owner=operator,
        components=[api],
        planned_start=THU + timedelta(days=7),
        planned_end=THU + timedelta(days=7, hours=1),
    )
    never = MaintenanceWindowFactory(
        title=marked("Never announced"),
        owner=operator,
        components=[api],
        planned_start=THU + timedelta(days=9),
        planned_end=THU + timedelta(days=9, hours=1),
    )
    services.window_cancel(actor=operator, window=never, reason=marked("not needed"), now=THU)

    # A public incident with internal notes, a non-public update, a level change; a silent incident.
    commander = people["commander"]
    incident = incident_services.incident_open(
        actor=commander,
        title="Slow API",
        level="P2",
        components={api: "degraded_performance"},
        message="We are investigating slow responses.",
        internal_notes=marked("Suspect the cache"),
        commander=commander,
        maintenance_window=None,
        now=THU + timedelta(hours=3),
    )
    incident_services.incident_acknowledge(actor=commander, incident=incident, now=THU + timedelta(hours=3, minutes=2))
    incident_services.incident_post_update(
        actor=commander,
        incident=incident,
        status="identified",
        body=marked("Cache node 3 is bad"),
        public=False,
        now=THU + timedelta(hours=3, minutes=5),
    )
    incident_services.incident_change_level(
        actor=commander,
        incident=incident,
        level="P1",
        reason=marked("Customers escalated"),
        now=THU + timedelta(hours=3, minutes=6),
    )
    incident_services.incident_post_update(
        actor=commander,
        incident=incident,
        status="monitoring",
        body="A fix is deployed.",
        now=THU + timedelta(hours=3, minutes=10),
    )
    incident_services.incident_edit(
        actor=commander,
        incident=incident,
        postmortem_summary=marked("Postmortem"),
        postmortem_url="https://wiki.example/pm",
    )
    incident_services.incident_open(
        actor=commander,
        title=marked("Silent incident"),
        level="P3",
        internal_notes=MARKER,
        now=THU + timedelta(hours=4),
    )

    # Runbooks (hosts, an execution linked to the window, its output), if that app is installed.
    try:
        from runbooks.models import ExecutionStep, Host, Runbook, RunbookExecution
    except ImportError:  # pragma: no cover - the runbooks app is part of the project
        pass
    else:
        host = Host.objects.create(name="prod-1", hostname="prod-1.internal", notes=MARKER)
        host.components.set([database])
        runbook = Runbook.objects.create(name="backup", slug="backup", description=MARKER)
        execution = RunbookExecution.objects.create(
            runbook=runbook,
            host=host,
            status="succeeded",
            requested_by=operator,
            requested_by_name=operator.username,
            requested_at=THU - timedelta(hours=2),
            window=window,
            runbook_name="backup",
            result={"path": f"/backups/{MARKER}.sql", "verified": True},
        )
        ExecutionStep.objects.create(
            execution=execution,
            order=1,
            plan_index=0,
            task="backup_database",
            kind="command",
            label="pg_dump",
            command=f"pg_dump > {MARKER}",
            status="succeeded",
            started_at=THU - timedelta(hours=2),
            stdout=MARKER,
        )
    send_posts(THU + timedelta(hours=5))
    return {"window": window, "cancelled": cancelled, "incident": incident}


# --- fetching everything ---------------------------------------------------------------------------------------------


def public_urls():
    urls = [
        "/",
        "/status/",
        "/api/v2/summary.json",
        "/api/v2/status.json",
        "/api/v2/components.json",
        "/api/v2/incidents.json",
        "/api/v2/incidents/unresolved.json",
        "/api/v2/scheduled-maintenances.json",
        "/api/v2/scheduled-maintenances/upcoming.json",
        "/api/v2/scheduled-maintenances/active.json",
        "/history.atom",
        "/history.rss",
        "/maintenance.ics",
        "/api/uptime.json",
        "/api/v2/nothing.json",
    ]
    from incidents.models import Incident

    urls += [f"/incidents/{pk}" for pk in Incident.objects.values_list("public_id", flat=True)]
    urls += [f"/incidents/{pk}" for pk in MaintenanceWindow.objects.values_list("public_id", flat=True)]
    return urls


def everything_public(client) -> dict[str, str]:
    seen = {}
    for url in public_urls():
        for method in ("get", "head"):
            response = getattr(client, method)(url)
            text = response.content.decode("utf-8", "replace").replace("\r\n ", "").replace("\n ", "")
            headers = "\n".join(f"{k}: {v}" for k, v in response.items())
            seen[f"{method.upper()} {url} ({response.status_code})"] = headers + "\n" + text
    return seen


def test_no_internal_field_reaches_any_public_endpoint_or_page(client):
    with time_machine.travel(THU + timedelta(hours=5), tick=False):
        build_world()
        fields = mark_every_internal_field()
        assert fields > 100  # the sweep really reached the internal data
        documents = everything_public(client)
    leaks = [name for name, text in documents.items() if MARKER.lower() in text.lower()]
    assert leaks == []
    # And the public data is really there (the test searches real documents, not empty ones).
    joined = "\n".join(documents.values())
    for public in (
        "Database upgrade",
        "Kernel patch",
        "Slow API",
        "A fix is deployed.",
        "Reindexing takes longer",
        "Vendor fix slipped",
    ):
        assert public in joined


def test_the_search_finds_a_marker_in_a_public_field(client):
    """The detector itself: a marker in a public field is found on every kind of document (ICS unfolded)."""
    with time_machine.travel(THU + timedelta(hours=5), tick=False):
        world = build_world()
        window = MaintenanceWindow.objects.get(pk=world["window"].pk)
        window.title = "A very long title so that the calendar folds the line right inside " + MARKER
        window.save()
        documents = everything_public(client)
    found = {name.split(" ")[1] for name, text in documents.items() if MARKER in text}
    assert {"/api/v2/scheduled-maintenances.json", "/history.atom", "/maintenance.ics", "/"} <= found
