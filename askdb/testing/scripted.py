"""An in-process scripted fake LLM for unit tests of the workflow (no wire, no model).

It replays a queue of replies and records every call. Tests that exercise real client libraries
use the fake servers in this package instead.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from askdb.errors import LLMError
from askdb.llm.base import LLM, Chunk, Message, Usage
from askdb.llm.budget import estimate_chat_tokens


@dataclass(frozen=True)
class ScriptedReply:
    content: str
    reasoning: str = ""


Script = str | ScriptedReply | BaseException | Callable[[Sequence[Message]], "str | ScriptedReply"]


class ScriptedFakeLLM(LLM):
    """Answers from a script, in order; ``calls`` holds the messages of every call."""

    name = "scripted-fake"
    supports_reasoning = True

    def __init__(
        self, replies: Iterable[Script] = (), *, model: str = "scripted-fake", piece: int = 7
    ) -> None:
        super().__init__(model)
        self.replies: deque[Script] = deque(replies)
        self.calls: list[list[Message]] = []
        self.max_tokens: list[int | None] = []  # the reply budget of every call
        self.piece = piece  # characters per streamed chunk, so streaming paths are exercised

    def stream(
        self, messages: Sequence[Message], *, temperature: float = 0.1, max_tokens: int | None = None
    ) -> Iterator[Chunk]:
        self.calls.append(list(messages))
        self.max_tokens.append(max_tokens)
        if not self.replies:
            raise LLMError("the scripted fake LLM ran out of replies", hint="add replies to the script")
        reply = self.replies.popleft()
        if isinstance(reply, BaseException):
            raise reply
        if callable(reply):
            reply = reply(messages)
        if isinstance(reply, str):
            reply = ScriptedReply(reply)
        # One character is one token here; like a real server, max_tokens cuts the reply ("length").
        reasoning, content, finish = reply.reasoning, reply.content, "stop"
        if max_tokens is not None and len(reasoning) + len(content) > max_tokens:
            reasoning = reasoning[:max_tokens]
            content = content[: max_tokens - len(reasoning)]
            finish = "length"
        for start in range(0, len(reasoning), self.piece):
            yield Chunk(reasoning=reasoning[start : start + self.piece])
        for start in range(0, len(content), self.piece):
            yield Chunk(content=content[start : start + self.piece])
        prompt = estimate_chat_tokens(messages)  # what askdb estimates, so calibration keeps the scale at 1
        yield Chunk(
            usage=Usage(prompt_tokens=prompt, completion_tokens=len(content) + len(reasoning)),
            finish_reason=finish,
        )
