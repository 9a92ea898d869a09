"""Least-privilege roles: the role matrix, and the one function that makes the groups match it.

Patterns are `app_label.codename` with shell wildcards, resolved against the
permissions that exist. `sync_roles()` runs after every `migrate`
(post_migrate), so a permission added by a later migration lands in its role.
Staff status never implies a custom permission: views check `has_perm`.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

OPERATORS = "Operators"
APPROVERS = "Approvers"
INCIDENT_COMMANDERS = "Incident commanders"
VIEWERS = "Viewers"

# Read access to every operational record (never to users/groups or django-q internals).
VIEW_ALL = (
    "audit.view_auditevent",
    "core.view_sitesettings",
    "notifications.view_*",
    "status.view_*",
    "maintenance.view_*",
    "incidents.view_*",
    "runbooks.view_*",
    "checks.view_*",
    "scheduler.view_*",
    # alert intake: the rules, alert groups and the alerts received (integrations are the superuser's)
    "alerting.view_alertrule",
    "alerting.view_alertgroup",
    "alerting.view_receivedalert",
    # what subscribers were told (not the subscribers themselves: addresses are personal data)
    "subscribers.view_notice",
)

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    VIEWERS: VIEW_ALL,
    OPERATORS: VIEW_ALL
    + (
        # create and run maintenance windows (approving checklist items is the Approvers' job)
        "maintenance.add_maintenancewindow",
        "maintenance.change_maintenancewindow",
        "maintenance.transition_maintenancewindow",
        # freeze periods ("no routine or urgent window inside")
        "maintenance.add_freezeperiod",
        "maintenance.change_freezeperiod",
        "maintenance.delete_freezeperiod",
        # open and work incidents
        "incidents.add_incident",
        "incidents.change_incident",
        "incidents.add_incidentupdate",
        # launch runbooks
        "runbooks.run_runbook",
        "runbooks.cancel_runbookexecution",
        # health checks: add, edit, disable (and delete one that never opened an incident)
        "checks.add_check",
        "checks.change_check",
        "checks.delete_check",
        # schedules of runbooks: create, edit, delete one without history; pause and resume all of them
        "scheduler.add_schedule",
        "scheduler.change_schedule",
        "scheduler.delete_schedule",
        "scheduler.pause_schedules",
        # alert intake: the rules that map labels to components and a level (integrations and their tokens decide
        # who may open incidents and page people: a superuser's, like pinning a host key)
        "alerting.add_alertrule",
        "alerting.change_alertrule",
        "alerting.delete_alertrule",
        # resend failed notifications, set manual component status
        "notifications.resend_notificationdelivery",
        "status.change_component",
        # status subscribers: see, export, unsubscribe or erase addresses; register and run partner webhooks
        "subscribers.view_subscriber",
        "subscribers.export_subscriber",
        "subscribers.unsubscribe_subscriber",
        "subscribers.delete_subscriber",
        "subscribers.view_webhooksubscriber",
        "subscribers.add_webhooksubscriber",
        "subscribers.change_webhooksubscriber",
        "subscribers.enable_webhooksubscriber",
    ),
    APPROVERS: VIEW_ALL + ("maintenance.approve_checklistitem",),
    INCIDENT_COMMANDERS: VIEW_ALL
    + (
        "incidents.add_incident",
        "incidents.change_incident",
        "incidents.add_incidentupdate",
        "incidents.command_incident",
        "incidents.acknowledge_incident",
        "incidents.resolve_incident",
        "incidents.change_level_incident",
    ),
}


def roles_with(permission: str) -> list[str]:
    """The roles whose patterns grant `permission` ("app_label.codename"), to tell an operator who can."""
    return [role for role, patterns in ROLE_PERMISSIONS.items() if any(fnmatchcase(permission, p) for p in patterns)]


def resolve(patterns: tuple[str, ...], available: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """The (app_label, codename) pairs among `available` that match any pattern."""
    chosen = set()
    for app_label, codename in available:
        full = f"{app_label}.{codename}"
        if any(fnmatchcase(full, p) for p in patterns):
            chosen.add((app_label, codename))
    return chosen


def sync_roles(using: str = "default") -> dict[str, int]:
    from django.contrib.auth.models import Group, Permission

    perms = list(Permission.objects.using(using).select_related("content_type"))
    by_key = {(p.content_type.app_label, p.codename): p for p in perms}
    counts = {}
    for role, patterns in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.using(using).get_or_create(name=role)
        wanted = [by_key[k] for k in resolve(patterns, list(by_key))]
        group.permissions.set(wanted)
        counts[role] = len(wanted)
    return counts
