"""The whole assistant through the wire: real `ollama`/`openai` clients against fake servers on loopback,
the real retriever, guard and read-only runner over the small demo database."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from askdb.assistant import Assistant
from askdb.errors import LLMTimeout, LLMUnavailable, ModelNotFound
from askdb.llm.ollama_backend import OllamaLLM
from askdb.llm.openai_backend import OpenAICompatibleLLM
from askdb.testing import FakeOllamaServer, FakeOpenAIServer, FakeReply

ROOT = Path(__file__).resolve().parents[1]
TOP_NOTES = (
    "SELECT `desc`, account, star FROM ads_summary "
    "ORDER BY CAST(REPLACE(star, '万', '') AS DECIMAL(12, 2)) DESC LIMIT 5"
)
ANALYSIS = "- 第一条笔记的点赞数最高"


def is_analyst(messages: Sequence[dict]) -> bool:
    return any("数据分析师" in m["content"] for m in messages)


def scripted(sql_reply: str | FakeReply):
    """Answer SQL prompts with ``sql_reply`` and analyst prompts with a fixed analysis."""
    return lambda messages: ANALYSIS if is_analyst(messages) else sql_reply


@pytest.fixture(scope="module")
def parts(demo_retrieval_parts):
    return demo_retrieval_parts


def ollama(url: str, **kwargs) -> OllamaLLM:
    return OllamaLLM("fake-model", host=url, timeout_s=kwargs.pop("timeout_s", 10), num_ctx=4096, **kwargs)


def test_clean_answer_through_ollama(parts):
    with FakeOllamaServer(scripted(f"```sql\n{TOP_NOTES}\n```")) as server:
        answer = Assistant(llm=ollama(server.url), **parts).ask("点赞最多的笔记")
        chats = [r.json for r in server.requests_to("/api/chat")]
    assert answer.sql == TOP_NOTES and len(answer.frame) == 5
    # the table first, `desc` under its comment 文本
    assert answer.markdown.startswith("| 文本") and answer.markdown.endswith(ANALYSIS)
    sql_request = chats[0]
    assert sql_request["options"]["num_ctx"] == 4096 and sql_request["stream"] is True
    prompt = "\n".join(m["content"] for m in sql_request["messages"])
    assert "\n# ads_summary: " in prompt  # the retriever put the right table in context
    assert answer.trace[1].tokens.completion_tokens > 0  # Ollama's eval_count came through


def test_r1_reply_without_opening_think_tag_through_ollama(parts):
    reply = f"用户要点赞最多的笔记,star 可能是 '1.2万'。\n</think>\n\n{TOP_NOTES}"
    with FakeOllamaServer(scripted(reply)) as server:
        answer = Assistant(llm=ollama(server.url), **parts).ask("点赞最多的笔记")
    assert answer.sql == TOP_NOTES
    assert "1.2万" in answer.reasoning


def test_thinking_field_through_ollama(parts):
    with FakeOllamaServer(scripted(FakeReply(TOP_NOTES, reasoning="先找 star 字段"))) as server:
        answer = Assistant(llm=ollama(server.url, think=True), **parts).ask("点赞最多的笔记")
        assert server.requests_to("/api/chat")[0].json["think"] is True
    assert answer.reasoning == "先找 star 字段" and answer.sql == TOP_NOTES


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
def test_reasoning_fields_through_openai_compatible_server(parts, field):
    with FakeOpenAIServer(
        scripted(FakeReply(TOP_NOTES, reasoning="想一想")), reasoning_field=field
    ) as server:
        llm = OpenAICompatibleLLM("fake-model", base_url=server.url + "/v1", api_key="none", timeout_s=10)
        answer = Assistant(llm=llm, **parts).ask("点赞最多的笔记")
    assert answer.reasoning == "想一想" and answer.sql == TOP_NOTES


def test_rejected_then_repaired_through_ollama(parts):
    replies = iter(["SELECT stars FROM ads_summary", TOP_NOTES])
    with FakeOllamaServer(lambda m: ANALYSIS if is_analyst(m) else next(replies)) as server:
        answer = Assistant(llm=ollama(server.url), **parts).ask("点赞最多的笔记")
        repair_prompt = server.requests_to("/api/chat")[1].json["messages"][-1]["content"]
    assert answer.repairs == 1 and answer.sql == TOP_NOTES
    assert "did you mean" in repair_prompt and "`star`" in repair_prompt


def test_server_down_says_how_to_start_it(parts):
    with FakeOllamaServer() as server:
        url = server.url  # the port is free again once the fake has stopped
    with pytest.raises(LLMUnavailable) as info:
        Assistant(llm=ollama(url), **parts).ask("各平台的达人数量")
    assert "ollama serve" in info.value.hint


def test_missing_model_says_how_to_pull_it(parts):
    with FakeOllamaServer(models=("qwen2.5:7b",)) as server, pytest.raises(ModelNotFound) as info:
        Assistant(llm=ollama(server.url), **parts).ask("各平台的达人数量")
    assert "ollama pull fake-model" in info.value.one_line()


def test_timeout_returns_within_the_limit_plus_a_second(parts):
    with FakeOllamaServer([FakeReply(TOP_NOTES, delay=5)]) as server:
        assistant = Assistant(llm=ollama(server.url, timeout_s=1), **parts)
        started = time.perf_counter()
        with pytest.raises(LLMTimeout):
            assistant.ask("各平台的达人数量")
        elapsed = time.perf_counter() - started
    assert elapsed < 1 + 1 + 0.5  # the timeout, a second, and the retrieval before the call


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "ASKDB_HOME": str(home), "HF_HUB_OFFLINE": "1", **extra}


@pytest.fixture(scope="module")
def home_with_demo(tmp_path_factory, small_demo) -> Path:
    home = tmp_path_factory.mktemp("cli-home")
    (home / "ads.db").write_bytes(small_demo[0].read_bytes())
    return home


def test_cli_ask_json_against_the_fake_ollama(home_with_demo):
    with FakeOllamaServer(scripted(TOP_NOTES)) as server:
        result = subprocess.run(
            [sys.executable, "-m", "askdb", "ask", "点赞最多的笔记", "--json"],
            capture_output=True,
            text=True,
            env=_env(home_with_demo, ASKDB_OLLAMA_HOST=server.url, ASKDB_LLM_MODEL="fake-model"),
            timeout=300,
        )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["sql"] == TOP_NOTES and answer["columns"] == ["desc", "account", "star"]
    assert len(answer["rows"]) == 5 and answer["analysis"] == ANALYSIS


HUNDRED_NOTES = "SELECT `desc`, account FROM ads_summary ORDER BY id LIMIT 100"


def _ask_cli(home: Path, server_url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "askdb", "ask", *args],
        capture_output=True,
        text=True,
        env=_env(home, ASKDB_OLLAMA_HOST=server_url, ASKDB_LLM_MODEL="fake-model"),
        timeout=300,
    )


def test_cli_ask_limit_returns_that_many_rows_and_says_the_limit(home_with_demo):
    with FakeOllamaServer(scripted(HUNDRED_NOTES)) as server:
        result = _ask_cli(home_with_demo, server.url, "前100条笔记", "--limit", "20", "--json")
        system = server.requests_to("/api/chat")[0].json["messages"][0]["content"]
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["sql"].endswith("LIMIT 20") and len(answer["rows"]) == 20
    assert answer["limit"] == {"requested": 100, "applied": 20, "lowered": True} and answer["truncated"]
    assert answer["notices"][0]["reason"] == "row_limit" and "只显示了前 20 行" in answer["notice"]
    assert "最多返回 20 行" in system  # the model was told the limit too


def test_cli_ask_says_when_the_default_limit_cut_the_rows(home_with_demo):
    with FakeOllamaServer(scripted(HUNDRED_NOTES)) as server:
        result = _ask_cli(home_with_demo, server.url, "前100条笔记")
    assert result.returncode == 0, result.stderr
    assert "只显示了前 10 行(SQL 要求 LIMIT 100)" in result.stdout and "--limit" in result.stdout
    assert "最多 1000 行" in result.stdout and "结果过多" not in result.stdout  # said once, in full


def test_cli_ask_limit_past_max_rows_is_one_clear_line(home_with_demo):
    with FakeOllamaServer(scripted(HUNDRED_NOTES)) as server:
        result = _ask_cli(home_with_demo, server.url, "前100条笔记", "--limit", "5000")
        assert server.requests_to("/api/chat") == []
    assert result.returncode != 0 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert (
        last.startswith("error: ") and "1 to 1000 (ASKDB_MAX_ROWS)" in last and "raise ASKDB_MAX_ROWS" in last
    )


def test_cli_ask_with_no_model_running_is_one_clear_line(home_with_demo):
    with FakeOllamaServer() as server:
        url = server.url
    result = subprocess.run(
        [sys.executable, "-m", "askdb", "ask", "各平台的达人数量"],
        capture_output=True,
        text=True,
        env=_env(home_with_demo, ASKDB_OLLAMA_HOST=url),
        timeout=300,
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ") and "ollama serve" in result.stderr


def test_readme_library_example_runs(home_with_demo, monkeypatch):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = re.search(r"## Python library\n.*?```python\n(.*?)```", readme, re.S).group(1)
    with FakeOllamaServer(scripted(TOP_NOTES)) as server:
        monkeypatch.setenv("ASKDB_HOME", str(home_with_demo))
        monkeypatch.setenv("ASKDB_OLLAMA_HOST", server.url)
        monkeypatch.setenv("ASKDB_LLM_MODEL", "fake-model")
        namespace: dict = {}
        exec(compile(code, "README.md", "exec"), namespace)
    answer = namespace["answer"]
    assert answer.sql is not None and answer.frame is not None and not answer.frame.empty


# -- an R1 model's <think> text in the analysis (ASKDB_LLM_THINK unset: Ollama puts it inline) --------
ANALYST_THINKING = "先看哪条笔记点赞最多,再比较"


def r1_scripted(messages):
    if is_analyst(messages):
        return FakeReply(ANALYSIS, reasoning=ANALYST_THINKING)
    return FakeReply(f"```sql\n{TOP_NOTES}\n```", reasoning="找 star 字段")


@pytest.mark.parametrize("opened_by_template", [False, True])
def test_r1_analysis_thinking_streams_as_reasoning_never_as_analysis(parts, opened_by_template):
    from askdb.events import AnalysisDelta, ReasoningDelta
    from askdb.testing.scripted import ScriptedFakeLLM

    # The R1 template may write <think> itself: then the reply holds only the closing tag.
    thinking = (
        f"{ANALYST_THINKING}\n</think>\n\n"
        if opened_by_template
        else f"<think>\n{ANALYST_THINKING}\n</think>\n\n"
    )
    llm = ScriptedFakeLLM(
        [f"<think>找 star</think>\n```sql\n{TOP_NOTES}\n```", thinking + ANALYSIS],
        model="deepseek-r1:7b",
        piece=3,
    )
    events = list(Assistant(llm=llm, **parts).stream("点赞最多的笔记"))
    analysis = "".join(e.text for e in events if isinstance(e, AnalysisDelta))
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    assert analysis == ANALYSIS and "think" not in analysis
    assert ANALYST_THINKING in reasoning and "找 star" in reasoning and "<" not in reasoning
    answer = events[-1].answer
    assert answer.analysis == ANALYSIS and ANALYST_THINKING in answer.reasoning


def test_cli_ask_shows_r1_analysis_thinking_dimmed_not_in_the_answer(home_with_demo):
    with FakeOllamaServer(r1_scripted, models=["deepseek-r1:7b"]) as server:
        result = subprocess.run(
            [sys.executable, "-m", "askdb", "ask", "点赞最多的笔记"],
            capture_output=True,
            text=True,
            env=_env(home_with_demo, ASKDB_OLLAMA_HOST=server.url, ASKDB_LLM_MODEL="deepseek-r1:7b"),
            timeout=300,
        )
        assert "think" not in server.requests_to("/api/chat")[-1].json  # ASKDB_LLM_THINK unset
    assert result.returncode == 0, result.stderr
    assert (
        ANALYSIS in result.stdout and ANALYST_THINKING not in result.stdout and "<think>" not in result.stdout
    )
    assert ANALYST_THINKING in result.stderr  # shown as the thinking, on stderr
