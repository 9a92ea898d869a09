"""Audit event names of logins, lockouts and changes to a user's access."""

from django.db import models


class AccessAction(models.TextChoices):
    LOGIN = "auth.login", "Logged in"
    LOGOUT = "auth.logout", "Logged out"
    LOGIN_FAILED = "auth.login_failed", "Login failed"
    LOCKED_OUT = "auth.locked_out", "Locked out"
    LOCKOUT_LIFTED = "auth.lockout_lifted", "Lockout lifted"
    USER_CREATED = "user.created", "User created"
    USER_ACCESS_CHANGED = "user.access_changed", "User's roles, permissions or flags changed"
    GROUP_CREATED = "group.created", "Role (group) created"
    GROUP_CHANGED = "group.changed", "Role (group) changed"
    GROUP_DELETED = "group.deleted", "Role (group) deleted"


# The fields of a user that decide what they may do; every change of one goes through
# services.user_access_set (audited, before/after).
ACCESS_FLAGS = ("is_active", "is_staff", "is_superuser")


class LockoutScope(models.TextChoices):
    USERNAME = "username", "username"
    ADDRESS = "ip_address", "address"
