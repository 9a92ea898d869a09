"""The chain is linked at commit by one sequencer (ersen_ops.audit.services.chain_pending), not under a lock held
through every audited transaction: `seq` numbers the events in the order they were chained, `hash` may be empty
for the few milliseconds between an event's commit and its chaining.

Existing events keep their hashes; their `seq` is their position by id (the old chain's order). The append-only
trigger now lets exactly one UPDATE through: an unchained event receiving its seq, prev_hash and hash, with every
other column unchanged.
"""

from django.conf import settings
from django.db import migrations, models

TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.seq IS NULL AND OLD.hash IS NULL AND NEW.seq IS NOT NULL AND NEW.hash IS NOT NULL
           AND ROW(NEW.id, NEW.created_at, NEW.actor_id, NEW.actor_name, NEW.action, NEW.target_type_id,
                   NEW.target_id, NEW.target_repr, NEW.data, NEW.request_id, NEW.remote_addr, NEW.digest)
               IS NOT DISTINCT FROM
               ROW(OLD.id, OLD.created_at, OLD.actor_id, OLD.actor_name, OLD.action, OLD.target_type_id,
                   OLD.target_id, OLD.target_repr, OLD.data, OLD.request_id, OLD.remote_addr, OLD.digest) THEN
            RETURN NEW;  -- the sequencer linking a committed event into the chain, once
        END IF;
    END IF;
    RAISE EXCEPTION USING
        MESSAGE = 'audit_auditevent is append-only: ' || TG_OP || ' refused',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""

# The sequencer (services.chain_pending): one statement links a batch. The lock is transaction-scoped, so it is
# released only after the links commit; the next sequencer's head query (a new snapshot per statement) sees them.
LINK_FUNCTION = r"""
CREATE OR REPLACE FUNCTION audit_link_pending(lock_key bigint, batch integer) RETURNS integer AS $$
DECLARE
    head_seq bigint;
    head_hash text;
    pending record;
    linked integer := 0;
BEGIN
    IF NOT pg_try_advisory_xact_lock(lock_key) THEN
        RETURN -1;  -- another sequencer is linking; it looks again after its commit
    END IF;
    SELECT seq, hash INTO head_seq, head_hash FROM audit_auditevent WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1;
    head_seq := coalesce(head_seq, 0);
    head_hash := coalesce(head_hash, '');
    FOR pending IN SELECT id, digest FROM audit_auditevent WHERE seq IS NULL ORDER BY id LIMIT batch LOOP
        head_seq := head_seq + 1;
        UPDATE audit_auditevent
           SET seq = head_seq,
               prev_hash = head_hash,
               hash = encode(sha256(convert_to(head_hash || E'
' || pending.digest, 'UTF8')), 'hex')
         WHERE id = pending.id
        RETURNING hash INTO head_hash;
        linked := linked + 1;
    END LOOP;
    RETURN linked;
END;
$$ LANGUAGE plpgsql;
"""

OLD_TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'audit_auditevent is append-only: ' || TG_OP || ' refused',
        ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def number_existing(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_append_only")
        schema_editor.execute(
            "UPDATE audit_auditevent AS e SET seq = n.rn FROM "
            "(SELECT id, row_number() OVER (ORDER BY id) AS rn FROM audit_auditevent) AS n WHERE e.id = n.id"
        )
        schema_editor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_auditevent_append_only")
        schema_editor.execute(TRIGGER_FUNCTION)
        schema_editor.execute(LINK_FUNCTION)
    else:
        schema_editor.execute(
            "UPDATE audit_auditevent SET seq = (SELECT COUNT(*) FROM audit_auditevent AS e2 "
            "WHERE e2.id <= audit_auditevent.id)"
        )


def unnumber(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(OLD_TRIGGER_FUNCTION)
        schema_editor.execute("DROP FUNCTION IF EXISTS audit_link_pending(bigint, integer)")


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0003_truncate_trigger'),
        ('contenttypes', '0002_remove_content_type_name'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='auditevent',
            name='seq',
            field=models.BigIntegerField(blank=True, editable=False, null=True, unique=True),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='hash',
            field=models.CharField(blank=True, max_length=64, null=True, unique=True),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(condition=models.Q(('seq__isnull', True)), fields=['id'], name='audit_unchained_idx'),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='digest',
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.RunPython(number_existing, unnumber),
    ]
