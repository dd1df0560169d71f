"""Any LangChain chat model (``BaseChatModel``) as an askdb backend.

Needs ``pip install 'askdb[langchain]'``; langchain-core is imported where first used. In Python,
pass the model: ``Assistant.from_settings(llm=LangChainLLM(ChatOpenAI(...)))``. From settings,
``ASKDB_LLM_BACKEND=langchain ASKDB_LLM_MODEL=package.module:factory`` names a callable taking no
arguments that returns the chat model (a model cannot be written as a string, but its factory can).

Sampling (temperature, max tokens) is the chat model's own configuration: LangChain models take
those as constructor fields whose names differ between providers, so none is forced on them here.
Reasoning is read from the message's standard content blocks (``type: reasoning``), which
langchain-core fills from the provider's own field (``additional_kwargs["reasoning_content"]``,
Anthropic's thinking blocks, ...).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from askdb.errors import AskdbError, ConfigError, LLMError
from askdb.llm._common import import_sdk
from askdb.llm.base import LLM, Chunk, Message, Usage

if TYPE_CHECKING:
    from askdb.settings import Settings

INSTALL = "'askdb[langchain]'"


def _messages_module() -> Any:
    return import_sdk("langchain_core.messages", install=INSTALL, backend="langchain").__dict__


def load_factory(spec: str, *, backend: str, setting: str = "ASKDB_LLM_MODEL") -> Callable[[], Any]:
    """The callable ``package.module:name`` names; a malformed or missing one is a ConfigError."""
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ConfigError(
            f"the {backend} backend needs {setting}=package.module:factory, not {spec!r}",
            hint="name a function that takes no arguments and returns the model",
            backend=backend,
        )
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"{setting}={spec!r} names nothing importable ({exc})",
            hint="check the module path and the function's name",
            backend=backend,
        ) from None
    if not callable(factory):
        raise ConfigError(f"{setting}={spec!r} is not callable", hint="name a function", backend=backend)
    made: Callable[[], Any] = factory
    return made


class LangChainLLM(LLM):
    """A LangChain ``BaseChatModel``, streamed; its reasoning blocks become askdb's reasoning."""

    name = "langchain"
    supports_reasoning = True

    def __init__(self, chat_model: Any, *, model: str | None = None) -> None:
        super().__init__(model or _model_name(chat_model))
        self.chat_model = chat_model

    @classmethod
    def from_settings(cls, settings: Settings, *, model: str) -> LangChainLLM:
        """The chat model ``model`` (``package.module:factory``) makes."""
        import_sdk("langchain_core", install=INSTALL, backend="langchain")
        return cls(load_factory(model, backend="langchain")(), model=model)

    def stream(
        self, messages: Sequence[Message], *, temperature: float = 0.1, max_tokens: int | None = None
    ) -> Iterator[Chunk]:
        """Yield text and reasoning as the chat model streams them; its usage, if it reports one, last."""
        usage: Usage | None = None
        finish: str | None = None
        try:
            for piece in self.chat_model.stream(_to_langchain(messages)):
                usage = _usage(piece) or usage
                finish = _finish(piece) or finish
                content, reasoning = _text_and_reasoning(piece)
                if content or reasoning:
                    yield Chunk(content=content, reasoning=reasoning)
        except AskdbError:
            raise
        except Exception as exc:
            raise LLMError(
                f"the LangChain model {self.model} failed: {type(exc).__name__}: {exc}",
                hint="see the chat model's own error above; askdb passes it the prompt unchanged",
                backend=self.name,
            ) from exc
        yield Chunk(usage=usage, finish_reason=finish or "stop")


def _model_name(chat_model: Any) -> str:
    for field in ("model_name", "model"):
        value = getattr(chat_model, field, None)
        if isinstance(value, str) and value:
            return value
    return type(chat_model).__name__


def _to_langchain(messages: Sequence[Message]) -> list[Any]:
    kinds = _messages_module()
    classes = {
        "system": kinds["SystemMessage"],
        "user": kinds["HumanMessage"],
        "assistant": kinds["AIMessage"],
    }
    return [classes[m.role](content=m.content) for m in messages]


def _text_and_reasoning(piece: Any) -> tuple[str, str]:
    if isinstance(piece.content, str) and not piece.additional_kwargs:
        return piece.content, ""  # the common case: plain text, no provider extras to translate
    text: list[str] = []
    reasoning: list[str] = []
    for block in piece.content_blocks:
        if block.get("type") == "text":
            text.append(str(block.get("text", "")))
        elif block.get("type") == "reasoning":
            reasoning.append(str(block.get("reasoning", "")))
    return "".join(text), "".join(reasoning)


def _usage(piece: Any) -> Usage | None:
    meta = getattr(piece, "usage_metadata", None)
    if not meta:
        return None
    return Usage(meta.get("input_tokens"), meta.get("output_tokens"))


def _finish(piece: Any) -> str | None:
    meta = getattr(piece, "response_metadata", None) or {}
    reason = meta.get("finish_reason") or meta.get("stop_reason")
    if reason in ("max_tokens", "length"):
        return "length"
    return "stop" if reason else None
