"""The test OpenID Connect provider itself (tests/oidc_provider): what the SSO tests rely on it to do."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
import requests
from jwcrypto import jwk, jwt
from jwcrypto.common import JWException

from tests.oidc_provider.process import TEST_CLIENT_CALLBACK

pytestmark = pytest.mark.slow


def _code_flow(idp, *, username: str, pkce: bool = True) -> dict | str:
    """The authorization code flow as a client would run it; returns the token response (or the error redirect)."""
    conf = requests.get(idp.discovery_url, timeout=10).json()
    verifier = secrets.token_urlsafe(48)
    params = dict(
        client_id=idp.client_id,
        response_type="code",
        redirect_uri=TEST_CLIENT_CALLBACK,
        scope="openid profile email groups",
        state="the-state",
        nonce="the-nonce",
    )
    if pkce:
        digest = hashlib.sha256(verifier.encode()).digest()
        params.update(
            code_challenge=base64.urlsafe_b64encode(digest).rstrip(b"=").decode(), code_challenge_method="S256"
        )
    back = idp.authorize(conf["authorization_endpoint"] + "?" + urlencode(params), username=username)
    query = parse_qs(urlparse(back).query)
    if "code" not in query:
        return back
    return requests.post(
        conf["token_endpoint"],
        data=dict(
            grant_type="authorization_code",
            code=query["code"][0],
            redirect_uri=TEST_CLIENT_CALLBACK,
            client_id=idp.client_id,
            client_secret=idp.client_secret,
            code_verifier=verifier,
        ),
        timeout=10,
    ).json()


def _verify(idp, id_token: str) -> dict:
    conf = requests.get(idp.discovery_url, timeout=10).json()
    keys = jwk.JWKSet.from_json(requests.get(conf["jwks_uri"], timeout=10).text)
    token = jwt.JWT(jwt=id_token, key=keys, check_claims={"iss": idp.issuer, "aud": idp.client_id, "exp": None})
    return json.loads(token.claims)


def test_provider_issues_signed_id_tokens_with_groups_and_tampered_ones_on_request(idp):
    sub = idp.add_user("provider-smoke", groups=["ops-admins", "staff"], email="smoke@example.com", amr=["pwd", "otp"])

    claims = _verify(idp, _code_flow(idp, username="provider-smoke")["id_token"])
    assert claims["sub"] == sub
    assert claims["groups"] == ["ops-admins", "staff"]
    assert claims["amr"] == ["pwd", "otp"]
    assert claims["nonce"] == "the-nonce"

    for mode in ["other-key", "altered-claims", "wrong-audience", "wrong-issuer", "expired"]:
        idp.tamper(mode)
        with pytest.raises(JWException):
            _verify(idp, _code_flow(idp, username="provider-smoke")["id_token"])
    idp.tamper("wrong-nonce")
    assert _verify(idp, _code_flow(idp, username="provider-smoke")["id_token"])["nonce"] != "the-nonce"


def test_provider_refuses_an_authorization_request_without_pkce(idp):
    idp.add_user("provider-smoke")
    error = _code_flow(idp, username="provider-smoke", pkce=False)
    assert "error=invalid_request" in error and "Code+challenge+required" in error
