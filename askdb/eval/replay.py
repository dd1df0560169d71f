"""Replay files made from the gold set, to validate the harness with the ``replay`` backend.

The assistant calls the model once for SQL and once more for the analysis, except when the result
is empty (no analyst call) or a verified example answers (no call at all). Rather than predict
that, ``record_gold_replay`` runs the questions through the assistant with a fake that answers
each SQL prompt with the question's gold SQL (or a decline) and records every reply in the order
the assistant asked for it; replaying that file later reproduces the same calls.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

from askdb.assistant import Assistant
from askdb.eval.dataset import Question
from askdb.eval.runner import GoldRunner, run_questions
from askdb.files import write_atomic
from askdb.llm.base import LLM, Chunk, Message, Usage
from askdb.llm.replay_backend import asked_question

DECLINE_REPLY = "无法回答:给出的表和字段里没有这个问题需要的数据。"
ANALYSIS_REPLY = "- (回放)结果如上表。"
_QUESTION_HEADING = "## 问题"
_ANALYST_MARK = "数据分析师"


class GoldOracleFakeLLM(LLM):
    """A fake that knows the answers: gold SQL for each question it is asked, a fixed analysis otherwise."""

    name = "gold-oracle-fake"

    def __init__(self, questions: Sequence[Question]) -> None:
        super().__init__("gold-oracle")
        self.answers = {q.question.strip(): q.sql for q in questions}

    def _reply(self, messages: Sequence[Message]) -> str:
        if any(_ANALYST_MARK in m.content for m in messages):
            return ANALYSIS_REPLY
        prompt = next(m.content for m in reversed(messages) if _QUESTION_HEADING in m.content)
        asked = prompt.rsplit(_QUESTION_HEADING, 1)[1].strip()
        sql = self.answers.get(asked)
        return DECLINE_REPLY if sql is None else f"```sql\n{sql}\n```"

    def stream(
        self, messages: Sequence[Message], *, temperature: float = 0.1, max_tokens: int | None = None
    ) -> Iterator[Chunk]:
        yield Chunk(content=self._reply(messages), usage=Usage())


class RecordingLLM(LLM):
    """Passes calls to another model and keeps every whole reply, in call order."""

    def __init__(self, inner: LLM) -> None:
        super().__init__(inner.model)
        self.name = inner.name
        self.inner = inner
        self.replies: list[dict[str, str]] = []

    def stream(
        self, messages: Sequence[Message], *, temperature: float = 0.1, max_tokens: int | None = None
    ) -> Iterator[Chunk]:
        content, reasoning = [], []
        for chunk in self.inner.stream(messages, temperature=temperature, max_tokens=max_tokens):
            content.append(chunk.content or "")
            reasoning.append(chunk.reasoning or "")
            yield chunk
        reply = {"content": "".join(content), "reasoning": "".join(reasoning)}
        asked = asked_question(messages)
        self.replies.append(reply if asked is None else {**reply, "question": asked})


def write_replies(path: Path, replies: Sequence[dict[str, str]]) -> None:
    """A replay file, written to a temporary file and renamed."""
    write_atomic(path, "".join(json.dumps(reply, ensure_ascii=False) + "\n" for reply in replies))


def record_gold_replay(
    assistant: Assistant, questions: Sequence[Question], path: Path, gold: GoldRunner, work: Path
) -> int:
    """Write a replay file whose replies are exactly the gold SQL; returns how many replies it holds."""
    recorder = RecordingLLM(GoldOracleFakeLLM(questions))
    oracle = copy.copy(assistant)
    oracle.llm, oracle.analyst_llm = recorder, None
    run_questions(oracle, questions, work / "record.jsonl", gold)
    write_replies(path, recorder.replies)
    return len(recorder.replies)
