"""The audit log: every question, who asked it, the SQL that ran or was refused and why, and how it ended.

One append-only SQLite file under ``$ASKDB_HOME`` shared by the chat, the HTTP API and the CLI.
Triggers abort any UPDATE or DELETE, so a row once written stays as it was written. Front ends do
not write rows themselves: they wrap ``Assistant.stream`` in ``audited`` (questions) or call
``AuditLog.record_sql`` (the "run SQL" box), so every path records the same fields.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from askdb.assistant import final_answer
from askdb.errors import AskdbError
from askdb.events import Finished, SqlRejected
from askdb.localdb import LocalDB

if TYPE_CHECKING:
    from askdb.assistant import Answer, Assistant, Event, Turn
    from askdb.settings import Settings

AUDIT_FILENAME = "audit.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,                -- UTC, ISO 8601
    caller TEXT NOT NULL,            -- API key name, "ui:<session>", "cli"
    kind TEXT NOT NULL,              -- ask | sql
    question TEXT NOT NULL,
    outcome TEXT NOT NULL,           -- answered | empty | declined | refused | error
    sql TEXT,                        -- the statement that ran
    refused TEXT NOT NULL,           -- JSON list of {sql, reason}: statements the guard or database refused
    rows INTEGER,
    duration_ms REAL NOT NULL,
    error TEXT,                      -- "ErrorType: message" when the question failed
    from_example INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    caller TEXT NOT NULL,
    question TEXT NOT NULL,
    sql TEXT,
    liked INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS feedback_no_update BEFORE UPDATE ON feedback
BEGIN SELECT RAISE(ABORT, 'the feedback log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS feedback_no_delete BEFORE DELETE ON feedback
BEGIN SELECT RAISE(ABORT, 'the feedback log is append-only'); END;
"""

_COLUMNS = (
    "id",
    "at",
    "caller",
    "kind",
    "question",
    "outcome",
    "sql",
    "refused",
    "rows",
    "duration_ms",
    "error",
    "from_example",
)


@dataclass
class AuditEntry:
    """One row of the audit log."""

    caller: str
    question: str
    outcome: str
    duration_ms: float
    kind: str = "ask"
    sql: str | None = None
    refused: list[dict[str, str]] = field(default_factory=list)
    rows: int | None = None
    error: str | None = None
    from_example: bool = False
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"))
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _COLUMNS}


class AuditLog:
    """Appends to and reads the audit file; threads may share it (see ``askdb.localdb``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = LocalDB(path, _SCHEMA)

    def _write(self, sql: str, values: Sequence[Any]) -> int:
        return self._db.run(lambda conn: int(conn.execute(sql, values).lastrowid))

    def _read(self, sql: str, values: Sequence[Any]) -> list[tuple]:
        if not self._db.exists():
            return []
        return self._db.run(lambda conn: conn.execute(sql, values).fetchall(), write=False)

    def close(self) -> None:
        self._db.close()

    def record(self, entry: AuditEntry) -> AuditEntry:
        """Append one entry; returns it with its id."""
        names = [c for c in _COLUMNS if c != "id"]
        values = [
            json.dumps(entry.refused, ensure_ascii=False) if n == "refused" else getattr(entry, n)
            for n in names
        ]
        entry.id = self._write(
            f"INSERT INTO audit ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", values
        )
        return entry

    def record_feedback(self, *, caller: str, question: str, sql: str | None, liked: bool) -> None:
        """A 👍 or 👎 on an answer."""
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        self._write(
            "INSERT INTO feedback (at, caller, question, sql, liked) VALUES (?, ?, ?, ?, ?)",
            (now, caller, question, sql, int(liked)),
        )

    def record_sql(
        self,
        *,
        caller: str,
        sql: str,
        ran: str | None,
        refused: list[dict[str, str]],
        rows: int | None,
        duration_ms: float,
        error: str | None = None,
    ) -> AuditEntry:
        """A statement typed by a person (the "run SQL" box): what ran, or why it was refused."""
        outcome = "answered" if ran is not None else ("refused" if refused else "error")
        return self.record(
            AuditEntry(
                caller=caller,
                question=sql,
                kind="sql",
                outcome=outcome,
                sql=ran,
                refused=refused,
                rows=rows,
                duration_ms=duration_ms,
                error=error,
            )
        )

    def tail(self, n: int = 20) -> list[AuditEntry]:
        """The last ``n`` entries, oldest first."""
        rows = self._read(f"SELECT {', '.join(_COLUMNS)} FROM audit ORDER BY id DESC LIMIT ?", (n,))
        return [_entry(row) for row in reversed(rows)]

    def feedback(self, n: int = 20) -> list[dict[str, Any]]:
        """The last ``n`` 👍/👎, oldest first."""
        rows = self._read(
            "SELECT at, caller, question, sql, liked FROM feedback ORDER BY id DESC LIMIT ?", (n,)
        )
        return [
            {"at": a, "caller": c, "question": q, "sql": s, "liked": bool(x)}
            for a, c, q, s, x in reversed(rows)
        ]


def _entry(row: tuple) -> AuditEntry:
    data = dict(zip(_COLUMNS, row))
    data["refused"] = json.loads(data["refused"] or "[]")
    data["from_example"] = bool(data["from_example"])
    return AuditEntry(**data)


def audit_log(settings: Settings) -> AuditLog:
    """The audit log in the settings' home folder."""
    return AuditLog(settings.home / AUDIT_FILENAME)


