"""Domain errors. They know nothing about HTTP: the API maps each class to a status and an error code."""


class DomainError(Exception):
    """Base of every error a client can cause; the message is safe to show to that client."""

    def __init__(self, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    pass


class Conflict(DomainError):
    pass


class Busy(Conflict):
    """A conflict that passes: the same request can succeed in a moment (409 with Retry-After)."""

    def __init__(self, message: str, retry_after_seconds: int = 1) -> None:
        super().__init__(message, {"retryAfterSeconds": retry_after_seconds})


class PayloadTooLarge(DomainError):
    pass


class InvalidRequest(DomainError):
    """Bad parameters the schema cannot express, such as a tampered cursor."""


class Unprocessable(DomainError):
    """Well-formed input that breaks a business rule."""


class Unauthorized(DomainError):
    pass


class UpstreamFailed(DomainError):
    """The model provider failed or refused; nothing the client can fix by changing the request alone."""


class Throttled(DomainError):
    """A rate limit: ours (quotas) or the model provider's; always says when to try again (429 with Retry-After,
    1 s unless `details` gives its own `retryAfterSeconds`)."""

    def __init__(self, message: str, details: dict | None = None) -> None:
        super().__init__(message, {"retryAfterSeconds": 1, **(details or {})})
