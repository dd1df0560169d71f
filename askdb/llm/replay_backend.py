"""Recorded replies played back, for reproducible demos and evaluations.

The file is JSONL, one reply a line: ``{"content": "...", "reasoning": "...", "question": "..."}``
(reasoning optional; other keys are kept for readers and ignored). Blank lines are skipped.

Replies are played in file order. When every line names the ``question`` it was recorded for (the
files ``askdb eval record-replay`` writes do), each call gets the next unused reply recorded for the
question its prompt asks instead: a resumed eval, which skips the questions it finished, then
still gets each question's own replies.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from askdb.errors import ConfigError, LLMError
from askdb.llm.base import LLM, Chunk, Message, Usage

if TYPE_CHECKING:
    from askdb.settings import Settings


_QUESTION_HEADING = "## 问题"  # the SQL-expert prompt's last section (sql_expert.md.jinja)
_ANALYST_QUESTION = re.compile(r"^问题:(.*?)\n\n执行的 SQL:", re.S | re.M)  # analyst.md.jinja


def asked_question(messages: Sequence[Message]) -> str | None:
    """The question a prompt asks: the analyst's ``问题:`` line, or the SQL prompt's last section
    (a repair continues the SQL conversation, so it asks the same question)."""
    for message in reversed(messages):
        found = _ANALYST_QUESTION.search(message.content)
        if found:
            return found.group(1).strip()
        if _QUESTION_HEADING in message.content:
            return message.content.rsplit(_QUESTION_HEADING, 1)[1].strip()
    return None


@dataclass(frozen=True)
class Reply:
    chunk: Chunk
    question: str | None


def _reply(line: str, where: str) -> Reply:
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
    question = record.get("question")
    if question is not None and not isinstance(question, str):
        raise ConfigError(f'{where}: "question" must be a string', hint="drop it or make it a string")
    return Reply(Chunk(content=record["content"], reasoning=reasoning), question)


def read_replies(path: Path) -> list[Reply]:
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
        self._replies: list[Reply] | None = None
        self._next = 0
        self._by_question: dict[str, deque[Chunk]] | None = None  # when every reply names its question
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, *, model: str) -> ReplayLLM:
        if settings.replay_file is None:
            raise ConfigError(
                "the replay backend needs a file of recorded replies", hint="set ASKDB_REPLAY_FILE"
            )
        return cls(model, path=settings.replay_file)

    def _take(self, messages: Sequence[Message]) -> Chunk:
        with self._lock:
            if self._replies is None:
                self._replies = read_replies(self.path)
                if self._replies and all(r.question is not None for r in self._replies):
                    self._by_question = {}
                    for r in self._replies:
                        self._by_question.setdefault(str(r.question), deque()).append(r.chunk)
            if self._by_question is not None:
                return self._take_for(asked_question(messages))
            if self._next >= len(self._replies):
                raise LLMError(
                    f"replay file {self.path} has {len(self._replies)} replies and all were used",
                    hint="record more replies, or start a new run to replay from the first",
                )
            self._next += 1
            return self._replies[self._next - 1].chunk

    def _take_for(self, question: str | None) -> Chunk:
        assert self._by_question is not None
        queue = self._by_question.get(question or "")
        if not queue:
            asked = "no question" if question is None else f"the question {question!r}"
            raise LLMError(
                f"replay file {self.path} has no reply left for {asked}",
                hint="record the replies for this question set again (askdb eval record-replay)",
            )
        return queue.popleft()

    def stream(
        self, messages: Sequence[Message], *, temperature: float = 0.1, max_tokens: int | None = None
    ) -> Iterator[Chunk]:
        """The next recorded reply: its reasoning, then its content (no token counts were recorded)."""
        reply = self._take(messages)
        if reply.reasoning:
            yield Chunk(reasoning=reply.reasoning)
        yield Chunk(content=reply.content, usage=Usage())
