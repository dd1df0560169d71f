"""One error hierarchy for askdb.

Every error carries a message that names the problem and a ``hint`` that says how to fix it.
The CLI, the HTTP layer and the UI turn these into an exit code, a status or a notice; nothing
inside the library returns error text where a result is expected.
"""

from __future__ import annotations

from typing import Any


class AskdbError(Exception):
    """Root of every error askdb raises on purpose."""

    exit_code = 2

    def __init__(self, message: str, *, hint: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def one_line(self) -> str:
        """The message and the fix on one line, for terminals and logs."""
        return f"{self.message} — {self.hint}" if self.hint else self.message

    def to_dict(self) -> dict[str, Any]:
        return {"error": type(self).__name__, "message": self.message, "hint": self.hint, **self.details}


class ConfigError(AskdbError):
    """A setting is missing, malformed or points somewhere unusable."""


class SchemaError(AskdbError):
    """A DDL file or catalog cannot be read."""


class DatabaseError(AskdbError):
    """The database could not be reached or answered with an error."""


class DatabaseUnreachable(DatabaseError):
    """No server answers at the URL's host and port, or the file is missing."""


class DatabaseAuthError(DatabaseError):
    """The server refused the user name or password."""


class DatabaseNotFound(DatabaseError):
    """The server is up but the named database does not exist."""
