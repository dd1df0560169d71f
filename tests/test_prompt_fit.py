"""A prompt that fits the model: budgets, trimming order, the error when nothing fits, reply budgets."""

from __future__ import annotations

import pytest

from askdb.assistant import Assistant
from askdb.db import make_engine
from askdb.errors import AskdbError, LLMError, NoAnswer, PromptTooLong
from askdb.llm.base import Message
from askdb.llm.budget import (
    REASONING_ALLOWANCE,
    budget_for,
    estimate_chat_tokens,
    estimate_text_tokens,
    is_reasoning_model,
)
from askdb.prompts.fit import fit_prompt
from askdb.rag.retriever import ContextSection, Retrieval, TableHit
from askdb.schemas.catalog import packaged_catalog
from askdb.sql.runner import SqlAlchemyRunner
from askdb.testing.scripted import ScriptedFakeLLM

CATALOG = packaged_catalog()
GOOD = "SELECT COUNT(*) AS n FROM ads_summary"


def section(kind: str, name: str, size: int = 40, needed: bool = False) -> ContextSection:
    return ContextSection(kind, name, f"-- {kind} {name} " + "x" * size, needed)


def chat_of(kept) -> list[Message]:
    return [Message("system", "rules"), Message("user", "\n".join(s.text for s in kept) + "\nquestion")]


def count(messages: list[Message]) -> tuple[int, str]:
    return estimate_chat_tokens(messages), "estimate"


SECTIONS = [
    section("table", "ads_summary", needed=True),
    section("table", "account"),
    section("table", "city"),
    section("value", "city.name"),
    section("value", "account.platform"),
    section("note", "metrics"),
    section("example", "多少达人"),
    section("example", "点赞最多"),
]


def test_everything_is_kept_when_it_fits():
    fitted = fit_prompt(SECTIONS, chat_of, count, limit=10_000)
    assert fitted.trimmed == [] and len(fitted.kept) == len(SECTIONS)
    assert fitted.tokens == estimate_chat_tokens(fitted.messages) <= 10_000


def test_trims_values_then_examples_then_notes_then_tables_lowest_ranked_first():
    full = count(chat_of(SECTIONS))[0]
    # room for everything but about five sections
    fitted = fit_prompt(SECTIONS, chat_of, count, limit=full - 4 * 20 - 10)
    order = [(t["kind"], t["name"]) for t in fitted.trimmed]
    expected = [
        ("value", "account.platform"),
        ("value", "city.name"),
        ("example", "点赞最多"),
        ("example", "多少达人"),
        ("note", "metrics"),
        ("table", "city"),
        ("table", "account"),
    ]
    assert order == expected[: len(order)] and len(order) >= 4
    assert fitted.tokens <= fitted.limit
    assert any(s.name == "ads_summary" for s in fitted.kept)


def test_needed_tables_are_never_trimmed_and_the_error_has_the_numbers():
    minimum = count(chat_of([SECTIONS[0]]))[0]
    with pytest.raises(PromptTooLong) as caught:
        fit_prompt(
            SECTIONS, chat_of, count, limit=minimum - 1, settings_hint="raise ASKDB_LLM_NUM_CTX (now 99)"
        )
    err = caught.value
    assert str(minimum) in err.message and str(minimum - 1) in err.message
    assert "ASKDB_LLM_NUM_CTX" in err.hint
    assert err.details["prompt_tokens"] == minimum and err.details["prompt_limit"] == minimum - 1
    # exactly the minimum fits: everything droppable went, the needed table stayed
    fitted = fit_prompt(SECTIONS, chat_of, count, limit=minimum)
    assert [s.name for s in fitted.kept] == ["ads_summary"]


def test_estimate_counts_chinese_per_character_and_other_text_per_three():
    assert estimate_text_tokens("抖音达人") == 4
    assert estimate_text_tokens("SELECT") == 2
    assert estimate_text_tokens("达人 count") == 2 + 2


