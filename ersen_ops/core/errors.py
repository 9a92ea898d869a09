"""Domain errors: exceptions whose message an operator can read and act on.

Services raise these; interfaces (admin views, forms, commands, tasks) turn them
into form errors, admin messages or exit codes. Never show a traceback.
"""


class DomainError(Exception):
    """A rule refused the action. `str(exc)` is the operator-facing message."""

    def __init__(self, message: str, *, code: str = "refused", details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.details = details or []

    def __str__(self) -> str:
        if self.details:
            return f"{self.message} " + "; ".join(self.details)
        return self.message


class InvalidTransition(DomainError):
    """A lifecycle transition is not allowed from the current state."""

    def __init__(self, message: str, **kwargs):
        kwargs.setdefault("code", "invalid_transition")
        super().__init__(message, **kwargs)


class PolicyViolation(DomainError):
    """A scheduling/SLA/approval policy refused the action."""

    def __init__(self, message: str, **kwargs):
        kwargs.setdefault("code", "policy")
        super().__init__(message, **kwargs)


class PermissionRefused(DomainError):
    """The actor lacks the permission (or role) the action needs."""

    def __init__(self, message: str, **kwargs):
        kwargs.setdefault("code", "permission")
        super().__init__(message, **kwargs)
