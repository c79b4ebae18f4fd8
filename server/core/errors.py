"""The core's exceptions: each carries a sentence a teller can act on.

The web layer maps them in one place: NotFound -> 404, IllegalAction -> 409,
InvalidInput -> 422. The log reader raises LogError with the line number.
"""

from __future__ import annotations


class BranchError(Exception):
    """Base of every error the branch core raises on purpose."""

    code = "branch_error"

    def __init__(self, message: str, message_zh: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.message_zh = message_zh or message


class NotFound(BranchError):
    """A branch, counter, service or ticket that does not exist."""

    code = "not_found"


class IllegalAction(BranchError):
    """An action that the current state does not allow (a teller can fix it)."""

    code = "illegal_action"


class InvalidInput(BranchError):
    """Input of the wrong form: names what was wrong and what is allowed."""

    code = "invalid_input"


class InconsistentEvent(BranchError):
    """An event that contradicts the history before it (e.g. an unknown ticket)."""

    code = "inconsistent_event"


class LogError(BranchError):
    """A line of an event log that cannot be read or applied."""

    code = "log_error"

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}", f"第{line}行: {reason}")
        self.line = line
        self.reason = reason


class NotSignedIn(BranchError):
    """No credentials, or credentials that are unknown, expired or revoked (HTTP 401)."""

    code = "not_signed_in"


class Forbidden(BranchError):
    """Signed in, but this role may not do this here (HTTP 403); the message says why."""

    code = "forbidden"
