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
    """One streamed piece: reasoning text, answer text, or (last) the token usage and why it stopped.

    ``finish_reason`` is ``"stop"`` for a reply the model ended, ``"length"`` for one cut at the
    reply budget (``max_tokens``); None where the backend does not say.
    """

    content: str = ""
    reasoning: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None


@dataclass(frozen=True)
class ModelStatus:
    """Whether the model answers, and if not, what to do about it."""

    ok: bool
    message: str = ""


@dataclass(frozen=True)
class Completion:
    content: str
    reasoning: str
    usage: Usage
    model: str
    elapsed_s: float
    finish_reason: str | None = None  # "stop", "length" (cut at max_tokens), or None: not said


class LLM(ABC):
    """A chat model. Backends implement ``stream``; everything else is derived from it.

    Capabilities are class attributes so callers can ask without calling the model. A backend is
    constructed without touching the network or loading weights; ``probe`` asks a server whether
    it runs, and in-process engines load on the first ``stream``.

    Args:
        model: the model's name as the backend knows it (a server's model name, a folder, a file).
    """

    name: ClassVar[str] = "llm"  # the backend's registry name (a key of BUILTIN_BACKENDS for built-ins)
    supports_reasoning: ClassVar[bool] = False  # returns reasoning separately from the answer
    # How many of the model's tokens one estimated token turned out to be, learnt from the usage the
    # server reports (``askdb.llm.budget.calibrate``); only ever grows, so estimates stay conservative.
    estimate_scale: float = 1.0

    def __init__(self, model: str) -> None:
        self.model = model

    @abstractmethod
    def stream(
        self, messages: Sequence[Message], *, temperature: float = 0.1, max_tokens: int | None = None
    ) -> Iterator[Chunk]:
        """Yield the reply as it forms.

        Args:
            messages: the chat so far, oldest first.
            temperature: sampling temperature.
            max_tokens: the most tokens to generate; None leaves it to the backend.

        Returns:
            An iterator of chunks: reasoning and answer text as they arrive; the last one may
            carry the token usage.

        Raises:
            LLMError: the model can't answer (a subclass such as LLMUnavailable, LLMTimeout or
                ModelNotFound says why, with a hint on how to fix it).
        """

    def complete(
        self, messages: Sequence[Message], *, temperature: float = 0.1, max_tokens: int | None = None
    ) -> Completion:
        """The whole reply at once, gathered from ``stream``.

        Args:
            messages: the chat so far, oldest first.
            temperature: sampling temperature.
            max_tokens: the most tokens to generate; None leaves it to the backend.

        Returns:
            The joined content and reasoning, the last usage seen, the model and the time taken.

        Raises:
            LLMError: as ``stream`` raises it.
        """
        started = time.perf_counter()
        content: list[str] = []
        reasoning: list[str] = []
        usage = Usage()
        finish: str | None = None
        for chunk in self.stream(messages, temperature=temperature, max_tokens=max_tokens):
            content.append(chunk.content)
            reasoning.append(chunk.reasoning)
            usage = chunk.usage or usage
            finish = chunk.finish_reason or finish
        return Completion(
            "".join(content), "".join(reasoning), usage, self.model, time.perf_counter() - started, finish
        )

    def count_tokens(self, messages: Sequence[Message]) -> int | None:
        """The prompt's size in this model's own tokens, chat template included; None: cannot count.

        Backends that hold the tokenizer (llama.cpp, vLLM in process) count exactly; servers
        leave it to ``askdb.llm.budget.estimate_chat_tokens``, a conservative estimate.
        """
        return None

    def context_window(self) -> int | None:
        """The most tokens prompt and reply may take together, where the backend knows; else None.

        None means the configured ``ASKDB_LLM_NUM_CTX`` applies.
        """
        return None

    def probe(self, timeout_s: float = 2.0) -> ModelStatus:
        """A quick look at whether the model can answer, and how to start it if not.

        The default says ready: in-process backends load on first use. Backends that talk to a
        server override it to ask the server (within ``timeout_s``) whether it runs and has the model.

        Args:
            timeout_s: the longest wait for the server.

        Returns:
            ``ModelStatus(True)``, or ``ModelStatus(False, message)`` with what to do about it.
            Never raises for an unreachable or misbehaving server.
        """
        return ModelStatus(True)
