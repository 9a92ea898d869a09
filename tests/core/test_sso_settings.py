"""SSO settings from the environment: a bad value stops start-up with one line naming it; a full SSO
configuration passes check --deploy."""

from __future__ import annotations

import pytest

from tests.core.test_settings import PROD_ENV, run_manage

SSO_ENV = {
    "OPS_OIDC_ISSUER": "https://id.ersen.xyz/realms/ops",
    "OPS_OIDC_CLIENT_ID": "ersen-ops",
    "OPS_OIDC_CLIENT_SECRET": "s3cret-from-the-provider",
    "OPS_OIDC_ROLE_MAP": "ops-admins=Operators,ops-approvers=Approvers",
    "OPS_SSO_ONLY": "1",
    "OPS_SSO_BREAK_GLASS_USERS": "root",
}


def test_production_with_sso_configured_passes_check_deploy():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env={**PROD_ENV, **SSO_ENV})
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"OPS_OIDC_CLIENT_SECRET": ""}, "OPS_OIDC_CLIENT_SECRET: required when OPS_OIDC_ISSUER is set"),
        ({"OPS_OIDC_ISSUER": "http://id.ersen.xyz"}, "OPS_OIDC_ISSUER: must be https:// in production"),
        ({"OPS_OIDC_ROLE_MAP": "ops-admins=Gods"}, "OPS_OIDC_ROLE_MAP: 'ops-admins=Gods': unknown role 'Gods'"),
        ({"OPS_OIDC_ROLE_MAP": ""}, "OPS_OIDC_ROLE_MAP: required when OPS_OIDC_ISSUER is set"),
        ({"OPS_OIDC_ISSUER": ""}, "OPS_SSO_ONLY: needs OPS_OIDC_ISSUER"),
    ],
)
def test_a_bad_sso_setting_stops_startup_with_one_line_naming_it(change, expected):
    result = run_manage("check", env={**PROD_ENV, **SSO_ENV, **change})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Configuration error: {expected}"), result.stderr
