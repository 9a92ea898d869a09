"""Freezes and checklist templates: admin-edited configuration, audited."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from ersen_ops.audit.services import record
from ersen_ops.core.errors import DomainError
from maintenance.choices import MaintenanceType, WindowStatus
from maintenance.models import (
    MaintenanceWindow,
)


def _freeze_data(freeze) -> dict:
    return {"name": freeze.name, "start": freeze.start, "end": freeze.end, "reason": freeze.reason}


@transaction.atomic
def freeze_save(*, actor, freeze) -> list[MaintenanceWindow]:
    """Create or change a freeze period. Returns the scheduled windows already inside it (to warn the operator)."""
    from maintenance.models import FreezePeriod

    before = _freeze_data(FreezePeriod.objects.select_for_update().get(pk=freeze.pk)) if freeze.pk else None
    try:
        freeze.full_clean()
    except ValidationError as exc:
        raise DomainError("The freeze period is not valid:", details=exc.messages) from None
    freeze.save()
    record(
        actor=actor,
        action="maintenance.freeze.updated" if before else "maintenance.freeze.created",
        target=freeze,
        data={"before": before, "after": _freeze_data(freeze)},
    )
    return list(
        MaintenanceWindow.objects.filter(
            status__in=(WindowStatus.SCHEDULED, WindowStatus.IN_PROGRESS),
            planned_start__lt=freeze.end,
            planned_end__gt=freeze.start,
        ).exclude(type=MaintenanceType.EMERGENCY)
    )


@transaction.atomic
def freeze_delete(*, actor, freeze) -> None:
    record(actor=actor, action="maintenance.freeze.deleted", target=freeze, data={"before": _freeze_data(freeze)})
    freeze.delete()


def checklist_template_snapshot(template) -> dict:
    if template is None or template.pk is None:
        return {}
    return {
        "phase": template.phase,
        "title": template.title,
        "items": [
            {"order": i.order, "text": i.text, "key": i.key, "required_approvals": i.required_approvals}
            for i in template.items.order_by("order", "id")
        ],
    }


def checklist_template_record_change(*, actor, template, before: dict) -> None:
    """Audit an admin edit of a checklist template (existing windows keep their own copies)."""
    after = checklist_template_snapshot(template)
    if before != after:
        record(
            actor=actor,
            action="maintenance.checklist_template.changed",
            target=template,
            data={"before": before, "after": after},
        )
