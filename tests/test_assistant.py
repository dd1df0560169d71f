"""The workflow with a scripted fake LLM and a real read-only runner over the small demo database."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from sqlalchemy import text

from askdb.assistant import Assistant
from askdb.db import make_engine
from askdb.errors import LLMUnavailable, NoAnswer
from askdb.rag.retriever import ExampleHit, Retrieval, TableHit
from askdb.schemas.catalog import packaged_catalog
from askdb.sql.runner import SqlAlchemyRunner
from askdb.testing.scripted import ScriptedFakeLLM, ScriptedReply

CATALOG = packaged_catalog()
TOP_LIKES = "SELECT `desc`, account, star FROM ads_summary ORDER BY id DESC LIMIT 3"


@dataclass
class FakeRetriever:
    """Returns the whole ads schema and the examples it is given; records the queries."""

    examples: list[ExampleHit] = field(default_factory=list)
    queries: list[str] = field(default_factory=list)

    def retrieve(self, question: str, k: int = 5, *, scope=None) -> Retrieval:
        self.queries.append(question)
        return Retrieval(
            question=question,
            tables=[TableHit(name, 1.0) for name in CATALOG.table_names],
            examples=list(self.examples),
            context=CATALOG.ddl(),
        )


@pytest.fixture(scope="module")
def runner(small_demo):
    path, _ = small_demo
    return SqlAlchemyRunner(make_engine(f"sqlite:///{path}", read_only=True), timeout_s=5)


def make(runner, replies, **kwargs) -> tuple[Assistant, ScriptedFakeLLM]:
    llm = ScriptedFakeLLM(replies)
    retriever = kwargs.pop("retriever", FakeRetriever())
    return Assistant(retriever=retriever, llm=llm, runner=runner, catalog=CATALOG, **kwargs), llm


def step_names(answer) -> list[str]:
    return [s.name for s in answer.trace]


def test_clean_answer_has_sql_table_analysis_and_trace(runner):
    assistant, llm = make(runner, [f"```sql\n{TOP_LIKES}\n```", "- 第一条笔记点赞最多"])
    answer = assistant.ask("最近抓取的三条笔记的点赞数")
    assert answer.outcome == "answered"
    assert answer.sql == TOP_LIKES
    assert len(answer.frame) == 3 and list(answer.frame.columns) == ["desc", "account", "star"]
    # the table first (`desc` under its comment 文本), then the analysis
    assert answer.markdown.startswith("| 文本")
    assert answer.markdown.endswith("- 第一条笔记点赞最多")
    shown = answer.to_dict()  # JSON keeps the database's names, with the headers people read beside them
    assert shown["columns"] == ["desc", "account", "star"]
    assert shown["labels"] == {"desc": "文本", "account": "用户", "star": "点赞数量"}
    assert step_names(answer) == ["retrieve", "sql_llm", "extract", "guard", "run", "analyst"]
    assert all(s.elapsed_ms >= 0 for s in answer.trace)
    assert answer.trace[1].tokens.prompt_tokens > 0
    sql_prompt = llm.calls[0]
    assert sql_prompt[0].role == "system" and "<context>" in sql_prompt[1].content
    assert (
        "COMMENT '点赞数量'" in sql_prompt[1].content
        and "最近抓取的三条笔记的点赞数" in sql_prompt[1].content
    )


def test_r1_reply_without_opening_think_tag(runner):
    reply = "用户想看最近的笔记,按 id 倒序。\n</think>\n\n" + TOP_LIKES
    assistant, _ = make(runner, [reply, "分析"])
    answer = assistant.ask("最近的笔记")
    assert answer.sql == TOP_LIKES
    assert "按 id 倒序" in answer.reasoning


def test_reasoning_from_the_backend_is_kept(runner):
    assistant, _ = make(runner, [ScriptedReply(TOP_LIKES, reasoning="先看表结构"), "分析"])
    answer = assistant.ask("最近的笔记")
    assert answer.reasoning == "先看表结构"


def test_guard_rejection_is_repaired_with_the_violations(runner):
    bad = "SELECT stars FROM ads_summary"
    assistant, llm = make(runner, [bad, TOP_LIKES, "分析"])
    answer = assistant.ask("点赞数")
    assert answer.sql == TOP_LIKES and answer.repairs == 1
    repair_turn = llm.calls[1][-1].content
    assert "stars" in repair_turn and "star" in repair_turn  # the violation and its suggestion
    # the repair shows the rejected statement as the model's turn, not the whole reply it came in
    assert llm.calls[1][-2].role == "assistant" and llm.calls[1][-2].content == f"```sql\n{bad}\n```"
    assert step_names(answer).count("guard") == 2


def test_database_error_is_repaired(runner):
    # Accepted by the guard (known names, allowed function) but the engine refuses it.
    failing = "SELECT CAST(star AS UNSIGNED) / 0 FROM ads_summary WHERE JSON_EXTRACT(`desc`, '$[') IS NULL"
    assistant, llm = make(runner, [failing, TOP_LIKES, "分析"])
    answer = assistant.ask("点赞数")
    if answer.repairs == 0:
        pytest.fail("the failing statement ran; pick one the engine refuses")
    assert answer.sql == TOP_LIKES
    assert "数据库返回的错误" in llm.calls[1][-1].content


def test_three_failures_end_in_a_clear_error(runner):
    assistant, llm = make(runner, ["DELETE FROM ads_summary"] * 3)
    with pytest.raises(NoAnswer) as info:
        assistant.ask("删掉所有数据")
    assert "3 attempts" in info.value.message and info.value.hint
    assert len(llm.calls) == 3


def test_empty_result_answers_without_calling_the_model(runner):
    empty = "SELECT id FROM ads_summary WHERE account = 'nobody' LIMIT 10"
    assistant, llm = make(runner, [empty])
    answer = assistant.ask("nobody 的笔记")
    assert answer.outcome == "empty"
    assert answer.markdown == "没有查询到相关数据"
    assert len(llm.calls) == 1  # the analyst was not asked


def test_decline_is_an_outcome_not_sql(runner):
    assistant, _ = make(runner, ["无法回答:表中没有天气数据。"])
    answer = assistant.ask("明天上海天气如何")
    assert answer.outcome == "declined" and answer.sql is None
    assert "天气" in answer.analysis


def test_follow_up_question_sees_the_previous_turn(runner):
    retriever = FakeRetriever()
    first = "SELECT COUNT(*) FROM ads_account WHERE platform = '小红书'"
    second = "SELECT COUNT(*) FROM ads_account WHERE platform = '抖音'"
    assistant, llm = make(runner, [first, "分析一", second, "分析二"], retriever=retriever)
    conversation = assistant.conversation()
    conversation.ask("小红书有多少达人")
    answer = conversation.ask("那抖音的呢?")
    assert answer.sql == second
    follow_up_prompt = llm.calls[2][-1].content
    assert "小红书有多少达人" in follow_up_prompt and first in follow_up_prompt
    assert retriever.queries[-1] == "小红书有多少达人 那抖音的呢?"


def test_verified_example_answers_without_the_model(runner):
    example = ExampleHit(question="最近抓取的三条笔记", sql=TOP_LIKES, score=0.9)
    llm_down = LLMUnavailable("nothing at 127.0.0.1:11434", hint="start it with `ollama serve`")
    assistant, _llm = make(runner, [llm_down], retriever=FakeRetriever(examples=[example]))
    answer = assistant.ask("最近抓取的三条笔记?")
    assert answer.from_example and answer.sql == TOP_LIKES
    assert len(answer.frame) == 3
    assert "ollama serve" in answer.notice  # the analysis could not be written, the rows are there
    assert step_names(answer)[:3] == ["retrieve", "example", "run"]


def test_model_down_without_an_example_raises_the_backend_error(runner):
    down = LLMUnavailable("nothing at 127.0.0.1:11434", hint="start it with `ollama serve`")
    assistant, _ = make(runner, [down])
    with pytest.raises(LLMUnavailable):
        assistant.ask("点赞最多的笔记")


def test_instructions_go_in_the_user_turn_for_r1(runner):
    assistant, llm = make(runner, [TOP_LIKES, "分析"], system_in_user=True)
    assistant.ask("最近的笔记")
    assert [m.role for m in llm.calls[0]] == ["user"]
    assert "核心规则" in llm.calls[0][0].content


def test_stream_events_arrive_in_order(runner):
    assistant, _ = make(runner, [ScriptedReply(TOP_LIKES, reasoning="想一想"), "一条分析"])
    kinds = [e.kind for e in assistant.stream("最近的笔记")]
    assert kinds.index("reasoning") < kinds.index("sql") < kinds.index("table") < kinds.index("analysis")
    assert kinds[-1] == "answer"


def test_async_twins(runner):
    assistant, _ = make(runner, [TOP_LIKES, "分析", TOP_LIKES, "分析"])
    answer = asyncio.run(assistant.aask("最近的笔记"))
    assert answer.sql == TOP_LIKES

    async def collect():
        return [e.kind async for e in assistant.astream("最近的笔记")]

    assert asyncio.run(collect())[-1] == "answer"


def test_chart_for_a_category_and_a_number(runner):
    sql = "SELECT platform, COUNT(*) AS n FROM ads_account GROUP BY platform ORDER BY n DESC"
    assistant, _ = make(runner, [sql, "分析"])
    answer = assistant.ask("各平台达人数")
    # ORDER BY n DESC: the bars keep the rows' order, the biggest first
    assert answer.chart == {"type": "bar", "x": "platform", "y": "n", "order": "rows"}
    assert "LIMIT 10" in answer.sql  # the guard added the seed's limit


def test_a_lowered_limit_is_said_in_the_answer_the_trace_and_a_notice(runner):
    from askdb.events import GuardOutput, Notice, NoticeReason

    sql = "SELECT `desc`, account FROM ads_summary ORDER BY id LIMIT 100"
    assistant, _ = make(runner, [sql, "分析"])
    events = list(assistant.stream("前100条笔记"))
    answer = events[-1].answer
    assert answer.sql.endswith("LIMIT 10") and len(answer.frame) == 10
    assert answer.truncated  # the guard's LIMIT held rows back, though the runner's cap did not
    data = answer.to_dict()
    assert data["limit"] == {"requested": 100, "applied": 10, "lowered": True} and data["truncated"]
    guard = next(s for s in answer.trace if s.name == "guard")
    assert isinstance(guard.output, GuardOutput) and guard.to_dict()["output"]["limit"]["requested"] == 100
    [notice] = [e for e in events if isinstance(e, Notice)]
    assert notice.reason is NoticeReason.ROW_LIMIT and answer.notice_reason is NoticeReason.ROW_LIMIT
    assert "只显示了前 10 行(SQL 要求 LIMIT 100)" in notice.text and "最多 1000 行" in notice.text
    assert data["notices"] == [{"text": notice.text, "reason": "row_limit"}]


def test_a_result_under_its_limit_is_not_truncated(runner):
    assistant, _ = make(runner, [TOP_LIKES, "分析"])
    answer = assistant.ask("最近的三条笔记")
    assert not answer.truncated and answer.notice is None
    assert answer.to_dict()["limit"] == {"requested": 3, "applied": 3, "lowered": False}


def test_row_limit_per_question_reaches_the_prompt_and_the_guard(runner):
    sql = "SELECT `desc`, account FROM ads_summary ORDER BY id LIMIT 100"
    assistant, llm = make(runner, [sql, "分析"], max_rows=50)
    answer = assistant.ask("前100条笔记", row_limit=20)
    assert "最多返回 20 行" in llm.calls[0][0].content
    assert answer.sql.endswith("LIMIT 20") and len(answer.frame) == 20 and answer.truncated
    assert "最多 50 行" in (answer.notice or "")
    assert assistant.row_limit == 10  # the next question has the default again


@pytest.mark.parametrize("wanted", [0, 51])
def test_a_row_limit_outside_one_to_max_rows_is_refused_with_the_maximum(runner, wanted):
    from askdb.errors import ConfigError

    assistant, llm = make(runner, [TOP_LIKES, "分析"], max_rows=50)
    with pytest.raises(ConfigError) as info:
        assistant.ask("最近的笔记", row_limit=wanted)
    assert "1 to 50 (ASKDB_MAX_ROWS)" in info.value.message and "ASKDB_MAX_ROWS" in info.value.one_line()
    assert llm.calls == []  # refused before anything ran


def test_runner_is_read_only_even_if_asked_nicely(small_demo):
    path, _ = small_demo
    engine = make_engine(f"sqlite:///{path}", read_only=True)
    with pytest.raises(Exception), engine.connect() as conn:
        conn.execute(text("DELETE FROM ads_summary"))


def test_any_sqlite_runner_has_the_mysql_functions(small_demo):
    # Built the way Assistant.from_settings builds it: a plain engine, no open_runner.
    path, _ = small_demo
    runner = SqlAlchemyRunner(make_engine(f"sqlite:///{path}", read_only=True))
    assistant, _ = make(runner, ["SELECT DATEDIFF(end_date, start_date) AS days FROM ads_campaign", "分析"])
    answer = assistant.ask("投放周期")
    assert answer.repairs == 0 and answer.frame["days"].min() >= 7


def test_readme_stream_example_runs_and_sees_every_kind_of_event(runner, capsys):
    """The README's `match event:` example, run as written over a scripted model."""
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    [example] = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "match event" in b]
    bad = "SELECT stars FROM ads_summary"  # refused by the guard: the repair path runs too
    assistant, _ = make(runner, [bad, f"```sql\n{TOP_LIKES}\n```", "一条分析"])
    exec(compile(example, "README.md", "exec"), {"assistant": assistant})
    printed = capsys.readouterr().out
    assert "refused, the model repairs it: " in printed and "did you mean" in printed
    assert TOP_LIKES in printed and "| 文本" in printed and "一条分析" in printed
    assert re.search(r"^guard: \d+ ms$", printed, re.M) and "analyst:" in printed


