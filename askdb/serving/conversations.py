"""Conversations of ``/v1/ask`` by id, kept in SQLite under ``$ASKDB_HOME``.

In a file rather than in memory because ``askdb serve --workers N`` runs N processes: a follow-up
question may reach another process than the one that answered the question before it.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from askdb.assistant import Turn

MAX_CONVERSATIONS = 1000  # the most recent ones are kept
_PRUNE_EVERY = 100  # adds between two prunings
_SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cid TEXT NOT NULL,
    question TEXT NOT NULL,
    sql TEXT
);
CREATE INDEX IF NOT EXISTS turns_by_cid ON turns (cid, id);
"""


class ConversationStore:
    """Turns of recent conversations; the oldest are forgotten past ``limit``. Safe across threads and processes."""

    def __init__(self, path: Path, limit: int = MAX_CONVERSATIONS) -> None:
        self.path = path
        self.limit = limit
        self._ready = False
        self._adds = 0
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        if not self._ready:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=10)
        if not self._ready:
            conn.execute("PRAGMA journal_mode=WAL")  # workers read while another writes
            conn.executescript(_SCHEMA)
            self._ready = True
        # Context for follow-ups, not a record: a power cut may lose the last turns, never the file.
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def history(self, cid: str) -> list[Turn]:
        conn = self._connect()
        try:
            rows = conn.execute("SELECT question, sql FROM turns WHERE cid = ? ORDER BY id", (cid,)).fetchall()
        finally:
            conn.close()
        return [Turn(question, sql) for question, sql in rows]

    def add(self, cid: str, turn: Turn) -> None:
        with self._lock:
            self._adds += 1
            prune = self._adds % _PRUNE_EVERY == 0
        conn = self._connect()
        try:
            with conn:
                conn.execute("INSERT INTO turns (cid, question, sql) VALUES (?, ?, ?)", (cid, turn.question, turn.sql))
                if prune:
                    self.prune(conn)
        finally:
            conn.close()

    def prune(self, conn: sqlite3.Connection) -> None:
        """Drop every conversation but the ``limit`` most recently continued."""
        conn.execute(
            "DELETE FROM turns WHERE cid NOT IN "
            "(SELECT cid FROM turns GROUP BY cid ORDER BY MAX(id) DESC LIMIT ?)", (self.limit,))
