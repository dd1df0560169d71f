"""The questions the chat offers and the README's first `askdb ask` lines are shipped verified examples:
with no model at all they are answered from the example's SQL, as the README promises."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from askdb.assistant import Assistant
from askdb.llm.ollama_backend import OllamaLLM
from askdb.schemas.knowledge import packaged_examples
from askdb.ui.app import EXAMPLES

README = Path(__file__).resolve().parents[1] / "README.md"
# "..." stands for any question; 前100条笔记 shows --limit, which a model answers
NOT_EXAMPLES = {"...", "前100条笔记"}


def readme_asks() -> list[str]:
    """The questions of the README's "Asking questions" block, in order."""
    block = README.read_text(encoding="utf-8").split("## Asking questions", 1)[1].split("```", 2)[1]
    return [q for q in re.findall(r'askdb ask "([^"]+)"', block) if q not in NOT_EXAMPLES]


def test_the_readme_block_is_found_and_has_questions():
    assert len(readme_asks()) >= 3


@pytest.mark.parametrize("question", sorted({*EXAMPLES, *readme_asks()}))
def test_each_offered_question_is_answered_from_a_verified_example_with_the_model_down(
    question, demo_retrieval_parts
):
    shipped = {e.question for e in packaged_examples()}
    assert question in shipped, f"{question!r} is offered but is not in askdb/schemas/ads/examples.jsonl"
    dead = OllamaLLM(
        "qwen2.5-coder", host="http://127.0.0.1:9", timeout_s=2, num_ctx=4096
    )  # nothing listens there
    answer = Assistant(llm=dead, **demo_retrieval_parts).ask(question)
    assert answer.from_example and answer.sql and answer.frame is not None and len(answer.frame) > 0
