"""The second factor of an SSO login (allauth login stages; the rule is policy.idp_second_factor).

When the provider's second factor is trusted for this login (OPS_OIDC_TRUST_IDP_MFA and the ID token's `amr`),
`ProviderSecondFactorStage` writes it into allauth's session records as a second-factor step
({"method": "mfa", "type": "idp:otp", …}): the second-factor check, re-authentication freshness and the login
record then treat it like a code typed into the portal, and `LocalSecondFactorStage` does not ask for the
portal's own factor on top. Otherwise nothing is recorded and the portal's own rules apply, as after a password.
"""

from __future__ import annotations

from allauth.account.internal.flows.login import record_authentication
from allauth.account.stages import LoginStage

from ersen_ops.core.sso.adapter import sso_login_info

ALLAUTH_MFA_STAGE = "allauth.mfa.stages.AuthenticateStage"
PROVIDER_STAGE = "ersen_ops.core.sso.stages.ProviderSecondFactorStage"
LOCAL_STAGE = "ersen_ops.core.sso.mfa_stage.LocalSecondFactorStage"
IDP_TYPE_PREFIX = "idp"


def login_stages(stages: list[str]) -> list[str]:
    """allauth's login stages with ours: the provider's factor first, then the portal's (skipped when the
    provider's counted)."""
    if ALLAUTH_MFA_STAGE not in stages:
        return [*stages, PROVIDER_STAGE]
    result = []
    for stage in stages:
        if stage == ALLAUTH_MFA_STAGE:
            result += [PROVIDER_STAGE, LOCAL_STAGE]
        else:
            result.append(stage)
    return result


def provider_factor_recorded(request) -> bool:
    records = request.session.get("account_authentication_methods") or []
    last = records[-1] if records else {}
    return last.get("method") == "mfa" and str(last.get("type", "")).startswith(IDP_TYPE_PREFIX)


class ProviderSecondFactorStage(LoginStage):
    key = "ops_sso_second_factor"

    def handle(self):
        info = sso_login_info(self.request)
        if (
            info
            and info.get("second_factor")
            and self.login.user is not None
            and not provider_factor_recorded(self.request)
        ):
            record_authentication(
                self.request,
                self.login.user,
                "mfa",
                type=info["second_factor"],
                provider=info.get("provider", ""),
                amr=info.get("amr", []),
            )
        return None, True
