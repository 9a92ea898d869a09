"""One-line labels refuse line breaks and control characters (on the model fields, so the admin, services'
full_clean and any future API all refuse them); senders replace them in old rows and never retry a malformed
message."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.test import RequestFactory
from django.urls import reverse

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.errors import DomainError
from ersen_ops.core.validators import SingleLineValidator, one_line, validate_single_line
from ersen_ops.notifications.choices import Channel, DeliveryStatus
from ersen_ops.notifications.models import NotificationDelivery
from ersen_ops.notifications.sending import delivery_send
from ersen_ops.notifications.services import notify
from incidents.choices import Level
from incidents.models import Incident
from incidents.services import incident_open
from maintenance.models import MaintenanceWindow

pytestmark = pytest.mark.django_db

EVIL = "Form\r\nX-Evil: 1"
PROJECT_APPS = ("ersen_ops", "incidents", "maintenance", "runbooks", "subscribers")
# Free text by nature: not one-line labels.
FREE_TEXT = (models.TextField, models.JSONField)


def _one_line_fields(form, model):
    """The form's fields that edit a one-line CharField of `model` (no choices; slugs, URLs, emails validate
    themselves)."""
    for name in form.base_fields:
        try:
            field = model._meta.get_field(name)
        except Exception:
            continue
        if (
            isinstance(field, models.CharField)
            and not isinstance(field, models.SlugField | models.URLField | models.EmailField)
            and not field.choices
        ):
            yield field


def test_every_one_line_field_in_every_admin_form_has_the_single_line_validator(users):
    """Swept from the admin registry, so a field added later without the rule fails here."""
    request = RequestFactory().get("/")
    request.user = users["admin"]
    missing, seen = [], 0
    for model, model_admin in admin.site._registry.items():
        if not model.__module__.startswith(PROJECT_APPS):
            continue
        admins = [(model, model_admin)] + [
            (inline.model, inline) for inline in model_admin.get_inline_instances(request, None)
        ]
        for form_model, form_admin in admins:
            form = (
                form_admin.get_formset(request).form if hasattr(form_admin, "get_formset") else None
            ) or form_admin.get_form(request)
            for field in _one_line_fields(form, form_model):
                seen += 1
                if not any(isinstance(v, SingleLineValidator) for v in field.validators):
                    missing.append(f"{form_model._meta.label}.{field.name}")
    assert seen >= 10
    assert missing == []


@pytest.mark.parametrize("value", [EVIL, "a\nb", "tab\there", "nul\x00", "bell\x07", "c1\x85", "sep\u2028x"])
def test_the_validator_names_the_rule_and_the_character(value):
    with pytest.raises(ValidationError) as caught:
        validate_single_line(value)
    (message,) = caught.value.messages
    assert message.startswith("Must be a single line: line breaks, tabs and other control characters are not allowed")
    assert "at character" in message


def test_one_line_replaces_line_breaks_with_a_space():
    assert one_line(EVIL) == "Form X-Evil: 1"
    assert one_line("  ok  ") == "ok"


def test_the_open_incident_form_refuses_a_title_with_a_line_break(client, users):
    client.force_login(users["admin"])
    response = client.post(
        reverse("admin:incidents_incident_open"), {"title": EVIL, "level": Level.P3, "message": "Looking."}
    )
    assert response.status_code == 400  # the form again, with its errors
    assert "Must be a single line" in response.content.decode()
    assert not Incident.objects.exists()


def test_the_maintenance_window_form_refuses_a_title_with_a_line_break(client, users):
    client.force_login(users["admin"])
    response = client.post(reverse("admin:maintenance_maintenancewindow_add"), {"title": EVIL})
    assert response.status_code == 200
    assert "Must be a single line" in response.content.decode()
    assert not MaintenanceWindow.objects.exists()


def test_the_service_refuses_it_too(users):
    with pytest.raises(DomainError) as caught:
        incident_open(actor=users["commander"], title=EVIL, level=Level.P3, components={}, message="Looking.")
    assert "title: Must be a single line" in " ".join(caught.value.details)
    assert not Incident.objects.exists()


def test_an_old_title_with_a_line_break_is_emailed_with_it_replaced(settings, mailoutbox):
    settings.OPS_EMAIL_TO = ["ops@example.com"]
    (delivery,) = notify(event="incident.opened", channels=[Channel.EMAIL], subject=EVIL, body="B")
    assert delivery.subject == "Form X-Evil: 1"
    # A row written before the rule (straight into the table): replaced at send time too.
    NotificationDelivery.objects.filter(pk=delivery.pk).update(subject=EVIL)
    assert delivery_send(delivery_id=delivery.pk) == DeliveryStatus.SENT
    (message,) = mailoutbox
    assert message.subject == "Form X-Evil: 1"
    assert "X-Evil" not in message.message().keys()


def test_a_malformed_message_fails_at_once_with_its_reason_and_is_never_retried(settings, mailoutbox):
    settings.OPS_EMAIL_TO = ["ops@example.com"]
    (delivery,) = notify(event="incident.opened", channels=[Channel.EMAIL], subject="S", body="B")
    NotificationDelivery.objects.filter(pk=delivery.pk).update(event="incident.opened\r\nX-Evil: 1")  # a header
    assert delivery_send(delivery_id=delivery.pk) == DeliveryStatus.FAILED
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 1
    assert delivery.next_attempt_at is None
    assert delivery.last_error.startswith("malformed message, not retried: BadHeaderError:")
    assert delivery.response == "not sent"
    assert mailoutbox == []
    event = AuditEvent.objects.get(action="notification.failed")
    assert "BadHeaderError" in str(event.data)
