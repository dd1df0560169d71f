"""askdb's own small SQLite files under ``$ASKDB_HOME`` (the audit log, API conversations).

Each process keeps one connection open: opening one, setting its pragmas and reading the schema
cost more than the insert that follows (about 2 ms against 0.1 ms). The connection is opened again
after a fork (``askdb serve --workers N``) and when the file was deleted or replaced underneath
it, so rows never go into a file nobody can see. WAL lets readers (``askdb audit tail``, other
workers) read while one process writes; ``synchronous=NORMAL`` keeps every committed row through a
crash of askdb itself, while a power cut or OS crash may lose the last few, never the file.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class LocalDB:
    """One SQLite file with its schema, shared by the threads of a process (calls are serialised)."""

    def __init__(self, path: Path, schema: str) -> None:
        self.path = path
        self.schema = schema
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._key: tuple[int, int] | None = None  # (pid, inode) the connection belongs to

    def run(self, work: Callable[[sqlite3.Connection], T], *, write: bool = True) -> T:
        """``work(connection)`` in one transaction (committed, or rolled back if it raises)."""
        with self._lock:
            conn = self._connection()
            if not write:
                return work(conn)
            with conn:
                return work(conn)

    def exists(self) -> bool:
        return self.path.is_file()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _connection(self) -> sqlite3.Connection:
        try:
            key: tuple[int, int] | None = (os.getpid(), self.path.stat().st_ino)
        except FileNotFoundError:
            key = None
        if self._conn is None or key != self._key:
            self._drop()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=10, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(self.schema)
            self._conn, self._key = conn, (os.getpid(), self.path.stat().st_ino)
        return self._conn

    def _drop(self) -> None:
        # A connection inherited through fork belongs to the parent: closing it here could
        # disturb the parent's locks, so it is only forgotten.
        if self._conn is not None and self._key is not None and self._key[0] == os.getpid():
            self._conn.close()
        self._conn = self._key = None
