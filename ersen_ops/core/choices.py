"""Site-wide enumerations."""

from django.db import models


class Phase(models.TextChoices):
    PRELAUNCH = "prelaunch", "Pre-launch (maintenance on the fly)"
    POSTLAUNCH = "postlaunch", "Post-launch (paying customers: protocol enforced)"


def can_transition(table, current: str, target: str) -> bool:
    """Whether a transition table ({state: states it may become}) lets `current` become `target`."""
    return target in table.get(current, ())
