"""allauth.mfa's code / key prompt, skipped when the provider's second factor was recorded for this SSO login
(see stages.py). Imported by allauth only when allauth.mfa is installed."""

from __future__ import annotations

from allauth.mfa.stages import AuthenticateStage

from ersen_ops.core.sso.stages import provider_factor_recorded


class LocalSecondFactorStage(AuthenticateStage):
    def _should_handle(self, request) -> bool:
        if provider_factor_recorded(request):
            return False
        return super()._should_handle(request)
