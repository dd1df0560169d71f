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


class LLMError(AskdbError):
    """The language model could not give an answer."""


class LLMUnavailable(LLMError):
    """Nothing answers at the backend's address (server not running, wrong URL)."""


class ModelNotFound(LLMError):
    """The server runs but does not have the model asked for."""


class LLMTimeout(LLMError):
    """The model took longer than the configured timeout."""


class LLMServerError(LLMError):
    """The server answered with an error (5xx, malformed stream)."""


class PromptTooLong(LLMError):
    """Even the smallest prompt (rules, question, the needed tables) does not fit the context window."""


class SqlRejected(AskdbError):
    """The guard refused a statement; ``violations`` says why, rule by rule, for the repair prompt."""

    exit_code = 1

    def __init__(
        self, message: str, *, violations: tuple = (), hint: str | None = None, **details: Any
    ) -> None:
        super().__init__(message, hint=hint, **details)
        self.violations = tuple(violations)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "violations": [v.to_dict() for v in self.violations]}


class QueryError(DatabaseError):
    """The database refused or failed to run an accepted statement."""


class QueryTimeout(QueryError):
    """A statement ran past the time limit and was stopped."""


class LLMAuthError(LLMError):
    """The server refused the API key (401/403)."""


class IndexCorrupt(AskdbError):
    """A retrieval index file on disk is missing, truncated or does not match its manifest."""


class NoAnswer(AskdbError):
    """The model did not produce an acceptable statement within the allowed attempts."""
