"""``askdb examples add|list|remove`` in an isolated home over the small demo database: the guard
refuses what it refuses for ``askdb sql check`` and nothing is stored, a question already there (in
any spelling) is refused or replaced, packaged examples stay, and an added example is retrieved
into the model's context and reused by the next ``askdb ask`` (the fake Ollama server is the model)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from askdb.cli import main
from askdb.rag.examples.book import example_id, question_key
from askdb.schemas.knowledge import packaged_examples
from askdb.settings import Settings
from askdb.testing import FakeOllamaServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")

QUESTION = "抖音和快手各有多少达人?"
SQL = "SELECT platform, COUNT(*) AS n FROM ads_account WHERE platform IN ('抖音', '快手') GROUP BY platform"
PACKAGED = packaged_examples()[0].question  # 点赞最多的10篇笔记是哪些?


@pytest.fixture
def home(settings: Settings, small_demo) -> Path:
    settings.home.mkdir(parents=True, exist_ok=True)
    settings.demo_db_path.write_bytes(small_demo[0].read_bytes())
    return settings.home


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def added(home: Path) -> list[dict]:
    listed = run("examples", "list", "--json")
    assert listed.exit_code == 0, listed.output
    return [x for x in json.loads(listed.stdout) if x["source"] == "added"]


def error_line(result: Result) -> str:
    assert "Traceback" not in result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    return line


def test_question_key_ignores_spacing_punctuation_width_and_case() -> None:
    assert question_key(" 抖音和快手 各有多少达人？") == question_key("抖音和快手各有多少达人?")
    assert question_key("各品牌的ＲＯＩ是多少") == question_key("各品牌的roi是多少?")
    assert question_key("各品牌的ROI") != question_key("各品牌的CTR")
    assert example_id("各品牌的 ROI?") == example_id("各品牌的ROI")


def test_add_list_remove(home: Path) -> None:
    result = run("examples", "add", QUESTION, SQL + ";", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["replaced"] is None and body["example"]["sql"] == SQL  # as written, the ; dropped
    assert body["example"]["tables"] == ["ads_account"] and body["example"]["source"] == "added"
    [mine] = added(home)
    assert mine["question"] == QUESTION and mine["id"] == example_id(QUESTION)
    everything = json.loads(run("examples", "list", "--json").stdout)
    assert len(everything) == len(packaged_examples()) + 1 and everything[0]["source"] == "packaged"
    text = run("examples", "list").stdout
    assert f"{mine['id']}  [added]  {QUESTION}" in text and f"-- {len(everything)} examples, 1 added" in text
    removed = run("examples", "remove", mine["id"])
    assert removed.exit_code == 0 and f"removed verified example {mine['id']}" in removed.stdout
    assert added(home) == []


def test_refused_sql_is_not_stored_and_the_error_says_why(home: Path) -> None:
    write = run("examples", "add", QUESTION, "DELETE FROM ads_account")
    assert write.exit_code == 1
    line = error_line(write)
    assert "not stored" in line and "DELETE" in line
    unknown = run("examples", "add", QUESTION, "SELECT stars FROM ads_summary")
    assert unknown.exit_code == 1 and "`star`" in error_line(unknown)  # the guard's "did you mean"
    assert not (home / "index" / "examples.jsonl").exists() and added(home) == []


def test_the_same_question_in_another_spelling_is_refused_then_replaced(home: Path) -> None:
    assert run("examples", "add", QUESTION, SQL).exit_code == 0
    again = " 抖音和快手  各有多少达人？"
    other = "SELECT platform, COUNT(*) AS n FROM ads_account WHERE platform = '抖音' GROUP BY platform"
    refused = run("examples", "add", again, other)
    assert refused.exit_code == 2
    line = error_line(refused)
    assert "already answers this question" in line and QUESTION in line and "--replace" in line
    assert [x["sql"] for x in added(home)] == [SQL]
    replaced = run("examples", "add", again, other, "--replace", "--json")
    assert replaced.exit_code == 0, replaced.output
    assert json.loads(replaced.stdout)["replaced"]["sql"] == SQL
    assert [(x["question"], x["sql"]) for x in added(home)] == [(again.strip(), other)]


def test_packaged_examples_cannot_be_removed_but_can_be_replaced(home: Path) -> None:
    packaged_id = example_id(PACKAGED)
    kept = run("examples", "remove", packaged_id)
    assert kept.exit_code == 2 and "packaged example and cannot be removed" in error_line(kept)
    mine = "SELECT `desc`, account FROM ads_summary ORDER BY id LIMIT 10"
    refused = run("examples", "add", PACKAGED.rstrip("?"), mine)
    assert refused.exit_code == 2 and "a packaged example already answers" in error_line(refused)
    assert run("examples", "add", PACKAGED.rstrip("?"), mine, "--replace").exit_code == 0
    listed = json.loads(run("examples", "list", "--json").stdout)
    assert len(listed) == len(packaged_examples())  # in the packaged one's place, not beside it
    [entry] = [x for x in listed if x["id"] == packaged_id]
    assert entry["source"] == "added" and entry["replaces_packaged"] and entry["sql"] == mine
    assert entry["question"] == PACKAGED  # the text the retrieval's merge overrides by
    back = run("examples", "remove", PACKAGED)
    assert back.exit_code == 0 and "packaged example for this question applies again" in back.stdout
    [entry] = [x for x in json.loads(run("examples", "list", "--json").stdout) if x["id"] == packaged_id]
    assert entry["source"] == "packaged"


def test_removing_what_is_not_there_says_how_to_find_it(home: Path) -> None:
    missing = run("examples", "remove", "没有这个问题")
    assert missing.exit_code == 2 and "askdb examples list" in error_line(missing)


# -- used from the next question on ------------------------------------------------------------------
MODEL_SQL = "SELECT platform, COUNT(*) AS n FROM ads_account GROUP BY platform"


def reply(messages: list[dict]) -> str:
    if any("数据分析师" in m["content"] for m in messages):
        return "- 抖音的达人更多"
    return f"```sql\n{MODEL_SQL}\n```"


def test_an_added_example_is_retrieved_prompted_and_reused(home: Path, embedder, monkeypatch) -> None:
    monkeypatch.setattr("askdb.rag.service.embedder_for", lambda _settings: embedder)
    before = json.loads(run("retrieve", QUESTION, "--json").stdout)
    assert SQL not in [e["sql"] for e in before["examples"]]
    assert run("examples", "add", QUESTION, SQL).exit_code == 0
    after = json.loads(run("retrieve", QUESTION, "--json").stdout)
    assert after["examples"][0]["question"] == QUESTION and after["examples"][0]["sql"] == SQL
    assert f"-- {QUESTION}\n{SQL};" in after["context"]  # the context the model's prompt is given
    with FakeOllamaServer(reply) as server:
        env = {"ASKDB_OLLAMA_HOST": server.url, "ASKDB_LLM_MODEL": "fake-model"}
        asked = run("ask", QUESTION, "--json", env=env)
        prompts = [r.json["messages"] for r in server.requests_to("/api/chat")]
    assert asked.exit_code == 0, asked.output
    answer = json.loads(asked.stdout)
    assert answer["from_example"] and answer["sql"].startswith(SQL)
    assert len(prompts) == 1 and "数据分析师" in json.dumps(prompts[0], ensure_ascii=False)  # no SQL asked
