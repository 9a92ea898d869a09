"""Posts each audit checkpoint's witness line to Slack #team-ops, when that channel is configured.

A second copy of the witness, outside the database and outside the witness file's host. Registered with
ersen_ops.audit.witness (the audit app knows nothing of channels). Unconfigured, nothing is recorded: a
skipped delivery every few minutes would bury the deliveries that matter.
"""

from __future__ import annotations

from ersen_ops.audit.policy import witness_when
from ersen_ops.audit.services import CHECKPOINT_ACTOR
from ersen_ops.audit.witness import WitnessLine
from ersen_ops.notifications.channels import get_channel
from ersen_ops.notifications.choices import Channel


def post_witness_to_team_ops(*, line: WitnessLine, problem: str) -> None:
    if get_channel(Channel.SLACK_TEAM_OPS).not_configured_reason(None):
        return
    from ersen_ops.notifications.services import notify

    if problem:
        subject = "Audit log shorter than its witness"
        body = f"{problem}\n\nRun `python manage.py audit_verify` on the portal and compare with the witness file."
    else:
        subject = f"Audit witness {witness_when(line)}: {line.count:,} events ending at #{line.event_id}"
        body = f"`{line.format()}`"
    notify(event="audit.witness", channels=[Channel.SLACK_TEAM_OPS], subject=subject, body=body, actor=CHECKPOINT_ACTOR)
