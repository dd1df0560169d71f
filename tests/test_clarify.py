"""Asking back: a period the data does not cover, or a term two tables answer, gets one short question
with the options (each the question to ask next) instead of a guess; at most one per turn."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date

import pytest
from fastapi.testclient import TestClient

from askdb.assistant import Assistant
from askdb.clarify import clarification
from askdb.cli_render import render_stream
from askdb.db import make_engine
from askdb.events import Clarify, StepName
from askdb.rag.dates import DateRange
from askdb.rag.retriever import Retrieval, TableHit
from askdb.runtime.service import AssistantService
from askdb.schemas.catalog import packaged_catalog
from askdb.serving.api import create_app
from askdb.sql.runner import SqlAlchemyRunner
from askdb.testing.scripted import ScriptedFakeLLM

CATALOG = packaged_catalog()
TODAY = date(2026, 12, 4)
HOURLY_RANGE = DateRange("ads_material_hourly", "time_slot", "2025-01-01", "2025-06-30")
SQL = (
    "SELECT LEFT(time_slot, 10) AS day, SUM(cost) AS cost FROM ads_material_hourly GROUP BY day ORDER BY day"
)


def retrieval(question: str, tables: list[TableHit], ranges: list[DateRange] = ()) -> Retrieval:
    return Retrieval(question=question, tables=tables, ranges=list(ranges), context=CATALOG.ddl())


@dataclass
class RangesRetriever:
    """The whole schema with the hourly table first and its data's days, like the real index gives."""

    queries: list[str] = field(default_factory=list)

    def retrieve(self, question: str, k: int = 5, *, scope=None) -> Retrieval:
        self.queries.append(question)
        hits = [TableHit("ads_material_hourly", 1.0), TableHit("ads_material", 0.5)]
        return retrieval(question, hits, [HOURLY_RANGE])


def test_a_period_outside_the_data_asks_which_period_with_three_readings():
    hits = [TableHit("ads_material_hourly", 1.0)]
    ask = clarification(
        "上个月每天的花费", retrieval("上个月每天的花费", hits, [HOURLY_RANGE]), CATALOG, TODAY
    )
    assert ask is not None and ask.reason == "period_outside_data"
    assert "2026-11-01 至 2026-11-30" in ask.question and "2025-01-01 至 2025-06-30" in ask.question
    latest, everything, as_asked = ask.options
    assert latest.question == "2025-06-01至2025-06-30每天的花费"  # the data's last month, as long as asked
    assert everything.question == "每天的花费" and as_asked.question == "上个月每天的花费"
    assert "仍按上个月" in as_asked.label and json.loads(json.dumps(ask.to_dict()))["options"][0]["label"]


@pytest.mark.parametrize(
    ("question", "ranges", "today"),
    [
        (
            "最近7天每天的花费",
            [DateRange("ads_material_hourly", "time_slot", "2026-11-01", "2026-12-04")],
            TODAY,
        ),
        ("每天的花费", [HOURLY_RANGE], TODAY),  # no period named
        ("上个月每天的花费", [], TODAY),  # no range known: nothing to compare
        ("上个月每天的花费", [HOURLY_RANGE], None),  # no clock: no 上个月
        ("上个月每天的花费", [DateRange("ads_order", "order_time", "2025-01-01", "2025-06-30")], TODAY),
    ],
)
def test_a_question_with_one_reading_is_not_asked_back(question, ranges, today):
    hits = [TableHit("ads_material_hourly", 1.0)]
    assert clarification(question, retrieval(question, hits, ranges), CATALOG, today) is None


def test_a_term_two_close_tables_answer_asks_which_table():
    question = "每个素材ID的记录数"
    close = [TableHit("ads_material", 1.0), TableHit("ads_material_hourly", 0.97)]
    ask = clarification(question, retrieval(question, close), CATALOG, TODAY)
    assert ask is not None and ask.reason == "two_tables" and "素材ID" in ask.question
    assert [o.question for o in ask.options] == [
        f"{question}(用 ads_material.material_id)",
        f"{question}(用 ads_material_hourly.material_id)",
    ]
    apart = [TableHit("ads_material", 1.0), TableHit("ads_material_hourly", 0.6)]
    assert clarification(question, retrieval(question, apart), CATALOG, TODAY) is None  # one clear reading


@pytest.fixture(scope="module")
def runner(small_demo):
    path, _ = small_demo
    return SqlAlchemyRunner(make_engine(f"sqlite:///{path}", read_only=True), timeout_s=10)


def make(runner, **kwargs) -> tuple[Assistant, ScriptedFakeLLM]:
    llm = ScriptedFakeLLM([f"```sql\n{SQL}\n```", "- 分析"] * 2)
    bot = Assistant(
        retriever=RangesRetriever(), llm=llm, runner=runner, catalog=CATALOG, today=lambda: TODAY, **kwargs
    )
    return bot, llm


def test_the_assistant_asks_back_before_any_model_call(runner):
    bot, llm = make(runner)
    events = list(bot.stream("上个月每天的花费"))
    [ask] = [e for e in events if isinstance(e, Clarify)]
    answer = events[-1].answer
    assert (
        answer.outcome == "clarify" and answer.clarify["options"][0]["question"] == ask.options[0]["question"]
    )
    assert llm.calls == [] and answer.sql is None  # no model, no SQL: a question back
    assert [s.name for s in answer.trace] == [StepName.RETRIEVE]
    assert answer.markdown.startswith("**需要确认:**") and "仍按上个月" in answer.markdown
    assert answer.to_dict()["clarify"]["reason"] == "period_outside_data"


def test_a_chosen_option_or_clarify_off_answers_as_asked(runner):
    bot, llm = make(runner)
    chosen = bot.ask("上个月每天的花费", clarify=False)  # the "as asked" option: no second question back
    assert chosen.outcome in ("answered", "empty") and len(llm.calls) >= 1
    scripted, _ = make(runner, clarify=False)
    assert scripted.ask("上个月每天的花费").outcome != "clarify"


def test_the_terminal_prints_the_options_as_commands(runner, capsys):
    bot, _ = make(runner)
    render_stream(bot.stream("上个月每天的花费"))
    out = capsys.readouterr().out
    assert "需要确认:" in out and "askdb ask '2025-06-01至2025-06-30每天的花费' --no-clarify" in out


def test_the_api_gives_clarify_as_json_and_as_an_event_and_clarify_false_answers(runner, settings):
    bot, _ = make(runner)
    with TestClient(create_app(service=AssistantService(settings, assistant=bot))) as client:
        body = client.post("/v1/ask", json={"question": "上个月每天的花费"}).json()
        streamed = client.post("/v1/ask", json={"question": "上个月每天的花费", "stream": True}).text
        direct = client.post("/v1/ask", json={"question": "上个月每天的花费", "clarify": False}).json()
        facade = client.post(
            "/v1/chat/completions",
            json={"model": "askdb", "messages": [{"role": "user", "content": "上个月每天的花费"}]},
        ).json()
    assert body["outcome"] == "clarify" and len(body["clarify"]["options"]) == 3
    assert "event: clarify" in streamed and direct["outcome"] != "clarify"
    assert facade["choices"][0]["message"]["content"].startswith("**需要确认:**")
