"""The forecaster as a tool of the assistant: a question about the future gets the history series as
SQL, then the forecast with its band and backtest, in the answer, the events, the API and the chat."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from askdb.assistant import Assistant
from askdb.cli_render import render_stream
from askdb.db import make_engine
from askdb.events import ForecastReady, NoticeReason, StepName
from askdb.forecast.intent import forecast_intent
from askdb.runtime.service import AssistantService
from askdb.schemas.catalog import packaged_catalog
from askdb.serving.api import create_app
from askdb.sql.runner import SqlAlchemyRunner
from askdb.testing.scripted import ScriptedFakeLLM
from askdb.ui.app import forecast_frame
from tests.test_assistant import FakeRetriever

CATALOG = packaged_catalog()
HOURLY = (
    "SELECT LEFT(time_slot, 13) AS hour, SUM(cost) AS cost FROM ads_material_hourly "
    "GROUP BY LEFT(time_slot, 13) ORDER BY hour DESC"
)
ANALYSIS = "- 未来12小时花费先降后升"


@pytest.mark.parametrize(
    ("question", "days"),
    [
        ("预测下周每天的总花费", 7),
        ("未来7天的订单金额", 7),
        ("接下来48小时的曝光", 2),
        ("未来十二小时的花费", 0.5),
        ("下个月的成交额会是多少?", 30),
        ("明天的点击量", 1),
        ("预测每天的订单数", None),
    ],
)
def test_a_question_about_the_future_says_how_far_ahead(question, days):
    intent = forecast_intent(question)
    assert intent is not None and intent.days == days


@pytest.mark.parametrize(
    "question", ["每天的总花费是多少?", "上周的花费", "各平台的达人数量", "最近7天的订单"]
)
def test_a_question_about_what_happened_is_no_forecast(question):
    assert forecast_intent(question) is None


def test_the_horizon_is_counted_in_the_series_periods():
    week = forecast_intent("下周的花费")
    assert week.horizon("D", 7) == 7 and week.horizon("H", 24) == 168 and week.horizon("W", 13) == 1
    assert forecast_intent("预测花费").horizon("H", 24) == 24  # nothing said: the frequency's default


@pytest.fixture(scope="module")
def runner(small_demo):
    path, _ = small_demo
    return SqlAlchemyRunner(make_engine(f"sqlite:///{path}", read_only=True), timeout_s=20)


def assistant(runner, sql: str) -> tuple[Assistant, ScriptedFakeLLM]:
    llm = ScriptedFakeLLM([f"```sql\n{sql}\n```", ANALYSIS])
    return Assistant(retriever=FakeRetriever(), llm=llm, runner=runner, catalog=CATALOG, max_rows=500), llm


def test_a_forecast_question_gets_the_series_then_the_forecast_with_band_and_backtest(runner):
    bot, llm = assistant(runner, HOURLY)
    events = list(bot.stream("预测未来12小时的花费"))
    answer = events[-1].answer
    assert answer.outcome == "answered" and len(answer.frame) > 24
    sql_prompt = llm.calls[0][-1].content
    assert (
        "## 预测" in sql_prompt and "LIMIT 500" in sql_prompt
    )  # the whole history, not ASKDB_ROW_LIMIT rows
    points = answer.forecast["forecast"]
    assert len(points) == 12 and all(p["lower"] <= p["value"] <= p["upper"] for p in points)
    assert points[0]["time"] > max(str(v) for v in answer.frame["hour"])  # after the last hour of history
    assert answer.forecast["chosen"] in {"lightgbm", *answer.forecast["baselines"]}
    assert {"seasonal_naive", "naive", "moving_average"} <= set(answer.forecast["baselines"])
    assert len(answer.forecast["history"]) == len(answer.frame)
    [ready] = [e for e in events if isinstance(e, ForecastReady)]
    assert ready.forecast == answer.forecast and "**预测**" in ready.markdown and "**回测**" in ready.markdown
    assert "选择依据:" in ready.markdown and "MASE" in ready.markdown
    step = next(s for s in answer.trace if s.name == StepName.FORECAST)
    assert step.output.horizon == 12 and step.output.freq == "H" and step.error is None
    assert [s.name for s in answer.trace][-2:] == [StepName.FORECAST, StepName.ANALYST]
    analyst_prompt = llm.calls[1][-1].content
    assert "**预测**" in analyst_prompt and points[0]["time"] in analyst_prompt  # the analyst reads it too
    assert answer.markdown.index("**预测**") < answer.markdown.index(ANALYSIS)
    assert json.loads(json.dumps(answer.to_dict()))["forecast"]["forecast"][0]["time"] == points[0]["time"]


def test_a_question_about_the_past_has_no_forecast_section(runner):
    bot, llm = assistant(runner, HOURLY)
    answer = bot.ask("每小时的花费是多少?")
    assert answer.forecast is None and "## 预测" not in llm.calls[0][-1].content
    assert StepName.FORECAST not in [s.name for s in answer.trace]


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("SELECT platform, COUNT(*) AS n FROM ads_account GROUP BY platform", "no column of dates"),
        (
            "SELECT LEFT(time_slot, 10) AS day, SUM(cost) AS cost FROM ads_material_hourly "
            "GROUP BY LEFT(time_slot, 10) ORDER BY day DESC LIMIT 3",
            "at least",
        ),
    ],
)
def test_rows_that_are_no_series_answer_with_the_table_and_say_why_there_is_no_forecast(runner, sql, says):
    bot, _ = assistant(runner, sql)
    answer = bot.ask("预测下周的花费")
    assert answer.outcome == "answered" and answer.forecast is None and len(answer.frame) > 0
    notice = next(n for n in answer.notices if n.reason is NoticeReason.NO_FORECAST)
    assert notice.text.startswith("无法预测:") and says in notice.text
    step = next(s for s in answer.trace if s.name == StepName.FORECAST)
    assert step.error and says in step.error


def test_a_horizon_longer_than_the_history_allows_is_cut_and_said(runner):
    bot, _ = assistant(runner, HOURLY)
    answer = bot.ask("预测下个月每小时的花费")  # 720 hours ahead of a few days of hours
    cut = next(n for n in answer.notices if n.reason is NoticeReason.HORIZON_CUT)
    assert "问题要的是 720 期" in cut.text and 0 < len(answer.forecast["forecast"]) < 720


def test_the_terminal_prints_the_forecast_between_the_table_and_the_analysis(runner, capsys):
    bot, _ = assistant(runner, HOURLY)
    render_stream(bot.stream("预测未来12小时的花费"))
    out = capsys.readouterr().out
    assert out.index("| hour") < out.index("**预测**") < out.index("**回测**") < out.index(ANALYSIS)


def test_the_api_carries_the_forecast_in_json_and_as_a_stream_event(runner, settings):
    bot, _ = assistant(runner, HOURLY)
    bot.llm = ScriptedFakeLLM([f"```sql\n{HOURLY}\n```", ANALYSIS] * 2)
    with TestClient(create_app(service=AssistantService(settings, assistant=bot))) as client:
        body = client.post("/v1/ask", json={"question": "预测未来12小时的花费"}).json()
        streamed = client.post("/v1/ask", json={"question": "预测未来12小时的花费", "stream": True}).text
    assert len(body["forecast"]["forecast"]) == 12 and "**预测**" in body["markdown"]
    assert "event: forecast" in streamed


def test_the_chart_has_a_line_for_history_forecast_and_the_band():
    forecast = {
        "history": [{"time": "2025-03-01 00:00", "value": 1.0}, {"time": "2025-03-01 01:00", "value": 2.0}],
        "forecast": [{"time": "2025-03-01 02:00", "value": 3.0, "lower": 2.5, "upper": 3.5}],
    }
    data = forecast_frame(forecast)
    assert data.groupby("series").size().to_dict() == {"上限": 1, "下限": 1, "历史": 2, "预测": 1}
    assert str(data["time"].dtype).startswith("datetime64") and data["value"].tolist()[-1] == 3.5


def test_the_readme_forecast_example_runs(capsys):
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    code = re.search(r"## Forecasting\n.*?```python\n(.*?)```", readme, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    first = namespace["result"].to_dict()["forecast"][0]
    assert first["time"] == "2025-05-01" and first["lower"] <= first["value"] <= first["upper"]
    assert namespace["result"].chosen in capsys.readouterr().out


def test_askdb_prompt_shows_the_forecast_limit_the_assistant_sends(runner):
    """`askdb prompt` (Assistant.fit) and the question itself ask for the same number of rows."""
    bot, llm = assistant(runner, HOURLY)
    bot.ask("预测未来12小时的花费")
    fitted = bot.fit("预测未来12小时的花费", FakeRetriever().retrieve("预测未来12小时的花费"))
    assert "LIMIT 500" in fitted.messages[-1].content and fitted.messages == llm.calls[0]
    plain = bot.fit("每小时的花费", FakeRetriever().retrieve("每小时的花费")).messages
    assert "最多返回 10 行" in plain[0].content and "最多返回 500 行" in fitted.messages[0].content
