"""Audit event names of logins, lockouts and changes to a user's access."""

from django.db import models


class AccessAction(models.TextChoices):
    LOGIN = "auth.login", "Logged in"
    LOGOUT = "auth.logout", "Logged out"
    LOGIN_FAILED = "auth.login_failed", "Login failed"
    LOCKED_OUT = "auth.locked_out", "Locked out"
    LOCKOUT_LIFTED = "auth.lockout_lifted", "Lockout lifted"
    USER_ACCESS_CHANGED = "user.access_changed", "User's roles or flags changed"


class LockoutScope(models.TextChoices):
    USERNAME = "username", "username"
    ADDRESS = "ip_address", "address"
