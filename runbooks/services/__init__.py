"""Every state change of hosts, runbooks and executions: lock, check, change, `full_clean`, save, audit, enqueue.

Long work (SSH, HTTP) never happens inside these transactions: the runner (`runbooks.runner`) calls
them between commands, each a short transaction. One module per concern; this package re-exports them all,
so callers keep writing `from runbooks import services` / `services.execution_launch(...)`:

- `common`: actor names, the task name, the failure alert (who may act: `ersen_ops.core.kit.require`)
- `hosts`: hosts and their pinned SSH keys
- `definitions`: runbooks and their steps
- `launch`: executions requested by people and the CLI (launch, retry, cancel)
- `waiting`: queueing a run and starting the next waiting run of a free host (first come, first served)
- `worker`: the worker's side (claim, heartbeat, steps, finish)
- `groups`: runs on host groups from the worker's side (started, advanced batch by batch, stopped after failures)
- `group_launch`: runs on host groups requested by people, the CLI and schedules (launch, cancel)
- `evidence`: what a verified backup hands its maintenance window
- `backups`: the backup inventory, written from a finished run's verified result
- `reaper`: lost workers
"""

from runbooks.services.backups import (
    _record_backup_inventory,
)
from runbooks.services.common import (
    RUN_TASK,
    SYSTEM_REAPER,
    SYSTEM_SWEEPER,
    SYSTEM_WORKER,
    LostClaim,
    _notify_failure,
)
from runbooks.services.definitions import (
    runbook_record_change,
    runbook_save,
    runbook_state,
    runbook_validate_steps,
)
from runbooks.services.evidence import (
    _record_backup_evidence,
)
from runbooks.services.group_launch import (
    group_run_cancel,
    group_run_launch,
)
from runbooks.services.groups import (
    SYSTEM_GROUP_RUNNER,
    group_run_advance,
    group_run_mark_started,
    group_runs_advance,
)
from runbooks.services.hosts import (
    host_fetch_key,
    host_group_save,
    host_group_state,
    host_pin_key,
    host_save,
    host_state,
    host_validate_parameter_defaults,
)
from runbooks.services.launch import (
    _revalidated,
    execution_cancel,
    execution_launch,
    execution_retry,
)
from runbooks.services.reaper import (
    executions_reap_lost,
)
from runbooks.services.waiting import (
    _enqueue,
    _kick_host_on_commit,
    executions_start_waiting,
    host_start_next,
)
from runbooks.services.worker import (
    _STEP_ACTIONS,
    Claim,
    _claim,
    _claim_retrying,
    _output_fields,
    execution_claim,
    execution_finish,
    execution_heartbeat,
    execution_step_begin,
    execution_step_finish,
    execution_step_output,
)

__all__ = [
    "RUN_TASK",
    "SYSTEM_WORKER",
    "SYSTEM_REAPER",
    "SYSTEM_SWEEPER",
    "LostClaim",
    "_notify_failure",
    "host_state",
    "host_validate_parameter_defaults",
    "host_save",
    "host_fetch_key",
    "host_pin_key",
    "runbook_state",
    "runbook_validate_steps",
    "runbook_save",
    "runbook_record_change",
    "_enqueue",
    "_kick_host_on_commit",
    "host_start_next",
    "executions_start_waiting",
    "execution_launch",
    "_revalidated",
    "execution_retry",
    "execution_cancel",
    "Claim",
    "execution_claim",
    "_claim_retrying",
    "_claim",
    "execution_heartbeat",
    "_STEP_ACTIONS",
    "execution_step_begin",
    "_output_fields",
    "execution_step_output",
    "execution_step_finish",
    "execution_finish",
    "_record_backup_evidence",
    "_record_backup_inventory",
    "executions_reap_lost",
    "SYSTEM_GROUP_RUNNER",
    "host_group_save",
    "host_group_state",
    "group_run_launch",
    "group_run_cancel",
    "group_run_advance",
    "group_run_mark_started",
    "group_runs_advance",
]
