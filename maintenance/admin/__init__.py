"""The operator's main screen for maintenance: windows (list, change form, workflow buttons), freezes, checklists.

Every change goes through `maintenance.services`; the admin only shows and asks. One module per concern
(importing this package registers the admins):

- `window`: the window admin (list, change form, the on-call engineer's page)
- `actions`: the workflow actions (buttons) and what each one performs
- `confirmations`: the confirmation texts and why a button is unavailable
- `panels`: the panels of the change page (strip, checklists, runbook runs, next slots)
- `config`: freezes and checklist templates
"""

from maintenance.admin.actions import APPROVE, ITEM_ACTIONS, TRANSITION, WINDOW_ACTIONS
from maintenance.admin.config import (
    ChecklistTemplateAdmin,
    ChecklistTemplateItemInline,
    FreezePeriodAdmin,
    FreezeWhenFilter,
)
from maintenance.admin.confirmations import RULE_NAMES
from maintenance.admin.panels import window_panels
from maintenance.admin.window import MaintenanceWindowAdmin, WindowOverdueFilter

__all__ = [
    "APPROVE",
    "ITEM_ACTIONS",
    "RULE_NAMES",
    "TRANSITION",
    "WINDOW_ACTIONS",
    "ChecklistTemplateAdmin",
    "ChecklistTemplateItemInline",
    "FreezePeriodAdmin",
    "FreezeWhenFilter",
    "MaintenanceWindowAdmin",
    "WindowOverdueFilter",
    "window_panels",
]
