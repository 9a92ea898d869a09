"""Hosts: create, change, and pin the SSH host key (checked against what the server presents)."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction

from ersen_ops.audit.services import actor_fields, record
from ersen_ops.core.errors import DomainError
from ersen_ops.core.kit import lock, now_or, require
from runbooks import library, policy
from runbooks.models import Host, HostGroup


def host_state(host: Host) -> dict:
    return {
        "name": host.name,
        "hostname": host.hostname,
        "port": host.port,
        "ssh_user": host.ssh_user,
        "roles": host.roles,
        "enabled": host.enabled,
        "position": host.position,
        "parameter_defaults": host.parameter_defaults,
        "host_key_fingerprint": host.host_key_fingerprint,
        "components": sorted(c.name for c in host.components.all()) if host.pk else [],
    }


def host_validate_parameter_defaults(defaults) -> None:
    if not isinstance(defaults, dict):
        raise library.ParameterRefused(
            'Parameter defaults must be a JSON object such as {"backup_dir": "/srv/backups"}.'
        )
    for key, value in defaults.items():
        tasks = [t for t in library.REGISTRY.values() if key in t.param_index]
        if not tasks:
            raise library.ParameterRefused(f"No task of the library has a parameter {key!r}.")
        for task in tasks:
            task.param_index[key].check(value, task.label)


def host_save(*, actor, host: Host, before: dict | None = None, components=None) -> Host:
    """Create or change a host (the pinned key is only changed by `host_pin_key`)."""
    require(actor, "runbooks.change_host" if host.pk else "runbooks.add_host", what="editing hosts", nobody=False)
    host_validate_parameter_defaults(host.parameter_defaults)
    created = host.pk is None
    with transaction.atomic():
        host.full_clean()
        host.save()
        if components is not None:
            host.components.set(components)
        record(
            actor=actor,
            action="runbooks.host.created" if created else "runbooks.host.changed",
            target=host,
            data={"before": before or {}, "after": host_state(host)},
        )
    return host


def host_fetch_key(*, host: Host):
    """The key the server presents now (network; call outside transactions)."""
    from runbooks import remote

    try:
        return remote.fetch_host_key(host.hostname, host.port, timeout=settings.OPS_SSH_CONNECT_TIMEOUT)
    except remote.RemoteError as exc:
        raise DomainError(f"Could not fetch the host key of {host.name}: {exc}") from None


def host_pin_key(*, actor, host: Host, confirmed_fingerprint: str, now: datetime | None = None) -> Host:
    """Pin the key the server presents, if it is the one the operator confirmed. Audited with before/after."""
    require(actor, "runbooks.pin_host_key", what="pinning host keys", nobody=False)
    key = host_fetch_key(host=host)
    if key.fingerprint != (confirmed_fingerprint or "").strip():
        raise DomainError(
            f"{host.name} now presents {key.describe()}, not the {confirmed_fingerprint or '(none)'} you confirmed. "
            "Nothing was pinned: check the host and try again."
        )
    user, _ = actor_fields(actor)
    with transaction.atomic():
        locked = lock(host)
        before = {"host_key_type": locked.host_key_type, "host_key_fingerprint": locked.host_key_fingerprint}
        locked.host_key_type = key.key_type
        locked.host_key = key.key_base64
        locked.host_key_fingerprint = key.fingerprint
        locked.host_key_pinned_at = now_or(now)
        locked.host_key_pinned_by = user
        locked.full_clean()
        locked.save()
        record(
            actor=actor,
            action="runbooks.host.key_pinned",
            target=locked,
            data={
                "before": before,
                "after": {"host_key_type": key.key_type, "host_key_fingerprint": key.fingerprint},
                "address": f"{locked.hostname}:{locked.port}",
            },
        )
    return locked


def host_group_state(group: HostGroup) -> dict:
    return {
        "name": group.name,
        "slug": group.slug,
        "description": group.description,
        "role": group.role,
        "hosts": sorted(h.name for h in group.hosts.all()) if group.pk else [],
    }


def host_group_save(*, actor, group: HostGroup, hosts=None, before: dict | None = None) -> HostGroup:
    """Create or change a host group: a role tag or an explicit list of hosts, exactly one of the two."""
    require(
        actor,
        "runbooks.change_hostgroup" if group.pk else "runbooks.add_hostgroup",
        what="editing host groups",
        nobody=False,
    )
    hosts = list(hosts) if hosts is not None else (list(group.hosts.all()) if group.pk else [])
    policy.check_group_membership(role=group.role, host_count=len(hosts))
    created = group.pk is None
    with transaction.atomic():
        group.full_clean()
        group.save()
        group.hosts.set(hosts)
        record(
            actor=actor,
            action="runbooks.host_group.created" if created else "runbooks.host_group.changed",
            target=group,
            data={"before": before or {}, "after": host_group_state(group)},
        )
    return group
