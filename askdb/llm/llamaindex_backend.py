"""Any LlamaIndex LLM (``llama_index.core.llms.LLM``) as an askdb backend.

Needs ``pip install 'askdb[llamaindex]'``; llama-index-core is imported where first used. In
Python, pass the model: ``Assistant.from_settings(llm=LlamaIndexLLM(Ollama(...)))``. From settings,
``ASKDB_LLM_BACKEND=llamaindex ASKDB_LLM_MODEL=package.module:factory`` names a callable taking no
arguments that returns the LLM. Sampling is the LLM's own configuration, as with LangChain's.

Replies stream through ``stream_chat``; a streamed response's ``delta`` is answer text, and
reasoning is taken where the integration puts it: ``additional_kwargs["thinking_delta"]`` or
``["reasoning_content"]``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from askdb.errors import AskdbError, LLMError
from askdb.llm._common import import_sdk
from askdb.llm.base import LLM, Chunk, Message, Usage
from askdb.llm.langchain_backend import load_factory

if TYPE_CHECKING:
    from askdb.settings import Settings

INSTALL = "'askdb[llamaindex]'"
REASONING_KEYS = ("thinking_delta", "reasoning_content")


class LlamaIndexLLM(LLM):
    """A LlamaIndex LLM, streamed through ``stream_chat``."""

    name = "llamaindex"
    supports_reasoning = True

    def __init__(self, llm: Any, *, model: str | None = None) -> None:
        super().__init__(model or _model_name(llm))
        self.llm = llm

    @classmethod
    def from_settings(cls, settings: Settings, *, model: str) -> LlamaIndexLLM:
        """The LLM ``model`` (``package.module:factory``) makes."""
        import_sdk("llama_index.core", install=INSTALL, backend="llamaindex")
        return cls(load_factory(model, backend="llamaindex")(), model=model)

    def stream(
        self, messages: Sequence[Message], *, temperature: float = 0.1, max_tokens: int | None = None
    ) -> Iterator[Chunk]:
        """Yield each response's delta (and reasoning, where the integration sends it)."""
        deltas = 0
        try:
            for response in self.llm.stream_chat(_to_llamaindex(messages)):
                content, reasoning = response.delta or "", _reasoning(response.additional_kwargs)
                if content or reasoning:
                    deltas += 1
                    yield Chunk(content=content, reasoning=reasoning)
        except AskdbError:
            raise
        except Exception as exc:
            raise LLMError(
                f"the LlamaIndex model {self.model} failed: {type(exc).__name__}: {exc}",
                hint="see the LLM's own error above; askdb passes it the prompt unchanged",
                backend=self.name,
            ) from exc
        yield Chunk(usage=Usage(None, deltas), finish_reason="stop")


def _model_name(llm: Any) -> str:
    metadata = getattr(llm, "metadata", None)
    name = getattr(metadata, "model_name", None)
    return name if isinstance(name, str) and name else type(llm).__name__


def _to_llamaindex(messages: Sequence[Message]) -> list[Any]:
    types = import_sdk("llama_index.core.llms", install=INSTALL, backend="llamaindex")
    return [types.ChatMessage(role=m.role, content=m.content) for m in messages]


def _reasoning(extra: Any) -> str:
    if not isinstance(extra, dict):
        return ""
    return "".join(str(extra[key]) for key in REASONING_KEYS if extra.get(key))
