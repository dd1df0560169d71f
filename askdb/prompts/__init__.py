"""Prompt templates as data files, rendered with Jinja's StrictUndefined.

Each template has a ``system`` block (instructions) and a ``user`` block (this turn's material).
DeepSeek-R1 models follow instructions better without a system message, so ``messages`` can
fold the instructions into the user turn.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import jinja2

from askdb.llm.base import Message


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(_load_template),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,  # prompts are plain text, not HTML
    )


def _load_template(name: str) -> str:
    return resources.files("askdb.prompts").joinpath(f"{name}.md.jinja").read_text(encoding="utf-8")


def render_block(template: str, block: str, **variables: Any) -> str:
    """Render one block (``system`` or ``user``) of a template; a missing variable is an error."""
    tmpl = _environment().get_template(template)
    if block not in tmpl.blocks:
        return ""
    context = tmpl.new_context(variables)
    return "".join(tmpl.blocks[block](context)).strip()


def messages(template: str, *, system_in_user: bool = False, **variables: Any) -> list[Message]:
    """The chat messages for one template: a system turn and a user turn, or one user turn for R1."""
    system = render_block(template, "system", **variables)
    user = render_block(template, "user", **variables)
    if not system:
        return [Message("user", user)]
    if system_in_user:
        return [Message("user", f"{system}\n\n{user}")]
    return [Message("system", system), Message("user", user)]
