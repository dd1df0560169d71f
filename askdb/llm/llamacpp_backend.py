"""A GGUF file run in this process by llama.cpp (``llama_cpp.Llama``), streamed.

``ASKDB_LLM_MODEL`` is the path of the ``.gguf`` file. The chat template is the GGUF's own
(``tokenizer.chat_template``); a GGUF without one (a base model) gets the template askdb ships
for its architecture (``gemma`` for Gemma, else ``chatml``), and ``ASKDB_LLM_CHAT_TEMPLATE``
names another (``gemma``, ``chatml``, or the path of a Jinja file). The backend counts a prompt
in the model's own tokens with that template, so askdb can fit it to ``n_ctx`` before sending.
``<think>`` text stays in the content; ``askdb.llm.extract`` separates it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from askdb.errors import ConfigError, LLMError
from askdb.llm._common import as_dicts, check_installed, import_sdk
from askdb.llm.base import LLM, Chunk, Message, Usage

if TYPE_CHECKING:
    from askdb.settings import Settings

INSTALL = "'askdb[llamacpp]'"
SHIPPED_TEMPLATES = ("gemma", "chatml")
# Turn ends that a template writes but a GGUF's end-of-sequence token is not (Gemma's is <eos>).
_TURN_ENDS = {"gemma": ["<end_of_turn>"], "chatml": ["<|im_end|>"]}


def shipped_template(name: str) -> str:
    """The text of a chat template askdb ships (``gemma``, ``chatml``)."""
    return resources.files("askdb.llm").joinpath("data", "templates", f"{name}.jinja").read_text("utf-8")


@dataclass(frozen=True)
class ChatTemplate:
    """The Jinja chat template a model is prompted with, and where it came from."""

    text: str
    source: str  # "gguf", "askdb:gemma", or a file path
    stop: tuple[str, ...] = ()


def choose_template(setting: str, metadata: dict[str, str]) -> ChatTemplate:
    """The template for a GGUF with ``metadata`` under ``ASKDB_LLM_CHAT_TEMPLATE=setting``.

    Raises:
        ConfigError: the setting names neither a shipped template nor a readable file.
    """
    if setting == "auto":
        if own := metadata.get("tokenizer.chat_template"):
            return ChatTemplate(own, "gguf")
        setting = "gemma" if metadata.get("general.architecture", "").startswith("gemma") else "chatml"
    if setting in SHIPPED_TEMPLATES:
        return ChatTemplate(shipped_template(setting), f"askdb:{setting}", tuple(_TURN_ENDS[setting]))
    path = Path(setting).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"ASKDB_LLM_CHAT_TEMPLATE={setting!r} is neither a template askdb ships nor a file",
            hint=f"use auto, {', '.join(SHIPPED_TEMPLATES)}, or the path of a Jinja chat template",
        )
    return ChatTemplate(path.read_text("utf-8"), str(path))


class LlamaCppLLM(LLM):
    """A local GGUF model, loaded on first use with a context window of ``n_ctx`` tokens."""

    name = "llamacpp"

    def __init__(self, model: str, *, n_ctx: int, chat_template: str = "auto") -> None:
        super().__init__(model)
        self.n_ctx = n_ctx
        self.chat_template = chat_template
        self.template: ChatTemplate | None = None  # known once the model is loaded
        self._llama: Any = None
        self._formatter: Any = None

    @classmethod
    def from_settings(cls, settings: Settings, *, model: str) -> LlamaCppLLM:
        check_installed("llama_cpp", install=INSTALL, backend="llamacpp")
        if not Path(model).expanduser().is_file():
            raise ConfigError(
                f"the llamacpp backend needs a .gguf file; {model!r} is not one",
                hint="set ASKDB_LLM_MODEL to the path of a GGUF file (e.g. one `askdb finetune export` wrote)",
            )
        return cls(
            str(Path(model).expanduser()),
            n_ctx=settings.llm_num_ctx,
            chat_template=settings.llm_chat_template,
        )

    def _load(self) -> Any:
        if self._llama is None:
            llama_cpp = import_sdk("llama_cpp", install=INSTALL, backend="llamacpp")
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            try:
                llama = llama_cpp.Llama(model_path=self.model, n_ctx=self.n_ctx, verbose=False)
            except ValueError as exc:  # not a GGUF llama.cpp can read
                raise ConfigError(
                    f"llama.cpp cannot load {self.model}: {exc}",
                    hint="point ASKDB_LLM_MODEL at a GGUF file this llama.cpp supports",
                ) from exc
            self.template = choose_template(self.chat_template, dict(llama.metadata))
            eos, bos = llama.token_eos(), llama.token_bos()
            self._formatter = Jinja2ChatFormatter(
                template=self.template.text,
                eos_token=llama.detokenize([eos], special=True).decode("utf-8", "replace")
                if eos >= 0
                else "",
                bos_token=llama.detokenize([bos], special=True).decode("utf-8", "replace")
                if bos >= 0
                else "",
                stop_token_ids=[eos] if eos >= 0 else None,
            )
            llama.chat_handler = self._formatter.to_chat_handler()
            self._llama = llama
        return self._llama

    def context_window(self) -> int:
        return self.n_ctx

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """The prompt's tokens as llama.cpp will see them: rendered with the template, then tokenized."""
        llama = self._load()
        rendered = self._formatter(messages=as_dicts(messages))
        return len(
            llama.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True)
        )

    def stream(
        self, messages: Sequence[Message], *, temperature: float = 0.1, max_tokens: int | None = None
    ) -> Iterator[Chunk]:
        """Yield content deltas as llama.cpp produces them, then the usage and why it stopped.

        llama.cpp reports no usage when streaming; the prompt is counted with the model's tokenizer
        and the reply read off the context (a delta may hold several tokens of one character).
        """
        llama = self._load()
        assert self.template is not None
        try:
            parts = llama.create_chat_completion(
                messages=as_dicts(messages),
                temperature=temperature,
                max_tokens=max_tokens,
                stop=list(self.template.stop) or None,
                stream=True,
            )
            generated: list[str] = []
            finish = None
            for part in parts:
                for choice in part.get("choices", ()):
                    if text := choice.get("delta", {}).get("content"):
                        generated.append(text)
                        yield Chunk(content=text)
                    finish = choice.get("finish_reason") or finish
        except ValueError as exc:  # llama.cpp reports a prompt longer than n_ctx this way
            raise LLMError(
                f"llama.cpp refused the prompt: {exc}", hint="raise ASKDB_LLM_NUM_CTX or shorten the context"
            ) from exc
        prompt = self.count_tokens(messages)
        # The context now holds the prompt and every generated token but the last sampled one (an
        # end token, or the token that reached max_tokens, which is shown but never evaluated).
        completion = max(0, llama.n_tokens - prompt + (finish == "length")) if generated else 0
        yield Chunk(usage=Usage(prompt, completion), finish_reason=finish)
