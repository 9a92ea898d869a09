"""allauth's signals → audit events (the actor is the operator whose factor or session it is).

Connected in CoreConfig.ready(). allauth changes its own rows; these receivers only record what happened,
and let a factor enrolled in this session count as passed (the enrolment itself proved the code or key).
"""

from __future__ import annotations

from ersen_ops.audit.services import record
from ersen_ops.core.access.choices import AccessEvent


def _factor_data(authenticator) -> dict:
    data = {"type": authenticator.type, "authenticator_id": authenticator.pk}
    if authenticator.type == "webauthn":
        data["name"] = str(authenticator)
    return data


def on_authenticator_added(sender, request, user, authenticator, **kwargs):
    record(actor=user, action=AccessEvent.FACTOR_ADDED, target=user, data=_factor_data(authenticator), request=request)
    if authenticator.type in ("totp", "webauthn") and request is not None:
        from allauth.account.internal.flows.login import record_authentication

        # The code / key was just verified: this session has passed the second factor (allauth's own record).
        record_authentication(request, user, "mfa", id=authenticator.pk, type=authenticator.type, enrolled=True)


def on_authenticator_removed(sender, request, user, authenticator, **kwargs):
    record(
        actor=user, action=AccessEvent.FACTOR_REMOVED, target=user, data=_factor_data(authenticator), request=request
    )


def on_authenticator_reset(sender, request, user, authenticator, **kwargs):
    if authenticator.type == "recovery_codes":
        record(actor=user, action=AccessEvent.RECOVERY_CODES_GENERATED, target=user, data={}, request=request)


def on_authenticator_used(sender, request, user, authenticator, reauthenticated=False, **kwargs):
    if authenticator.type != "recovery_codes":
        return
    from allauth.mfa.models import Authenticator

    current = Authenticator.objects.filter(pk=authenticator.pk).first() or authenticator  # allauth re-read it
    unused = len(current.wrap().get_unused_codes())
    record(
        actor=user,
        action=AccessEvent.RECOVERY_CODE_USED,
        target=user,
        data={"reauthentication": bool(reauthenticated), "codes_left": unused},
        request=request,
    )


def connect() -> None:
    from allauth.mfa import signals as mfa_signals
    from django.contrib.auth.signals import user_logged_in

    from ersen_ops.core.access import sessions

    uid = "ersen_ops.core.access"
    user_logged_in.connect(sessions.on_logged_in, dispatch_uid=f"{uid}.session_started")
    mfa_signals.authenticator_added.connect(on_authenticator_added, dispatch_uid=f"{uid}.added")
    mfa_signals.authenticator_removed.connect(on_authenticator_removed, dispatch_uid=f"{uid}.removed")
    mfa_signals.authenticator_reset.connect(on_authenticator_reset, dispatch_uid=f"{uid}.reset")
    mfa_signals.authenticator_used.connect(on_authenticator_used, dispatch_uid=f"{uid}.used")
