"""vLLM in this process (``vllm.LLM``): for batch evaluation on a GPU machine without a server.

vLLM's offline ``LLM.chat`` returns whole replies, so ``stream`` yields the reply as one content
chunk and one usage chunk. ``<think>`` text stays in the content, as the model wrote it;
``askdb.llm.extract`` separates it, the same as for every other backend.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from askdb.errors import LLMError
from askdb.llm._common import as_dicts, check_installed, import_sdk
from askdb.llm.base import LLM, Chunk, Message, Usage

if TYPE_CHECKING:
    from askdb.settings import Settings

INSTALL = "'askdb[vllm]'"


class VLLMInProcess(LLM):
    """A Hugging Face model (name or folder) loaded by vLLM on first use, not at construction."""

    name = "vllm"

    def __init__(self, model: str, *, max_model_len: int) -> None:
        super().__init__(model)
        self.max_model_len = max_model_len
        self._engine: Any = None

    @classmethod
    def from_settings(cls, settings: Settings, *, model: str) -> VLLMInProcess:
        check_installed("vllm", install=INSTALL, backend="vllm")
        return cls(model, max_model_len=settings.llm_num_ctx)

    def _load(self) -> Any:
        if self._engine is None:
            vllm = import_sdk("vllm", install=INSTALL, backend="vllm")
            self._engine = vllm.LLM(model=self.model, max_model_len=self.max_model_len)
        return self._engine

    def context_window(self) -> int:
        return self.max_model_len

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """The prompt's tokens with the model's own chat template and tokenizer, as ``chat`` builds it."""
        tokenizer = self._load().get_tokenizer()
        text = tokenizer.apply_chat_template(as_dicts(messages), tokenize=False, add_generation_prompt=True)
        return len(tokenizer.encode(text, add_special_tokens=False))

    def stream(
        self, messages: Sequence[Message], *, temperature: float = 0.1, max_tokens: int | None = None
    ) -> Iterator[Chunk]:
        """Generate with the tokenizer's chat template; yield the whole reply, then its token counts."""
        vllm = import_sdk("vllm", install=INSTALL, backend="vllm")
        params = vllm.SamplingParams(temperature=temperature, max_tokens=max_tokens)
        outputs = self._load().chat(as_dicts(messages), params, use_tqdm=False)
        if not outputs or not outputs[0].outputs:
            raise LLMError(f"vLLM returned no output for model {self.model!r}")
        request, completion = outputs[0], outputs[0].outputs[0]
        yield Chunk(content=completion.text)
        yield Chunk(
            usage=Usage(len(request.prompt_token_ids or ()), len(completion.token_ids or ())),
            finish_reason=getattr(completion, "finish_reason", None),
        )
