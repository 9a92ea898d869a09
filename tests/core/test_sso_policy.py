"""The pure rules of single sign-on (ersen_ops.core.sso.policy)."""

from __future__ import annotations

import pytest

from ersen_ops.core.roles import ROLE_PERMISSIONS
from ersen_ops.core.sso import policy

ROLES = ROLE_PERMISSIONS.keys()
MAP = {"ops-admins": ("Operators",), "ops-approvers": ("Approvers",), "ops-leads": ("Operators", "Approvers")}


def test_role_map_parses_groups_to_roles_and_one_group_may_grant_several():
    parsed = policy.parse_role_map(" ops-admins=Operators, ops-leads=Operators,ops-leads=Approvers,", ROLES)
    assert parsed == {"ops-admins": ("Operators",), "ops-leads": ("Operators", "Approvers")}
    assert policy.parse_role_map("", ROLES) == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ops-admins", "expected entries like ops-admins=Operators separated by commas, got 'ops-admins'"),
        ("=Operators", "got '=Operators'"),
        (
            "ops-admins=Superusers",
            "'ops-admins=Superusers': unknown role 'Superusers'; the roles are Viewers, Operators",
        ),
    ],
)
def test_a_bad_role_map_names_the_entry_and_the_rule(text, message):
    with pytest.raises(policy.RoleMapError) as exc:
        policy.parse_role_map(text, ROLES)
    assert message in str(exc.value)


def test_roles_after_login_follow_the_groups_for_managed_roles_and_keep_the_others():
    after = policy.roles_after_login(
        current={"Operators", "Incident commanders"}, groups=["ops-approvers"], role_map=MAP
    )
    assert after == {"Approvers", "Incident commanders"}  # Operators removed with its group; IC not managed
    assert policy.roles_after_login(current=set(), groups=["ops-leads", "unrelated"], role_map=MAP) == {
        "Operators",
        "Approvers",
    }
    assert policy.roles_after_login(current={"Viewers"}, groups=[], role_map=MAP) == {"Viewers"}


@pytest.mark.parametrize(
    ("claims", "groups"),
    [
        ({"groups": ["b", "a", "a"]}, ["a", "b"]),
        ({"groups": "ops-admins"}, ["ops-admins"]),
        ({"groups": {"ops-admins": True}}, []),
        ({"groups": [None, {"x": 1}, "ok"]}, ["ok"]),
        ({}, []),
    ],
)
def test_groups_claim_is_read_defensively(claims, groups):
    assert policy.groups_from_claims(claims, "groups") == groups


@pytest.mark.parametrize(
    ("amr", "trust", "expected"),
    [
        (["pwd", "otp"], "amr", "idp:otp"),
        (["hwk", "mfa"], "amr", "idp:hwk+mfa"),
        (["pwd"], "amr", None),
        (None, "amr", None),
        ("otp", "amr", None),  # amr must be a list
        (["pwd"], "always", "idp:trusted"),
        (["pwd", "otp"], "never", None),
    ],
)
def test_the_providers_second_factor_counts_only_when_amr_says_so_or_the_setting_trusts_it(amr, trust, expected):
    assert policy.idp_second_factor(amr=amr, trust=trust) == expected
