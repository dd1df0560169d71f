"""Recorded replies played back in order, for reproducible demos and evaluations.

The file is JSONL, one reply a line: ``{"content": "...", "reasoning": "..."}`` (reasoning
optional; other keys, such as the question a reply was recorded for, are kept for readers and
ignored). Blank lines are skipped.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from askdb.errors import ConfigError, LLMError
from askdb.llm.base import LLM, Chunk, Message, Usage

if TYPE_CHECKING:
    from askdb.settings import Settings


def _reply(line: str, where: str) -> Chunk:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{where}: not JSON ({exc.msg})", hint="each line must be one JSON object"
        ) from None
    if not isinstance(record, dict) or not isinstance(record.get("content"), str):
        raise ConfigError(
            f'{where}: needs a string "content"', hint='write {"content": "...", "reasoning": "..."}'
        )
    reasoning = record.get("reasoning", "")
    if not isinstance(reasoning, str):
        raise ConfigError(f'{where}: "reasoning" must be a string', hint="drop it or make it a string")
    return Chunk(content=record["content"], reasoning=reasoning)


def read_replies(path: Path) -> list[Chunk]:
    """Every reply in a replay file, checked line by line; a bad line is a ConfigError naming it."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(
            f"cannot read replay file {path}: {exc.strerror}", hint="check ASKDB_REPLAY_FILE"
        ) from None
    return [_reply(line, f"{path}:{n}") for n, line in enumerate(lines, 1) if line.strip()]


class ReplayLLM(LLM):
    """Answers every call with the next recorded reply; the file is read on first use."""

    name = "replay"
    supports_reasoning = True

    def __init__(self, model: str, *, path: Path) -> None:
        super().__init__(model)
        self.path = path
        self._replies: list[Chunk] | None = None
        self._next = 0
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, *, model: str) -> ReplayLLM:
        if settings.replay_file is None:
            raise ConfigError(
                "the replay backend needs a file of recorded replies", hint="set ASKDB_REPLAY_FILE"
            )
        return cls(model, path=settings.replay_file)

    def _take(self) -> Chunk:
        with self._lock:
            if self._replies is None:
                self._replies = read_replies(self.path)
            if self._next >= len(self._replies):
                raise LLMError(
                    f"replay file {self.path} has {len(self._replies)} replies and all were used",
                    hint="record more replies, or start a new run to replay from the first",
                )
            self._next += 1
            return self._replies[self._next - 1]

    def stream(
        self, messages: Sequence[Message], *, temperature: float = 0.1, max_tokens: int | None = None
    ) -> Iterator[Chunk]:
        """The next recorded reply: its reasoning, then its content (no token counts were recorded)."""
        reply = self._take()
        if reply.reasoning:
            yield Chunk(reasoning=reply.reasoning)
        yield Chunk(content=reply.content, usage=Usage())
