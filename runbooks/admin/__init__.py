"""Admin for hosts (with "Fetch and pin host key"), host groups and their runs (the live host × step matrix),
runbooks (steps validated on save, "Run" showing the exact commands first), executions (read-only record, live
output, Cancel and Retry) and the backup inventory (read-only, with why the retention policy keeps each backup).

Every change goes through `runbooks.services`; buttons use WorkflowAdminMixin (GET confirms, POST performs,
permission checked in the view). One module per admin (`hosts`, `runbook` with its `steps` inline and its
`run_form`, `executions`); importing this package registers them all and re-exports their names.
"""

from runbooks.admin.backups import BackupAdmin, BackupCopyInline
from runbooks.admin.executions import (
    CancelForm,
    RetryForm,
    RunbookExecutionAdmin,
    _cancel_perform,
    _retry_describe,
    _retry_perform,
)
from runbooks.admin.groups import (
    GroupRunAdmin,
    HostGroupAdmin,
    HostGroupForm,
)
from runbooks.admin.hosts import (
    HostAdmin,
    HostForm,
    PinForm,
    _pin_describe,
    _pin_initial,
    _pin_perform,
)
from runbooks.admin.run_form import (
    BR,
    PARAM_PREFIX,
    RunForm,
    _changed_overrides,
    _param_field,
    _query_overrides,
    _run_choice,
    _run_describe,
    _run_initial,
    _run_perform,
    _run_preview,
    _run_preview_with_values,
    _window_from,
    run_form_for,
)
from runbooks.admin.runbook import (
    RunbookAdmin,
    _latest_status,
)
from runbooks.admin.steps import (
    RunbookStepForm,
    RunbookStepFormSet,
    RunbookStepInline,
)

__all__ = [
    "BackupAdmin",
    "BackupCopyInline",
    "HostForm",
    "PinForm",
    "_pin_initial",
    "_pin_describe",
    "_pin_perform",
    "HostAdmin",
    "RunbookStepForm",
    "RunbookStepFormSet",
    "RunbookStepInline",
    "BR",
    "RunForm",
    "PARAM_PREFIX",
    "_param_field",
    "run_form_for",
    "_query_overrides",
    "_window_from",
    "_run_choice",
    "_run_preview",
    "_run_preview_with_values",
    "_changed_overrides",
    "_run_initial",
    "_run_describe",
    "_run_perform",
    "_latest_status",
    "RunbookAdmin",
    "CancelForm",
    "RetryForm",
    "_cancel_perform",
    "_retry_perform",
    "_retry_describe",
    "RunbookExecutionAdmin",
    "HostGroupAdmin",
    "HostGroupForm",
    "GroupRunAdmin",
]
