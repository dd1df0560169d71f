"""Conversations of ``/v1/ask`` by id, kept in SQLite under ``$ASKDB_HOME``.

In a file rather than in memory because ``askdb serve --workers N`` runs N processes: a follow-up
question may reach another process than the one that answered the question before it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from askdb.assistant import Turn
from askdb.localdb import LocalDB

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
    """Turns of recent conversations; the oldest are forgotten past ``limit``. Safe across threads and processes.

    Context for follow-ups, not a record: a power cut may lose the last turns, never the file.
    """

    def __init__(self, path: Path, limit: int = MAX_CONVERSATIONS) -> None:
        self.path = path
        self.limit = limit
        self._adds = 0
        self._db = LocalDB(path, _SCHEMA)

    def history(self, cid: str) -> list[Turn]:
        rows = self._db.run(
            lambda conn: conn.execute(
                "SELECT question, sql FROM turns WHERE cid = ? ORDER BY id", (cid,)
            ).fetchall(),
            write=False,
        )
        return [Turn(question, sql) for question, sql in rows]

    def add(self, cid: str, turn: Turn) -> None:
        self._adds += 1  # under no lock: an add more or less between prunings does not matter
        prune = self._adds % _PRUNE_EVERY == 0

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO turns (cid, question, sql) VALUES (?, ?, ?)", (cid, turn.question, turn.sql)
            )
            if prune:
                self.prune(conn)

        self._db.run(insert)

    def close(self) -> None:
        self._db.close()

    def prune(self, conn: sqlite3.Connection) -> None:
        """Drop every conversation but the ``limit`` most recently continued."""
        conn.execute(
            "DELETE FROM turns WHERE cid NOT IN "
            "(SELECT cid FROM turns GROUP BY cid ORDER BY MAX(id) DESC LIMIT ?)",
            (self.limit,),
        )
