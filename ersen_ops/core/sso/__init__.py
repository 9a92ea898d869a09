"""Single sign-on with an OpenID Connect provider (allauth's `openid_connect`, hardened), role mapping from the
provider's groups claim, and the SSO-only switch. See the README, "Access" → "SSO".

- `policy`: pure rules (the role map, which roles a login gets, whether the provider's second factor counts).
- `provider`, `urls`: allauth's OpenID Connect provider with a nonce, PKCE and an always-verified ID token.
- `adapter`: what happens at each SSO login (subject match, role sync, "no role", refusals), `services` the audited
  role change, `backends` the SSO-only guard for password logins.
"""
