"""Personal access tokens, the idempotency record of POSTs, and per-token request counters."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from api.choices import TokenScope


class ApiToken(models.Model):
    """A personal access token: acts as its user (never more), limited to its scopes, until it expires or is revoked.

    Only a SHA-256 of the secret is stored (the secret has 190+ bits of randomness, so no slow hash is needed);
    the visible prefix ("ersen_…") identifies the token in lists and audit events.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. “GitHub Actions deploy”.")
    prefix = models.CharField(max_length=20, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list, help_text=f"Any of: {', '.join(TokenScope.values)}")
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_addr = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.prefix} ({self.name})"

    @property
    def label(self) -> str:
        """How audit events name the token."""
        return f"{self.prefix} ({self.name})"


class IdempotencyRecord(models.Model):
    """The first successful answer to a POST with an Idempotency-Key, replayed for a retry with the same key and body."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body")
    status_code = models.PositiveSmallIntegerField(default=0)
    response_body = models.JSONField(null=True, blank=True)
    location = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token", "key"], name="api_idempotency_unique_key")]

    def __str__(self) -> str:
        return f"{self.key} → {self.status_code or 'in progress'}"


class RateCounter(models.Model):
    """Requests of one token in one fixed window. In the database so every worker and machine shares one count;
    an UPDATE … SET count = count + 1 is atomic (the same scheme as subscriber rate limits)."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="+")
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["token", "window_start"], name="api_rate_unique_window")]
        indexes = [models.Index(fields=["window_start"], name="api_rate_window_idx")]

    def __str__(self) -> str:
        return f"{self.window_start:%Y-%m-%d %H:%M:%S} ×{self.count}"
