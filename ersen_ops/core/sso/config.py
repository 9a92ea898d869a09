"""The SSO settings as one object, read when used (so tests can change them with pytest-django's `settings`)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

PROVIDER_ID = "sso"  # policy.allauth_providers; SocialAccount.provider of every SSO link
LOGIN_PATH = "/accounts/oidc/sso/login/"
CALLBACK_PATH = "/accounts/oidc/sso/login/callback/"


@dataclass(frozen=True)
class SSOConfig:
    enabled: bool
    name: str
    groups_claim: str
    role_map: dict
    sso_only: bool
    break_glass_users: tuple[str, ...]
    trust_idp_mfa: str
    mfa_amr: tuple[str, ...]
    access_contact: str


def current() -> SSOConfig:
    return SSOConfig(
        enabled=bool(settings.OPS_OIDC_ISSUER),
        name=settings.OPS_OIDC_NAME,
        groups_claim=settings.OPS_OIDC_GROUPS_CLAIM,
        role_map=dict(settings.OPS_OIDC_ROLE_MAP),
        sso_only=settings.OPS_SSO_ONLY,
        break_glass_users=tuple(settings.OPS_SSO_BREAK_GLASS_USERS),
        trust_idp_mfa=settings.OPS_OIDC_TRUST_IDP_MFA,
        mfa_amr=tuple(settings.OPS_OIDC_MFA_AMR),
        access_contact=settings.OPS_SSO_ACCESS_CONTACT,
    )
