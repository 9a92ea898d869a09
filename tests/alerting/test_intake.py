"""Alert intake through the services: rules → components and level, one incident per outage (group key /
fingerprint), resolved → monitoring → resolved after the quiet period, suppressed while maintenance is in progress."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerting import selectors, services
from alerting.choices import GroupStatus, Outcome
from alerting.models import AlertGroup, ReceivedAlert
from alerting.payloads import PayloadError
from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.errors import PermissionRefused
from ersen_ops.notifications.choices import Channel
from ersen_ops.notifications.models import NotificationDelivery
from incidents.choices import IncidentStatus
from incidents.models import Incident
from tests.alerting.conftest import NOW, am_alert, am_payload

pytestmark = pytest.mark.django_db


def receive(integration, *alerts, at=NOW, group_key='{}:{alertname="HighErrorRate"}', source="alertmanager"):
    return services.alerts_receive(
        integration=integration, source=source, payload=am_payload(*alerts, group_key=group_key), now=at
    )


def outcomes(result):
    return result.outcomes


def pages(incident):
    return NotificationDelivery.objects.filter(related_id=str(incident.pk), channel=Channel.PAGER).count()


def test_a_firing_alert_opens_an_incident_with_the_rules_components_and_level(integration, rules, components):
    result = receive(integration, am_alert("HighErrorRate", "fp1", severity="critical"))
    assert result.outcomes == {Outcome.OPENED: 1}
    incident = Incident.objects.get()
    assert incident.public_id in result.incidents
    assert incident.level == "P1" and incident.title == "HighErrorRate: HighErrorRate on api"
    assert {ic.component.name: ic.impact for ic in incident.component_impacts.all()} == {"API": "major_outage"}
    assert "service=api" in incident.internal_notes
    assert pages(incident) == 1  # P1 pages at once (the incidents app's rule)
    row = ReceivedAlert.objects.get()
    assert row.outcome == Outcome.OPENED and row.incident == incident and row.rule_id == rules["critical"].pk
    event = AuditEvent.objects.get(action="alerting.notification_received")
    assert event.actor_name == integration.actor_name and event.data["outcomes"] == {"opened": 1}
    opened = AuditEvent.objects.get(action="incident.opened")
    assert opened.actor_name.startswith("system:alerts:prometheus")


def test_new_firing_alerts_join_the_groups_incident_and_raise_its_level(integration, rules, components):
    receive(integration, am_alert("HighErrorRate", "fp1"))
    incident = Incident.objects.get()
    assert incident.level == "P2"
    result = receive(
        integration,
        am_alert("HighErrorRate", "fp1"),
        am_alert("HighErrorRate", "fp2", severity="critical"),
        at=NOW + timedelta(minutes=1),
    )
    assert result.outcomes == {Outcome.REPEATED: 1, Outcome.JOINED: 1}
    assert Incident.objects.count() == 1
    incident.refresh_from_db()
    assert incident.level == "P1"  # the critical alert raised it through incident_change_level
    assert {ic.impact for ic in incident.component_impacts.all()} == {"major_outage"}
    assert AlertGroup.objects.get().firing == ["fp1", "fp2"]


def test_the_same_fingerprint_under_another_group_key_joins_its_incident(integration, rules):
    receive(integration, am_alert("HighErrorRate", "fp1"))
    receive(integration, am_alert("HighErrorRate", "fp1"), group_key='{}:{service="api"}')
    assert Incident.objects.count() == 1


def test_another_group_is_another_incident(integration, rules):
    receive(integration, am_alert("HighErrorRate", "fp1"))
    receive(integration, am_alert("DiskFull", "fp9", service="db"), group_key='{}:{alertname="DiskFull"}')
    assert sorted(Incident.objects.values_list("level", flat=True)) == ["P2", "P3"]


def test_resolved_alerts_move_the_incident_to_monitoring_then_the_quiet_period_resolves_it(integration, rules):
    receive(integration, am_alert("HighErrorRate", "fp1"), am_alert("HighErrorRate", "fp2"))
    incident = Incident.objects.get()
    half = receive(integration, am_alert("HighErrorRate", "fp1", status="resolved"), at=NOW + timedelta(minutes=5))
    assert half.outcomes == {Outcome.RESOLVED: 1}
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.INVESTIGATING
    receive(integration, am_alert("HighErrorRate", "fp2", status="resolved"), at=NOW + timedelta(minutes=6))
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.MONITORING
    group = AlertGroup.objects.get()
    assert group.status == GroupStatus.QUIET and group.quiet_since == NOW + timedelta(minutes=6)
    assert services.alert_groups_resolve_quiet(now=NOW + timedelta(minutes=15)) == 0  # 9 of 10 minutes
    assert services.alert_groups_resolve_quiet(now=NOW + timedelta(minutes=16)) == 1
    incident.refresh_from_db()
    group.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED and incident.resolved_at == NOW + timedelta(minutes=16)
    assert group.status == GroupStatus.CLOSED
    assert services.alert_groups_resolve_quiet(now=NOW + timedelta(minutes=30)) == 0  # twice changes nothing
    closed = AuditEvent.objects.get(action="alerting.group_closed")
    assert closed.data["incident_resolved"] is True


def test_a_firing_alert_during_the_quiet_period_reopens_the_investigation(integration, rules):
    receive(integration, am_alert("HighErrorRate", "fp1"))
    receive(integration, am_alert("HighErrorRate", "fp1", status="resolved"), at=NOW + timedelta(minutes=2))
    result = receive(integration, am_alert("HighErrorRate", "fp1"), at=NOW + timedelta(minutes=4))
    assert result.outcomes == {Outcome.JOINED: 1}
    incident = Incident.objects.get()
    assert incident.status == IncidentStatus.INVESTIGATING
    assert AlertGroup.objects.get().status == GroupStatus.FIRING
    assert services.alert_groups_resolve_quiet(now=NOW + timedelta(hours=1)) == 0


def test_after_the_outage_is_over_a_new_firing_alert_is_a_new_incident(integration, rules):
    receive(integration, am_alert("HighErrorRate", "fp1"))
    receive(integration, am_alert("HighErrorRate", "fp1", status="resolved"), at=NOW + timedelta(minutes=1))
    services.alert_groups_resolve_quiet(now=NOW + timedelta(minutes=20))
    receive(integration, am_alert("HighErrorRate", "fp1"), at=NOW + timedelta(hours=2))
    assert Incident.objects.count() == 2
    assert Incident.objects.filter(status=IncidentStatus.INVESTIGATING).count() == 1


def test_an_incident_resolved_by_a_person_ends_the_group(integration, rules, users):
    from incidents import services as incidents

    receive(integration, am_alert("HighErrorRate", "fp1"))
    first = Incident.objects.get()
    incidents.incident_resolve(actor=users["commander"], incident=first, body="Fixed by hand.", now=NOW)
    receive(integration, am_alert("HighErrorRate", "fp1"), at=NOW + timedelta(minutes=1))
    assert Incident.objects.count() == 2
    assert AlertGroup.objects.filter(status=GroupStatus.CLOSED).count() == 1


def test_alerts_are_suppressed_while_maintenance_is_in_progress_on_their_components(
    integration, rules, window_in_progress
):
    window = window_in_progress("api")
    result = receive(integration, am_alert("HighErrorRate", "fp1", severity="critical"))
    assert result.outcomes == {Outcome.SUPPRESSED: 1} and result.incidents == ()
    assert not Incident.objects.exists()
    assert not NotificationDelivery.objects.filter(channel=Channel.PAGER, event__startswith="incident.").exists()
    row = ReceivedAlert.objects.get()
    assert row.window == window and window.public_id in row.detail
    event = AuditEvent.objects.get(action="alerting.notification_received")
    assert event.data["suppressed_by"] == [window.pk]
    # Its resolution is recorded only.
    resolved = receive(integration, am_alert("HighErrorRate", "fp1", status="resolved"), at=NOW + timedelta(minutes=1))
    assert resolved.outcomes == {Outcome.UNKNOWN_RESOLVED: 1}


def test_maintenance_on_another_component_suppresses_nothing(integration, rules, window_in_progress):
    window_in_progress("db")
    assert receive(integration, am_alert("HighErrorRate", "fp1")).outcomes == {Outcome.OPENED: 1}


def test_an_alert_no_rule_matches_opens_at_the_default_level_without_components(integration, rules):
    receive(integration, am_alert("Weird", "fp7", service="queue"))
    incident = Incident.objects.get()
    assert incident.level == integration.default_level == "P2"
    assert not incident.component_impacts.exists()
    assert "no rule matched" in ReceivedAlert.objects.get().detail


def test_tokens_are_stored_hashed_found_by_prefix_and_refused_once_revoked(integration, users):
    assert integration.token.startswith("eoa_") and integration.token_prefix == integration.token[:12]
    assert integration.token not in integration.token_hash
    assert selectors.integration_for_token(integration.token) == integration
    assert selectors.integration_for_token(integration.token + "x") is None
    assert selectors.integration_for_token("eoa_nothing") is None
    new = services.integration_rotate_token(actor=users["admin"], integration=integration)
    assert selectors.integration_for_token(integration.token) is None
    assert selectors.integration_for_token(new) == integration
    services.integration_set_active(actor=users["admin"], integration=integration, active=False)
    with pytest.raises(PermissionRefused, match="revoked"):
        services.alerts_receive(integration=integration, source="alertmanager", payload=am_payload(am_alert("X", "f")))
    actions = list(
        AuditEvent.objects.filter(target_id=str(integration.pk), action__startswith="alerting.integration")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "alerting.integration_created",
        "alerting.integration_token_rotated",
        "alerting.integration_revoked",
    ]


def test_an_integration_posts_only_to_its_own_source(grafana):
    with pytest.raises(PermissionRefused, match="/api/ops/v1/alerts/grafana"):
        services.alerts_receive(integration=grafana, source="alertmanager", payload=am_payload(am_alert("X", "f")))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"version": "3"}, "version 3 is not supported"),
        ({"alerts": "nope"}, "“alerts” must be a list"),
        ({"groupKey": ""}, "“groupKey” is missing"),
    ],
)
def test_a_bad_payload_is_refused_naming_the_problem_and_changes_nothing(integration, change, message):
    payload = {**am_payload(am_alert("X", "f")), **change}
    with pytest.raises(PayloadError, match=message):
        services.alerts_receive(integration=integration, source="alertmanager", payload=payload)
    assert not ReceivedAlert.objects.exists()


def test_rules_and_integrations_need_their_permissions(users):
    from alerting.models import AlertRule

    with pytest.raises(PermissionRefused):
        services.integration_create(actor=users["viewer"], name="x", source="grafana")
    with pytest.raises(PermissionRefused):
        services.rule_save(actor=users["viewer"], rule=AlertRule(name="r", matchers={}))


def test_rule_changes_are_audited_before_and_after(rules, users):
    rule = rules["api"]
    rule.level = "P1"
    services.rule_save(actor=users["admin"], rule=rule)
    event = AuditEvent.objects.filter(action="alerting.rule_changed").get()
    assert event.data["before"]["level"] == "P2" and event.data["after"]["level"] == "P1"
    assert event.data["after"]["components"] == ["API"]


def test_receiving_costs_the_same_queries_for_one_alert_or_thirty_repeats(
    integration, rules, django_assert_num_queries
):
    receive(integration, *[am_alert("HighErrorRate", f"fp{n}") for n in range(30)])
    # lock, rules (2), open groups, windows, the alerts' INSERT, the integration's UPDATE, the audit append (3)
    with django_assert_num_queries(10):
        receive(integration, *[am_alert("HighErrorRate", f"fp{n}") for n in range(30)], at=NOW + timedelta(minutes=1))


def test_thirty_alerts_joining_one_incident_cost_no_query_each(integration, rules, django_assert_num_queries):
    receive(integration, am_alert("HighErrorRate", "fp0"))
    # the repeat notification's 10, plus the incident's impacts (once) and the group's one UPDATE
    with django_assert_num_queries(12):
        result = receive(
            integration, *[am_alert("HighErrorRate", f"fp{n}") for n in range(1, 31)], at=NOW + timedelta(minutes=1)
        )
    assert result.outcomes == {Outcome.JOINED: 30}
    assert len(AlertGroup.objects.get().firing) == 31


def complete(window, users, at):
    from maintenance import services as maintenance
    from maintenance.choices import ChecklistPhase
    from tests.maintenance.conftest import approve_phase

    approve_phase(window, ChecklistPhase.DURING, [users["approver"], users["admin"]], now=at)
    maintenance.window_complete(actor=users["operator"], window=window, now=at)


def test_an_alert_still_firing_when_its_maintenance_ends_opens_its_incident(
    integration, rules, window_in_progress, users
):
    window = window_in_progress("api")
    receive(integration, am_alert("HighErrorRate", "fp1", severity="critical"))
    assert services.alerts_release_suppressed(now=NOW + timedelta(minutes=1)) == 0  # still in maintenance
    complete(window, users, NOW + timedelta(minutes=30))
    assert services.alerts_release_suppressed(now=NOW + timedelta(minutes=31)) == 1
    incident = Incident.objects.get()
    assert incident.level == "P1" and pages(incident) == 1  # now it pages
    row = ReceivedAlert.objects.filter(outcome=Outcome.OPENED).get()
    assert row.detail.startswith("Still firing after the maintenance that suppressed it ended")
    assert window.public_id in row.detail
    assert services.alerts_release_suppressed(now=NOW + timedelta(minutes=32)) == 0  # once
    event = AuditEvent.objects.get(action="alerting.suppression_ended")
    assert event.data["incidents"] == [incident.public_id] and event.data["alerts"] == ["fp1"]


def test_an_alert_resolved_during_maintenance_is_not_released(integration, rules, window_in_progress, users):
    window = window_in_progress("api")
    receive(integration, am_alert("HighErrorRate", "fp1"))
    receive(integration, am_alert("HighErrorRate", "fp1", status="resolved"), at=NOW + timedelta(minutes=5))
    complete(window, users, NOW + timedelta(minutes=30))
    assert services.alerts_release_suppressed(now=NOW + timedelta(minutes=31)) == 0
    assert not Incident.objects.exists()


def test_control_characters_in_labels_never_block_the_incident(integration, rules):
    alert = am_alert("Disk\x07Full\u2028now", "fp1")
    alert["annotations"]["summary"] = "line one\nline\x85two"
    receive(integration, alert)
    assert Incident.objects.get().title == "Disk Full now: line one line two"