def audited(
    assistant: Assistant,
    question: str,
    *,
    log: AuditLog,
    caller: str,
    history: Sequence[Turn] = (),
    row_limit: int | None = None,
    clarify: bool = True,
) -> Iterator[Event]:
    """``assistant.stream`` that records the final answer, or the error, in the audit log.

    Events pass through unchanged; errors are recorded and raised again. A consumer that stops
    early (a closed connection) is recorded as an error too.
    """
    started = time.perf_counter()
    refused: list[dict[str, str]] = []
    finished = False
    try:
        for event in assistant.stream(question, history=history, row_limit=row_limit, clarify=clarify):
            if isinstance(event, SqlRejected):
                refused.append(_refusal(event))
            elif isinstance(event, Finished):
                finished = True
                _record_answer(log, caller, event.answer, refused, started)
            yield event
    except AskdbError as exc:
        _record_failure(log, caller, question, refused, started, f"{type(exc).__name__}: {exc.message}")
        raise
    except GeneratorExit:
        if not finished:
            _record_failure(log, caller, question, refused, started, "Cancelled: the caller went away")
        raise
    except Exception as exc:  # a bug: still leave a trace of the question
        _record_failure(log, caller, question, refused, started, f"{type(exc).__name__}: {exc}")
        raise


def audited_ask(
    assistant: Assistant, question: str, *, log: AuditLog, caller: str, history: Sequence[Turn] = ()
) -> Answer:
    """``assistant.ask`` with an audit record."""
    return final_answer(audited(assistant, question, log=log, caller=caller, history=history))


def _refusal(rejected: SqlRejected) -> dict[str, str]:
    reason = rejected.error or "; ".join(f"[{v['rule']}] {v['message']}" for v in rejected.violations)
    return {"sql": rejected.sql or "", "reason": reason}


def _record_answer(
    log: AuditLog, caller: str, answer: Answer, refused: list[dict[str, str]], started: float
) -> None:
    rows = None if answer.frame is None else len(answer.frame)
    log.record(
        AuditEntry(
            caller=caller,
            question=answer.question,
            outcome=answer.outcome,
            sql=answer.sql,
            refused=refused,
            rows=rows,
            duration_ms=_ms(started),
            from_example=answer.from_example,
        )
    )


def _record_failure(
    log: AuditLog, caller: str, question: str, refused: list[dict[str, str]], started: float, error: str
) -> None:
    log.record(
        AuditEntry(
            caller=caller,
            question=question.strip(),
            outcome="error",
            refused=refused,
            duration_ms=_ms(started),
            error=error,
        )
    )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
