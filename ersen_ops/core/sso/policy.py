"""Pure rules of single sign-on: parsing the role map, the roles a login ends with, and whether the provider's
second factor counts. No database; settings.py uses `parse_role_map` to refuse a bad map at start-up."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

# RFC 8176 authentication method references that mean more than a password was used.
DEFAULT_MFA_AMR = ("mfa", "otp", "hwk", "swk", "sc", "fpt", "face", "iris", "retina", "vbm")
TRUST_IDP_MFA_CHOICES = ("amr", "always", "never")


class RoleMapError(ValueError):
    pass


def parse_role_map(text: str, known_roles: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """ "ops-admins=Operators,ops-approvers=Approvers" → {"ops-admins": ("Operators",), …}.

    A group may be listed more than once (it then grants each role). Roles must be Ersen Ops roles: superuser is
    never granted by a group."""
    known = list(known_roles)
    mapping: dict[str, list[str]] = {}
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        group, sep, role = (piece.strip() for piece in entry.partition("="))
        if not sep or not group or not role:
            raise RoleMapError(f"expected entries like ops-admins=Operators separated by commas, got {entry!r}")
        if role not in known:
            raise RoleMapError(f"{entry!r}: unknown role {role!r}; the roles are {', '.join(known)}")
        mapping.setdefault(group, [])
        if role not in mapping[group]:
            mapping[group].append(role)
    return {group: tuple(roles) for group, roles in mapping.items()}


def groups_from_claims(claims: Mapping, claim: str) -> list[str]:
    """The groups the provider sent in `claim` (a list of names, or one name); anything else counts as none."""
    value = claims.get(claim)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return []
    return sorted({str(group) for group in value if isinstance(group, str | int) and str(group)})


def managed_roles(role_map: Mapping[str, Iterable[str]]) -> set[str]:
    """The roles the map decides: every role some group grants. Other roles are left as they are."""
    return {role for roles in role_map.values() for role in roles}


def mapped_roles(groups: Iterable[str], role_map: Mapping[str, Iterable[str]]) -> set[str]:
    return {role for group in groups for role in role_map.get(group, ())}


def roles_after_login(
    *, current: Iterable[str], groups: Iterable[str], role_map: Mapping[str, Iterable[str]]
) -> set[str]:
    """The roles a user has after an SSO login: the managed roles exactly as the groups say (a removed group
    removes its role), every role the map does not manage kept as it was."""
    managed = managed_roles(role_map)
    return {role for role in current if role not in managed} | mapped_roles(groups, role_map)


def idp_second_factor(*, amr: object, trust: str, mfa_amr: Iterable[str] = DEFAULT_MFA_AMR) -> str | None:
    """The provider's second factor if the portal trusts it for this login (a label for the audit log), else None
    (the portal then asks for its own factor, as for a password login).

    trust = "amr": only when the ID token's `amr` names a method beyond a password; "always": the provider
    enforces its own second factor for everyone; "never": always ask the portal's factor."""
    if trust == "never":
        return None
    methods = [str(m) for m in amr] if isinstance(amr, list | tuple) else []
    strong = sorted(set(methods) & set(mfa_amr))
    if strong:
        return "idp:" + "+".join(strong)
    if trust == "always":
        return "idp:trusted"
    return None


def allauth_providers(*, issuer: str, client_id: str, secret: str, name: str, scopes: list[str]) -> dict:
    """SOCIALACCOUNT_PROVIDERS for allauth: our hardened OpenID Connect provider, with one app when an issuer is
    configured (none otherwise: no button, no login URL that works)."""
    app = {
        "provider_id": "sso",  # in the URLs: /accounts/oidc/sso/login/ and …/login/callback/
        "name": name,
        "client_id": client_id,
        "secret": secret,
        "settings": {"server_url": issuer, "scope": list(scopes), "fetch_userinfo": False},  # all from the ID token
    }
    return {
        "openid_connect": {
            "provider_class": "ersen_ops.core.sso.provider.OpsOpenIDConnectProvider",  # nonce, signature checked
            "OAUTH_PKCE_ENABLED": True,
            "APPS": [app] if issuer else [],
        }
    }
