"""Site-wide enumerations."""

from django.db import models


class Phase(models.TextChoices):
    PRELAUNCH = "prelaunch", "Pre-launch (maintenance on the fly)"
    POSTLAUNCH = "postlaunch", "Post-launch (paying customers: protocol enforced)"
