"""Fit a prompt to a model's context window by trimming the least needed context first.

The rules and the question always stay, and so do the sections marked ``needed`` (the best-ranked
table and the join-path tables). What may go goes in this order, lowest-ranked first within each
kind (by ``rank`` where a section has one): column values, verified examples, notes, the tables' date
ranges, then whole tables. Whatever was trimmed is named, so the trace shows it; a prompt that does
not fit even at its minimum is an error with numbers. Today's date is part of the question's block
and is never trimmed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from askdb.errors import PromptTooLong
from askdb.llm.base import Message

# A table's date range ("date") goes before any table does: it is small and says less than the table
# it belongs to, and a range left behind by its table would describe nothing the model can query.
TRIM_ORDER = ("value", "example", "note", "date", "table")


class Section(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def needed(self) -> bool: ...


@dataclass(frozen=True)
class Fitted:
    """The messages to send, their size, and what was left out to make them fit."""

    messages: list[Message]
    tokens: int
    counted_by: str  # "model": the model's tokenizer; "estimate": askdb.llm.budget's estimate
    limit: int
    kept: tuple[Any, ...] = ()
    trimmed: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.tokens,
            "counted_by": self.counted_by,
            "prompt_limit": self.limit,
            "trimmed": self.trimmed,
        }


def fit_prompt(
    sections: Sequence[Section],
    build: Callable[[Sequence[Section]], list[Message]],
    count: Callable[[list[Message]], tuple[int, str]],
    limit: int,
    *,
    settings_hint: str = "",
) -> Fitted:
    """The prompt ``build`` makes from as many of ``sections`` as fit in ``limit`` tokens.

    Args:
        sections: the context pieces in prompt order.
        build: the chat for a subset of the sections (kept in their order).
        count: (tokens, how counted) of a chat.
        limit: the most tokens the prompt may take (the window less the reply's budget).
        settings_hint: what to change when even the minimum is too long.

    Raises:
        PromptTooLong: the rules, the question and the needed sections alone exceed ``limit``.
    """
    kept = list(sections)
    messages = build(kept)
    tokens, counted_by = count(messages)
    trimmed: list[dict[str, str]] = []
    # the least important first: highest rank, then (equal or no ranks) the one shown last
    order = {id(s): (getattr(s, "rank", 0), i) for i, s in enumerate(sections)}
    droppable = [
        s
        for kind in TRIM_ORDER
        for s in sorted(
            (s for s in sections if s.kind == kind and not s.needed), key=lambda s: order[id(s)], reverse=True
        )
    ]
    for section in droppable:
        if tokens <= limit:
            break
        kept.remove(section)
        trimmed.append({"kind": section.kind, "name": section.name})
        messages = build(kept)
        tokens, counted_by = count(messages)
    if tokens > limit:
        raise PromptTooLong(
            f"the prompt needs {tokens} tokens ({counted_by}) with only the rules, the question and "
            f"{len(kept)} needed context section(s), but {limit} fit",
            hint=settings_hint or "raise ASKDB_LLM_NUM_CTX or lower ASKDB_LLM_MAX_TOKENS",
            prompt_tokens=tokens,
            prompt_limit=limit,
        )
    return Fitted(messages, tokens, counted_by, limit, tuple(kept), trimmed)
