"""One round trip per sequencer turn, and no second disk flush per audited change.

`audit_link_until_done` (a procedure, called outside any transaction by services.chain_pending) does what the
function of migration 0004 and the follow-up check did in two statements: take the chain's lock if it is free, link
a batch, COMMIT (which releases the lock), look again for events committed meanwhile, and repeat until none is left.
Its link transactions commit with `synchronous_commit = off`: the events themselves were committed durably by
their writers; if a crash loses a link, the event is simply unlinked again and the next sequencer turn, the
checkpoint or `audit_verify` links it. The checkpoint makes the head durable before it writes the witness
(services.audit_checkpoint), so no witnessed hash can be lost.
"""

from django.db import migrations

PROCEDURE = r"""
CREATE OR REPLACE PROCEDURE audit_link_until_done(lock_key bigint, batch integer, INOUT linked integer DEFAULT 0)
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    linked := 0;
    LOOP
        PERFORM set_config('synchronous_commit', 'off', true);
        n := audit_link_pending(lock_key, batch);
        IF n < 0 THEN
            IF linked = 0 THEN
                linked := -1;  -- another sequencer is at work and looks again after its commit
            END IF;
            RETURN;
        END IF;
        linked := linked + n;
        COMMIT;  -- releases the lock; the next statement sees whatever committed meanwhile
        IF n < batch AND NOT EXISTS (SELECT 1 FROM audit_auditevent WHERE seq IS NULL) THEN
            RETURN;
        END IF;
    END LOOP;
END;
$$;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PROCEDURE)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP PROCEDURE IF EXISTS audit_link_until_done(bigint, integer, integer)")


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_admin_lists")]

    operations = [migrations.RunPython(forward, backward)]
