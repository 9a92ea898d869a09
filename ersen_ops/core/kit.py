"""The service kit: what every service does the same way — who may act, lock, validate, change state, the clock.

Every app's `services` module uses these instead of its own copies, so the rules below are settled in one place:

Who may act (`require`):
- a **user** (a signed-in person) needs the permission; staff status never implies one;
- a **system actor** — a name such as ``"system:checks"`` (what `audit.record` stores for tasks, sweepers, the CLI,
  public forms) — acts on the system's own authority: allowed unless the service says ``system=False``;
- **nobody** (``actor=None``, recorded as "system") is the unnamed system: allowed unless ``nobody=False``
  (runbooks insist on a named actor or a user, so an execution always says who started it);
- an **anonymous visitor** (a request's `AnonymousUser`) is refused unless ``anonymous=True`` (public forms);
- an **API token** named as a string (``"token:deploy-bot"``) is not the system: refused — an interface acting for a
  token passes an actor whose `has_perm` answers for the token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.utils import timezone

from ersen_ops.audit.choices import TOKEN_ACTOR_PREFIX
from ersen_ops.core.choices import can_transition
from ersen_ops.core.errors import DomainError, InvalidTransition, PermissionRefused

__all__ = [
    "ActorKind",
    "actor_kind",
    "can_transition",
    "clean",
    "clean_and_save",
    "copy_saved_state",
    "lock",
    "now_or",
    "require",
    "transition_or_raise",
]


class ActorKind:
    """What `actor_kind` answers (plain strings, for messages and tests)."""

    USER = "user"
    SYSTEM = "system"
    NOBODY = "nobody"
    ANONYMOUS = "anonymous"
    TOKEN = "token"


def actor_kind(actor) -> str:
    """Which of the kinds above `actor` is (anything with `is_authenticated` True is a user)."""
    if actor is None:
        return ActorKind.NOBODY
    if isinstance(actor, str):
        return ActorKind.TOKEN if actor.startswith(TOKEN_ACTOR_PREFIX) else ActorKind.SYSTEM
    if getattr(actor, "is_authenticated", False):
        return ActorKind.USER
    return ActorKind.ANONYMOUS


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def require(
    actor, permission: str, *, what: str, system: bool = True, nobody: bool = True, anonymous: bool = False
) -> None:
    """Raise `PermissionRefused` unless `actor` may do `what` (a phrase: "editing hosts", "opening incidents").

    Users need `permission`; the keyword options say whether the system (named, or nobody) and anonymous
    visitors may act without one (see the module docstring)."""
    kind = actor_kind(actor)
    if kind == ActorKind.USER:
        if not actor.has_perm(permission):
            raise PermissionRefused(f"Your role does not allow {what} (it needs the permission {permission}).")
        return
    allowed = {
        ActorKind.SYSTEM: system,
        ActorKind.NOBODY: nobody,
        ActorKind.ANONYMOUS: anonymous,
        ActorKind.TOKEN: False,
    }[kind]
    if not allowed:
        instead = {
            ActorKind.SYSTEM: f" ({actor} is a system actor)",
            ActorKind.TOKEN: f" ({actor} is an API token, not the system)",
        }.get(kind, "")
        raise PermissionRefused(f"{_sentence(what)} needs a signed-in user with the permission {permission}{instead}.")


def now_or(now: datetime | None) -> datetime:
    """`now` when a caller (a test, a sweeper with one clock for a batch) passes it in, else the current time."""
    return now if now is not None else timezone.now()


def lock(obj: models.Model | int, *, model: type[models.Model] | None = None, related: Iterable[str] = ()):
    """The row of `obj` (an instance, or a primary key with `model=`) re-read under `SELECT … FOR UPDATE`.

    Call inside `transaction.atomic()`; `related` are `select_related` names, locked too (PostgreSQL locks
    the joined rows as well)."""
    if isinstance(obj, models.Model):
        model, pk = type(obj), obj.pk
    else:
        if model is None:
            raise TypeError("lock(pk) needs model=")
        pk = obj
    queryset = model._default_manager.select_for_update()
    if related:
        queryset = queryset.select_related(*related)
    return queryset.get(pk=pk)


def copy_saved_state(target: models.Model, source: models.Model) -> None:
    """Copy a locked, saved copy's fields back onto the caller's instance, so the caller sees the result."""
    for field in source._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))


def _details(exc: ValidationError) -> list[str]:
    if not hasattr(exc, "error_dict"):
        return [str(m) for m in exc.messages]
    return [
        " ".join(messages) if field == NON_FIELD_ERRORS else f"{field}: {' '.join(messages)}"
        for field, messages in exc.message_dict.items()
    ]


def clean(obj: models.Model, *, lead: str | None = None, **full_clean_options) -> None:
    """`full_clean()`, its errors as one `DomainError` (`lead`, then one detail per field).

    `lead` defaults to "The <verbose name> is not valid:"."""
    try:
        obj.full_clean(**full_clean_options)
    except ValidationError as exc:
        lead = lead or f"The {obj._meta.verbose_name} is not valid:"
        raise DomainError(lead, code="invalid", details=_details(exc)) from None


def clean_and_save(obj: models.Model, *, lead: str | None = None, update_fields=None, **full_clean_options) -> None:
    """`clean(obj)` then `obj.save()` (with `update_fields` when given)."""
    clean(obj, lead=lead, **full_clean_options)
    obj.save(update_fields=update_fields)


def transition_or_raise(
    obj: models.Model,
    target: str,
    table: Mapping[str, Iterable[str]],
    verb: str,
    *,
    field: str = "status",
    noun: str | None = None,
) -> None:
    """Raise `InvalidTransition` unless `table` lets `obj.<field>` become `target`.

    The message names the action, the object, its state and the states the action is possible from:
    "Cannot start “DB upgrade”: it is draft (only a scheduled window can be in progress)."."""
    current = getattr(obj, field)
    if can_transition(table, current, target):
        return
    labels = dict(obj._meta.get_field(field).flatchoices)

    def label(value) -> str:
        return str(labels.get(value, value)).lower()

    sources = [s for s, targets in table.items() if target in targets]
    noun = noun or str(obj._meta.verbose_name)
    allowed = " or ".join(label(s) for s in sources)
    raise InvalidTransition(
        f"Cannot {verb} “{obj}”: it is {label(current)}"
        + (f" (only a {allowed} {noun} can be {label(target)})." if allowed else ".")
    )