class _Windowed(ScriptedFakeLLM):
    def context_window(self) -> int:
        return 2048


@pytest.mark.parametrize(
    ("model", "reasoning"),
    [
        ("deepseek-r1:7b", True),
        ("Qwen/QwQ-32B", True),
        ("askdb-ads-thinking", True),
        ("qwen2.5-coder:7b", False),
    ],
)
def test_reasoning_models_get_an_allowance(model, reasoning):
    assert is_reasoning_model(model) is reasoning
    budget = budget_for(ScriptedFakeLLM(model=model), num_ctx=16384, max_tokens=1024)
    assert budget.reasoning_tokens == (REASONING_ALLOWANCE if reasoning else 0)
    assert budget.prompt_limit == 16384 - 1024 - budget.reasoning_tokens


def test_the_reply_never_takes_more_than_half_the_window_and_the_backends_window_wins():
    budget = budget_for(_Windowed(), num_ctx=65536, max_tokens=4000, reasoning_tokens=500)
    assert budget.n_ctx == 2048 and budget.max_tokens == 1024 and budget.prompt_limit == 1024


# -- in the workflow ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runner(small_demo):
    path, _ = small_demo
    return SqlAlchemyRunner(make_engine(f"sqlite:///{path}", read_only=True), timeout_s=5)


class SectionRetriever:
    """The whole ads schema as sections, the fact table needed, plus values and an example."""

    def retrieve(self, question: str, k: int = 5, *, scope=None) -> Retrieval:
        names = sorted(CATALOG.table_names, key=lambda name: name != "ads_summary")
        sections = [ContextSection("table", n, CATALOG.ddl([n]), i == 0) for i, n in enumerate(names)]
        sections += [ContextSection("value", f"v{i}", f"-- account.platform = '抖音{i}'") for i in range(5)]
        sections.append(ContextSection("example", "达人数", f"-- 问题: 达人数\n{GOOD};"))
        return Retrieval(
            question=question,
            tables=[TableHit(s.name, 1.0) for s in sections if s.kind == "table"],
            context="\n\n".join(s.text for s in sections),
            sections=sections,
        )


def make(runner, replies, **kwargs) -> tuple[Assistant, ScriptedFakeLLM]:
    llm = kwargs.pop("llm", None) or ScriptedFakeLLM(replies)
    return Assistant(retriever=SectionRetriever(), llm=llm, runner=runner, catalog=CATALOG, **kwargs), llm


def test_a_small_window_trims_context_and_the_trace_says_what(runner):
    assistant, llm = make(runner, [f"```sql\n{GOOD}\n```", "分析"], num_ctx=1536, max_tokens=256)
    answer = assistant.ask("有多少条笔记")
    assert answer.outcome == "answered"
    step = answer.trace[1]
    assert step.name == "sql_llm"
    assert step.input["prompt_tokens"] <= step.input["prompt_limit"] == 1536 - 256
    assert step.input["counted_by"] == "estimate" and step.input["max_tokens"] == 256
    assert step.input["trimmed"], "a 1536-token window cannot hold the whole ads schema"
    assert {t["kind"] for t in step.input["trimmed"]} >= {"value", "example"}
    sent = llm.calls[0][-1].content
    assert "ads_summary" in sent and "抖音4" not in sent
    assert estimate_chat_tokens(llm.calls[0]) == step.input["prompt_tokens"]
    assert llm.max_tokens == [256, 256]  # the SQL call and the analysis, each with a reply budget


def test_a_window_too_small_for_the_minimum_is_an_error_before_any_call(runner):
    assistant, llm = make(runner, [], num_ctx=512, max_tokens=128)
    with pytest.raises(PromptTooLong) as caught:
        assistant.ask("有多少条笔记")
    assert llm.calls == []
    assert "ASKDB_LLM_NUM_CTX (now 512" in caught.value.hint
    assert [s["name"] for s in caught.value.details["trace"]] == ["retrieve"]


