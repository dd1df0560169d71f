"""The one interface every LLM backend implements: stream a chat, chunk by chunk."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class Chunk:
    """One streamed piece: reasoning text, answer text, or (last) the token usage."""

    content: str = ""
    reasoning: str = ""
    usage: Usage | None = None


@dataclass(frozen=True)
class Completion:
    content: str
    reasoning: str
    usage: Usage
    model: str
    elapsed_s: float


class LLM(ABC):
    """A chat model. Backends implement ``stream``; everything else is derived from it.

    Capabilities are class attributes so callers can ask without calling the model.
    """

    name: ClassVar[str] = "llm"
    supports_reasoning: ClassVar[bool] = False  # returns reasoning separately from the answer

    def __init__(self, model: str) -> None:
        self.model = model

    @abstractmethod
    def stream(
        self, messages: Sequence[Message], *, temperature: float = 0.1, max_tokens: int | None = None
    ) -> Iterator[Chunk]:
        """Yield the reply as it forms; raise an askdb LLMError (with a fix) when the model can't answer."""

    def complete(
        self, messages: Sequence[Message], *, temperature: float = 0.1, max_tokens: int | None = None
    ) -> Completion:
        """The whole reply at once, gathered from ``stream``."""
        started = time.perf_counter()
        content, reasoning, usage = [], [], Usage()
        for chunk in self.stream(messages, temperature=temperature, max_tokens=max_tokens):
            content.append(chunk.content)
            reasoning.append(chunk.reasoning)
            usage = chunk.usage or usage
        return Completion(
            "".join(content), "".join(reasoning), usage, self.model, time.perf_counter() - started
        )
