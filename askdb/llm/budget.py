"""How many tokens a prompt may take: the context window less the reply's budget.

A server that receives a prompt longer than its context window does not fail: Ollama silently
drops the *start* of the prompt (where the rules are), llama.cpp refuses it, vLLM answers 400.
So askdb sizes every prompt before sending it, in the model's own tokens where the backend can
count them (``LLM.count_tokens``) and with a conservative estimate where it cannot.

Every call also carries ``max_tokens``: a model that never stops costs a bounded time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from askdb.llm.base import LLM, Message

# Role markers and separators a chat template adds per message: ChatML's "<|im_start|>user\n" and
# "<|im_end|>\n" are 5 tokens, Gemma's "<start_of_turn>user\n…<end_of_turn>\n" 5, Llama 3's 6.
MESSAGE_OVERHEAD = 8
PROMPT_OVERHEAD = 8  # BOS and the generation prompt ("<|im_start|>assistant\n")
# Model names that write a reasoning trace before the answer, which the reply budget must allow for.
_REASONING_NAME = re.compile(r"(?:^|[^a-z0-9])(r1|qwq|think|thinking|reason(?:ing|er)?)(?:[^a-z0-9]|$)", re.I)
REASONING_ALLOWANCE = 2048  # tokens of <think> text an R1 distill typically writes for one ads question

_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


def estimate_text_tokens(text: str) -> int:
    """A conservative token count without the tokenizer: 1 per CJK character, 1 per 3 other characters.

    Measured on the ads prompts (``bench/bench_llamacpp.py`` prints it), this is at or above the
    Qwen2 tokenizer's count (DeepSeek-R1-Distill-Qwen's) for every prompt; English-centric
    vocabularies (SmolLM2's) need more for Chinese, so those backends count exactly instead.
    """
    cjk = len(_CJK.findall(text))
    return cjk + -(-(len(text) - cjk) // 3)


def estimate_chat_tokens(messages: Sequence[Message]) -> int:
    """``estimate_text_tokens`` over a chat, with the template's per-message overhead."""
    return PROMPT_OVERHEAD + sum(MESSAGE_OVERHEAD + estimate_text_tokens(m.content) for m in messages)


def is_reasoning_model(model: str) -> bool:
    """Whether the model's name says it reasons before answering (deepseek-r1, qwq, *-thinking)."""
    return _REASONING_NAME.search(model.rsplit("/", 1)[-1]) is not None


@dataclass(frozen=True)
class Budget:
    """The context window split between the prompt and the reply.

    ``reply_tokens`` is the answer's allowance (``ASKDB_LLM_MAX_TOKENS``), ``reasoning_tokens``
    the extra a reasoning model needs for its trace; together they are the call's ``max_tokens``.
    """

    n_ctx: int
    reply_tokens: int
    reasoning_tokens: int = 0

    @property
    def max_tokens(self) -> int:
        return self.reply_tokens + self.reasoning_tokens

    @property
    def prompt_limit(self) -> int:
        return self.n_ctx - self.max_tokens

    def to_dict(self) -> dict[str, int]:
        return {
            "n_ctx": self.n_ctx,
            "max_tokens": self.max_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "prompt_limit": self.prompt_limit,
        }


def budget_for(
    llm: LLM, *, num_ctx: int, max_tokens: int, reasoning_tokens: int | None = None, think: bool | None = None
) -> Budget:
    """The budget of a call to ``llm``: its own context window where it knows one, else ``num_ctx``.

    ``reasoning_tokens`` None means: ``REASONING_ALLOWANCE`` for a model whose name says it reasons
    (or when ``think`` is on), else none. The reply never takes more than half the window, so a
    small ``num_ctx`` still leaves room for the rules and the question.
    """
    n_ctx = llm.context_window() or num_ctx
    if reasoning_tokens is None:
        reasoning = REASONING_ALLOWANCE if think or (think is None and is_reasoning_model(llm.model)) else 0
    else:
        reasoning = reasoning_tokens
    half = n_ctx // 2
    reply = min(max_tokens, half)
    return Budget(n_ctx, reply, max(0, min(reasoning, half - reply)))


def count_prompt(llm: LLM, messages: Sequence[Message]) -> tuple[int, str]:
    """(tokens, how they were counted): the model's tokenizer where it has one, else the estimate.

    The estimate is scaled by what the server's own counts showed so far (``calibrate``): an
    English-centric vocabulary spends two or three tokens on a Chinese character.
    """
    counted = llm.count_tokens(messages)
    if counted is not None:
        return counted, "model"
    return math.ceil(estimate_chat_tokens(messages) * llm.estimate_scale), "estimate"


def count_reply(llm: LLM, messages: Sequence[Message], reply: str) -> int:
    """The tokens of a reply that was stopped before the backend reported usage (a loop, askdb.llm.loops):
    the chat with the reply as the assistant's turn, less the chat with an empty one."""
    with_reply, _ = count_prompt(llm, [*messages, Message("assistant", reply)])
    empty, _ = count_prompt(llm, [*messages, Message("assistant", "")])
    return max(1, with_reply - empty)


def calibrate(llm: LLM, messages: Sequence[Message], reported: int | None) -> None:
    """Learn from the prompt tokens a server reported for ``messages``: later estimates scale up to match.

    The scale never goes down (a server that reuses a cached prefix reports fewer tokens), so an
    estimate stays at or above what the server counted for any prompt seen.
    """
    estimated = estimate_chat_tokens(messages)
    if reported and estimated and reported > estimated * llm.estimate_scale:
        llm.estimate_scale = reported / estimated
