"""The provider's token logic: django-oauth-toolkit's, plus a `groups` and an `amr` claim, plus the tamper switch
that makes the next ID tokens wrong in one chosen way (so the portal's refusal can be tested)."""

from __future__ import annotations

import base64
import json
import time

from jwcrypto import jwk, jwt
from oauth2_provider.oauth2_validators import OAuth2Validator

from tests.oidc_provider import control

# A key the provider does not publish: "other-key" signs with it under the published key's id.
_OTHER_KEY = jwk.JWK.generate(kty="RSA", size=2048)

TAMPER_MODES = {
    "other-key": "signed with a key that is not in the provider's JWKS (same key id)",
    "altered-claims": "payload changed after signing (groups widened), signature kept",
    "wrong-audience": "properly signed, but issued for another client",
    "wrong-issuer": "properly signed, but names another issuer",
    "wrong-nonce": "properly signed, but carries a nonce the portal did not send",
    "expired": "properly signed, but expired an hour ago",
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TestProviderValidator(OAuth2Validator):
    oidc_claim_scope = {**OAuth2Validator.oidc_claim_scope, "groups": "groups", "amr": "openid"}

    def get_additional_claims(self, request):
        user = request.user
        return {
            "name": user.get_full_name() or user.username,
            "given_name": user.first_name,
            "family_name": user.last_name,
            "preferred_username": user.username,
            "email": user.email,
            "email_verified": True,
            "groups": sorted(user.groups.values_list("name", flat=True)),
            "amr": control.amr_for(user.username),
        }

    def get_id_token_dictionary(self, token, token_handler, request):
        claims, expiration_time = super().get_id_token_dictionary(token, token_handler, request)
        mode = control.tamper_mode()
        if mode == "wrong-audience":
            claims["aud"] = "another-client"
        elif mode == "wrong-issuer":
            claims["iss"] = "http://127.0.0.1:9/not-this-provider"
        elif mode == "wrong-nonce":
            claims["nonce"] = "a-nonce-the-portal-never-sent"
        elif mode == "expired":
            claims["iat"] = int(time.time()) - 7200
            claims["exp"] = int(time.time()) - 3600
        return claims, expiration_time

    def finalize_id_token(self, id_token, token, token_handler, request):
        signed = super().finalize_id_token(id_token, token, token_handler, request)
        mode = control.tamper_mode()
        header_b64, payload_b64, signature_b64 = signed.split(".")
        if mode == "altered-claims":
            payload = json.loads(_unb64(payload_b64))
            payload["groups"] = sorted({*payload.get("groups", []), "ops-admins"})
            # Compact separators: the bytes differ from what was signed even when the groups did not change.
            return ".".join([header_b64, _b64(json.dumps(payload, separators=(",", ":")).encode()), signature_b64])
        if mode == "other-key":
            forged = jwt.JWT(header=_unb64(header_b64).decode(), claims=_unb64(payload_b64).decode())
            forged.make_signed_token(_OTHER_KEY)
            return forged.serialize()
        return signed