def test_a_reply_that_never_stops_is_cut_at_the_budget_and_repaired_with_the_statement(runner):
    # never the same sentence twice (a reply that repeats itself is stopped as a loop before its budget)
    rambling = "我想想。" + "".join(f"然后再想想第{i}点," for i in range(500))
    rambling += "\n```sql\nSELECT nope FROM ads_summary\n```"
    assistant, llm = make(runner, [rambling, f"```sql\n{GOOD}\n```", "分析"], max_tokens=5000)
    answer = assistant.ask("有多少条笔记")
    first = answer.trace[1]
    # 5000 is more than half the default 4096 window: the reply budget is capped at 2048
    assert first.input["max_tokens"] == 2048 and llm.max_tokens[0] == 2048
    assert first.output.cut and first.output.finish_reason == "length"
    assert len(first.output.reply) == 2048
    # cut before its SQL: not a decline; the repair says so and asks for a shorter answer
    assert "在给出 SQL 之前就被截断" in llm.calls[1][-1].content
    assert "写到 2048 个 token 时被截断" in llm.calls[1][-1].content
    assert answer.outcome == "answered" and answer.repairs == 1


def test_replies_cut_every_time_end_in_no_answer_that_names_the_reply_budget(runner):
    rambling = "".join(f"让我想想第{i}点," for i in range(400))
    assistant, _ = make(runner, [rambling, rambling], max_tokens=100, max_attempts=2)
    with pytest.raises(NoAnswer) as caught:
        assistant.ask("有多少条笔记")
    assert "ASKDB_LLM_MAX_TOKENS" in caught.value.hint
    replies = [s for s in caught.value.details["trace"] if s["name"].endswith("_llm")]
    assert [s["output"]["cut"] for s in replies] == [True, True]


def test_a_repair_carries_the_rejected_statement_not_the_whole_reply(runner):
    rambling = "".join(f"让我仔细想一想这个问题的第{i}个方面。" for i in range(40))
    rambling += "\n```sql\nSELECT nope FROM ads_summary\n```\n以上就是答案。"
    assistant, llm = make(runner, [rambling, f"```sql\n{GOOD}\n```", "分析"])
    answer = assistant.ask("有多少条笔记")
    assert answer.outcome == "answered" and answer.repairs == 1
    repair = llm.calls[1]
    assert repair[: len(llm.calls[0])] == llm.calls[0]  # same conversation, the cached prefix holds
    said = [m for m in repair[len(llm.calls[0]) :] if m.role == "assistant"]
    assert [m.content for m in said] == ["```sql\nSELECT nope FROM ads_summary\n```"]
    assert "nope" in repair[-1].content
    assert answer.trace[[s.name for s in answer.trace].index("repair_llm")].input["prompt_tokens"] > 0


def test_a_model_that_fails_mid_answer_leaves_its_step_in_the_trace(runner):
    def broken(messages):
        raise LLMError("the server went away", hint="start it again")

    assistant, _ = make(runner, [broken])
    with pytest.raises(AskdbError) as caught:
        assistant.ask("有多少条笔记")
    trace = caught.value.details["trace"]
    assert [s["name"] for s in trace] == ["retrieve", "sql_llm"]
    assert trace[1]["error"] == "the server went away"
    assert trace[1]["input"]["prompt_tokens"] > 0


def test_tables_shown_in_catalog_order_are_trimmed_by_their_rank():
    # shown a, b, c (the catalog's order); ranked c (needed), a, b: b is the least important
    shown = [
        ContextSection("table", "a", "-- a " + "x" * 40, rank=1),
        ContextSection("table", "b", "-- b " + "x" * 40, rank=2),
        ContextSection("table", "c", "-- c " + "x" * 40, needed=True, rank=0),
    ]
    full = count(chat_of(shown))[0]
    fitted = fit_prompt(shown, chat_of, count, limit=full - 5)
    assert fitted.trimmed == [{"kind": "table", "name": "b"}]
    assert [s.name for s in fitted.kept] == ["a", "c"]