def test_events_are_typed_and_keep_their_wire_kinds(runner):
    from askdb.events import Finished, NoticeReason, SqlReady, StepFinished, StepName, TableReady

    down = LLMUnavailable("nothing at 127.0.0.1:11434", hint="start it with `ollama serve`")
    assistant, _ = make(runner, [TOP_LIKES, down])
    events = list(assistant.stream("最近的笔记"))
    assert {type(e).kind for e in events} >= {"step", "content", "sql", "table", "notice", "answer"}
    sql = next(e for e in events if isinstance(e, SqlReady))
    assert sql.payload() == {"sql": sql.sql, "from_example": False}
    table = next(e for e in events if isinstance(e, TableReady))
    assert table.columns == ["desc", "account", "star"] and len(table.rows) == 3
    names = [e.step.name for e in events if isinstance(e, StepFinished)]
    assert names[0] is StepName.RETRIEVE and StepName.GUARD in names and names[-1] == "analyst"
    answer = events[-1].answer if isinstance(events[-1], Finished) else None
    assert answer is not None and answer.notice_reason is NoticeReason.ANALYSIS_FAILED
    first = answer.to_dict()["trace"][0]["output"]["tables"][0]
    assert set(first) == {"name", "score", "via"} and first["name"] in CATALOG.table_names
