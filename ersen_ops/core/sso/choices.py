"""Names for single sign-on: its own audit actions and why an SSO login was refused."""

from django.db import models


class SSOAction(models.TextChoices):
    """Events only SSO writes. Accounts made, role changes and failed logins use core.accounts.choices.AccessAction
    (user.created, user.access_changed, auth.login_failed), as for the user admin and password logins."""

    LINKED = "user.sso_linked", "A user was linked to a provider subject"
    UNLINKED = "user.sso_unlinked", "A user's link to a provider subject was removed"


class Refusal(models.TextChoices):
    """Why an SSO login was refused (the audit event's `reason`); the label is what the person is told."""

    SIGNATURE = "signature", "The provider's ID token is not signed by a key the provider publishes."
    AUDIENCE = "audience", "The provider's ID token was issued for another application (audience)."
    ISSUER = "issuer", "The provider's ID token names another issuer."
    EXPIRED = "expired", "The provider's ID token has expired (or is not valid yet): check the clocks."
    NONCE = "nonce", "The provider's ID token does not answer this login (nonce mismatch): a replayed or forged answer."
    ALGORITHM = "algorithm", "The provider's ID token uses a signing algorithm the portal does not accept."
    TOKEN = "token", "The provider's ID token could not be verified."
    STATE = "state", "The provider's answer does not belong to a login started in this browser (state)."
    CANCELLED = "cancelled", "The login was cancelled at the provider."
    PROVIDER = "provider", "The provider refused or could not complete the login."
    UNREACHABLE = "unreachable", "The provider could not be reached (or did not answer as an OpenID Connect provider)."
    REAUTH_OTHER = "reauth_other", "You signed in at the provider as someone other than the person logged in here."
    REAUTH_STALE = "reauth_stale", "The provider did not ask for your login again (its auth_time is not from just now)."
    NO_ROLE = "no_role", "None of your groups at the provider gives a role in Ersen Ops."
    INACTIVE = "inactive", "This account is disabled in Ersen Ops."
