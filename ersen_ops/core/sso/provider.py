"""allauth's OpenID Connect provider, hardened for Ersen Ops.

allauth already sends and checks `state` and sends a PKCE challenge when `OAUTH_PKCE_ENABLED`. What it does not do,
and this adds:
- a `nonce` in every authorization request, kept in the login's state and compared with the ID token's before
  anything of the token is used (the callback view hands the state to the adapter);
- the ID token's signature verified against the provider's JWKS on every login (allauth skips it when the token
  came straight from the token endpoint, as the specification allows), with an asymmetric algorithm only;
- `azp` checked when the token names several audiences.
Refusals raise `IDTokenRefused` with a reason the person is told and the audit log records.
"""

from __future__ import annotations

import hmac
import secrets

import requests
from allauth.core.internal.deferred import jwt
from allauth.socialaccount.internal import jwtkit
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter

from ersen_ops.core.sso.choices import Refusal

ACCEPTED_ALGORITHMS = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}


class IDTokenRefused(OAuth2Error):
    def __init__(self, reason: Refusal, detail: str = ""):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason.label} {detail}".strip())


def _reason_for(exc: BaseException | None) -> Refusal:
    causes = {
        "InvalidSignatureError": Refusal.SIGNATURE,
        "InvalidAudienceError": Refusal.AUDIENCE,
        "InvalidIssuerError": Refusal.ISSUER,
        "ExpiredSignatureError": Refusal.EXPIRED,
        "ImmatureSignatureError": Refusal.EXPIRED,
        "InvalidAlgorithmError": Refusal.ALGORITHM,
    }
    return causes.get(type(exc).__name__, Refusal.TOKEN)


def unreachable_detail(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"Its discovery document has no {exc.args[0]!r}."
    return f"({type(exc).__name__}) A break-glass superuser can still log in with a password."


class OpsOpenIDConnectAdapter(OpenIDConnectOAuth2Adapter):
    # The login's state (from the session, matched by the `state` parameter), set by the callback view.
    login_state: dict | None = None

    def _decode_id_token(self, app, id_token: str) -> dict:
        try:
            algorithm = jwt.get_unverified_header(id_token).get("alg")
        except jwt.PyJWTError as exc:
            raise IDTokenRefused(Refusal.TOKEN, "It is not a JWT.") from exc
        if algorithm not in ACCEPTED_ALGORITHMS:
            raise IDTokenRefused(Refusal.ALGORITHM, f"It says {algorithm!r}.")
        try:
            claims = jwtkit.verify_and_decode(
                credential=id_token,
                keys_url=self.openid_config["jwks_uri"],
                issuer=self.openid_config["issuer"],
                audience=app.client_id,
                lookup_kid=jwtkit.lookup_kid_jwk,
                verify_signature=True,
            )
        except OAuth2Error as exc:
            cause = exc.__cause__
            if cause is None and "kid" in str(exc):
                raise IDTokenRefused(Refusal.SIGNATURE, "Its key id is not in the provider's JWKS.") from exc
            raise IDTokenRefused(_reason_for(cause)) from exc
        audiences = claims.get("aud")
        if isinstance(audiences, list) and len(audiences) > 1 and claims.get("azp") != app.client_id:
            raise IDTokenRefused(Refusal.AUDIENCE, "It names several audiences and another authorized party (azp).")
        expected_nonce = (self.login_state or {}).get("nonce")
        if not expected_nonce or not hmac.compare_digest(str(claims.get("nonce", "")), expected_nonce):
            raise IDTokenRefused(Refusal.NONCE)
        return claims


class OpsOpenIDConnectProvider(OpenIDConnectProvider):
    oauth2_adapter_class = OpsOpenIDConnectAdapter
    pkce_enabled_default = True
    package = "ersen_ops.core.sso"  # allauth includes ersen_ops.core.sso.urls (our views with our adapter)

    def redirect(self, request, process, next_url=None, data=None, **kwargs):
        nonce = secrets.token_urlsafe(32)
        auth_params = kwargs.pop("auth_params", None)
        if auth_params is None:
            auth_params = self.get_auth_params()
        # ours last: a nonce smuggled in through ?auth_params= cannot replace it
        auth_params = {**auth_params, "nonce": nonce}
        try:
            return super().redirect(request, process, next_url, data, auth_params=auth_params, nonce=nonce, **kwargs)
        except (requests.RequestException, KeyError) as exc:  # discovery document unreachable or wrong
            from ersen_ops.core.sso.adapter import refuse

            return refuse(request, Refusal.UNREACHABLE, detail=unreachable_detail(exc))


provider_classes = [OpsOpenIDConnectProvider]
