"""Demo incidents in different states, made through the real services (running it twice changes nothing).

Each step's notifications (the status page posts too) are dated when the step happened (`deliveries_dated`)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from ersen_ops.notifications.services import deliveries_dated
from ersen_ops.status.models import Component
from incidents import services
from incidents.choices import Impact, IncidentStatus, Level
from incidents.models import Incident


def _user(username):
    return get_user_model().objects.filter(username=username).first() or f"system:demo-{username}"


def _components(**impacts):
    by_name = {c.name: c for c in Component.objects.filter(name__in=impacts)}
    return {by_name[name]: impact for name, impact in impacts.items() if name in by_name}


def seed(stdout) -> None:
    now = timezone.now()
    commander, operator = _user("commander"), _user("operator")
    made = 0

    title = "Login fails after certificate renewal"
    if not Incident.objects.filter(title=title).exists():
        opened = now - timedelta(days=9, hours=3)
        with deliveries_dated(opened):
            incident = services.incident_open(
                actor=operator,
                title=title,
                level=Level.P1,
                components=_components(Login=Impact.MAJOR_OUTAGE, API=Impact.PARTIAL_OUTAGE),
                message="Customers cannot sign in. We are investigating.",
                internal_notes="Traefik served the staging certificate after the 02:00 renewal.",
                now=opened,
            )
        with deliveries_dated(opened + timedelta(minutes=6)):
            services.incident_acknowledge(actor=commander, incident=incident, now=opened + timedelta(minutes=6))
        with deliveries_dated(opened + timedelta(minutes=18)):
            services.incident_post_update(
                actor=commander,
                incident=incident,
                status=IncidentStatus.IDENTIFIED,
                body="The cause is a wrong TLS certificate on the login service; a fix is being deployed.",
                now=opened + timedelta(minutes=18),
            )
        with deliveries_dated(opened + timedelta(minutes=31)):
            services.incident_post_update(
                actor=commander,
                incident=incident,
                status=IncidentStatus.MONITORING,
                body="Sign-in works again. We are monitoring.",
                now=opened + timedelta(minutes=31),
            )
        with deliveries_dated(opened + timedelta(minutes=52)):
            services.incident_resolve(
                actor=commander,
                incident=incident,
                body="Sign-in has worked normally for 20 minutes. Sorry for the trouble.",
                postmortem_summary="Certificate resolver pointed at staging; added a check to the renewal runbook.",
                now=opened + timedelta(minutes=52),
            )
        made += 1

    title = "Widgets load slowly in Europe"
    if not Incident.objects.filter(title=title).exists():
        opened = now - timedelta(minutes=40)
        with deliveries_dated(opened):
            incident = services.incident_open(
                actor=operator,
                title=title,
                level=Level.P2,
                components=_components(Widgets=Impact.DEGRADED_PERFORMANCE),
                message="Embedded widgets take several seconds to load for some customers in Europe.",
                now=opened,
            )
        with deliveries_dated(opened + timedelta(minutes=12)):
            services.incident_acknowledge(actor=commander, incident=incident, now=opened + timedelta(minutes=12))
        with deliveries_dated(opened + timedelta(minutes=25)):
            services.incident_post_update(
                actor=commander,
                incident=incident,
                status=IncidentStatus.IDENTIFIED,
                body="CDN edge in Frankfurt is degraded; traffic is being moved.",
                public=False,
                now=opened + timedelta(minutes=25),
            )
        made += 1

    title = "Checkout returned errors for EU cards"
    if not Incident.objects.filter(title=title).exists():
        opened = now - timedelta(days=20)
        with deliveries_dated(opened):
            incident = services.incident_open(
                actor=operator,
                title=title,
                level=Level.P2,
                components=_components(Payments=Impact.PARTIAL_OUTAGE),
                now=opened,
            )
        services.incidents_check_sla(now=opened + timedelta(minutes=65))  # nobody answered within the hour: breached
        with deliveries_dated(opened + timedelta(minutes=70)):
            services.incident_acknowledge(actor=commander, incident=incident, now=opened + timedelta(minutes=70))
        with deliveries_dated(opened + timedelta(hours=3)):
            services.incident_resolve(
                actor=commander,
                incident=incident,
                body="Payments with EU cards work again.",
                now=opened + timedelta(hours=3),
            )
        made += 1

    title = "Password reset email arrives late"
    if not Incident.objects.filter(title=title).exists():
        with deliveries_dated(now - timedelta(hours=2)):
            services.incident_open(
                actor=operator,
                title=title,
                level=Level.P3,
                internal_notes="Mail queue shows 10 min delays at peak.",
                now=now - timedelta(hours=2),
            )
        made += 1

    title = "Footer logo is blurry on high-DPI screens"
    if not Incident.objects.filter(title=title).exists():
        with deliveries_dated(now - timedelta(days=1)):
            services.incident_open(actor=operator, title=title, level=Level.P4, now=now - timedelta(days=1))
        made += 1

    if made:
        stdout.write(f"incidents: {made} demo incidents")
