"""A GGUF file run in this process by llama.cpp (``llama_cpp.Llama``), streamed.

``ASKDB_LLM_MODEL`` is the path of the ``.gguf`` file. The chat template comes from the GGUF's
metadata. ``<think>`` text stays in the content; ``askdb.llm.extract`` separates it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from askdb.errors import ConfigError, LLMError
from askdb.llm._common import as_dicts, check_installed, import_sdk
from askdb.llm.base import LLM, Chunk, Message

if TYPE_CHECKING:
    from askdb.settings import Settings

INSTALL = "'askdb[llamacpp]'"


class LlamaCppLLM(LLM):
    """A local GGUF model, loaded on first use with a context window of ``n_ctx`` tokens."""

    name = "llamacpp"

    def __init__(self, model: str, *, n_ctx: int) -> None:
        super().__init__(model)
        self.n_ctx = n_ctx
        self._llama: Any = None

    @classmethod
    def from_settings(cls, settings: Settings, *, model: str) -> LlamaCppLLM:
        check_installed("llama_cpp", install=INSTALL, backend="llamacpp")
        if not Path(model).expanduser().is_file():
            raise ConfigError(
                f"the llamacpp backend needs a .gguf file; {model!r} is not one",
                hint="set ASKDB_LLM_MODEL to the path of a GGUF file (e.g. one `askdb finetune export` wrote)",
            )
        return cls(str(Path(model).expanduser()), n_ctx=settings.llm_num_ctx)

    def _load(self) -> Any:
        if self._llama is None:
            llama_cpp = import_sdk("llama_cpp", install=INSTALL, backend="llamacpp")
            self._llama = llama_cpp.Llama(model_path=self.model, n_ctx=self.n_ctx, verbose=False)
        return self._llama

    def stream(
        self, messages: Sequence[Message], *, temperature: float = 0.1, max_tokens: int | None = None
    ) -> Iterator[Chunk]:
        """Yield content deltas as llama.cpp produces them (it reports no usage when streaming)."""
        llama = self._load()
        try:
            parts = llama.create_chat_completion(
                messages=as_dicts(messages), temperature=temperature, max_tokens=max_tokens, stream=True
            )
            for part in parts:
                for choice in part.get("choices", ()):
                    if text := choice.get("delta", {}).get("content"):
                        yield Chunk(content=text)
        except ValueError as exc:  # llama.cpp reports a prompt longer than n_ctx this way
            raise LLMError(
                f"llama.cpp refused the prompt: {exc}", hint="raise ASKDB_LLM_NUM_CTX or shorten the context"
            ) from exc
