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
    zh = "出错了"  # what went wrong, in the words of the people who read the chat and the terminal

    def __init__(self, message: str, *, hint: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def one_line(self) -> str:
        """The message and the fix on one line, for terminals and logs."""
        return f"{self.message} — {self.hint}" if self.hint else self.message

    def person_line(self) -> str:
        """The Chinese lead, then the exact problem and fix (names, settings and commands stay as typed)."""
        return f"{self.zh}:{self.one_line()}"

    def to_dict(self) -> dict[str, Any]:
        return {"error": type(self).__name__, "message": self.message, "hint": self.hint, **self.details}


class ConfigError(AskdbError):
    """A setting is missing, malformed or points somewhere unusable."""

    zh = "设置有误"


class SchemaError(AskdbError):
    """A DDL file or catalog cannot be read."""

    zh = "读不了表结构"


class EmptyDatabase(SchemaError):
    """The database has no table to ask about (or none the user may read)."""

    zh = "数据库里没有可以查询的表"


class DatabaseError(AskdbError):
    """The database could not be reached or answered with an error."""

    zh = "数据库出错"


class DatabaseUnreachable(DatabaseError):
    """No server answers at the URL's host and port, or the file is missing."""

    zh = "连接不上数据库"


class DatabaseAuthError(DatabaseError):
    """The server refused the user name or password."""

    zh = "数据库拒绝了用户名或密码"


class DatabaseNotFound(DatabaseError):
    """The server is up but the named database does not exist."""

    zh = "数据库不存在"


class LLMError(AskdbError):
    """The language model could not give an answer."""

    zh = "模型没有给出回答"


class LLMUnavailable(LLMError):
    """Nothing answers at the backend's address (server not running, wrong URL)."""

    zh = "连接不上模型服务"


class ModelNotFound(LLMError):
    """The server runs but does not have the model asked for."""

    zh = "模型服务里没有这个模型"


class LLMTimeout(LLMError):
    """The model took longer than the configured timeout."""

    zh = "模型回答超时"


class LLMServerError(LLMError):
    """The server answered with an error (5xx, malformed stream)."""

    zh = "模型服务出错"


class PromptTooLong(LLMError):
    """Even the smallest prompt (rules, question, the needed tables) does not fit the context window."""

    zh = "提示词超出了模型的上下文窗口"


class SqlRejected(AskdbError):
    """The guard refused a statement; ``violations`` says why, rule by rule, for the repair prompt."""

    zh = "SQL 未通过安全检查"

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

    zh = "SQL 执行出错"


class QueryTimeout(QueryError):
    """A statement ran past the time limit and was stopped."""

    zh = "SQL 执行超时,已停止"


class LLMAuthError(LLMError):
    """The server refused the API key (401/403)."""

    zh = "模型服务拒绝了 API key"


class IndexCorrupt(AskdbError):
    """A retrieval index file on disk is missing, truncated or does not match its manifest."""

    zh = "检索索引文件已损坏"


class NoAnswer(AskdbError):
    """The model did not produce an acceptable statement within the allowed attempts."""

    zh = "没能生成可用的 SQL"


class ForecastError(AskdbError):
    """A series cannot be forecast as given (too short, constant, irregular, not numbers, no time column)."""

    zh = "无法预测"
