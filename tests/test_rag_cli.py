"""`askdb index` and `askdb retrieve` end to end on the demo database in an isolated home."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from askdb.cli import main
from askdb.settings import Settings


def test_index_then_retrieve_json(settings: Settings, embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    from askdb.schemas.load import build_sqlite

    build_sqlite(settings.demo_db_path, scale=0.01)
    # One model load per session: the commands get the already-loaded embedder.
    monkeypatch.setattr("askdb.rag.service.embedder_for", lambda _settings: embedder)
    runner = CliRunner()
    first = runner.invoke(main, ["index", "--json"])
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    assert summary["built"] is True and summary["tables"] == 6 and summary["value_columns"] > 0
    again = json.loads(runner.invoke(main, ["index", "--json"]).stdout)
    assert again["built"] is False  # same catalog, model, notes and values: nothing to do
    result = runner.invoke(main, ["retrieve", "点赞最多的笔记", "-k", "2", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["tables"][0]["name"] == "ads_summary" and isinstance(data["tables"][0]["score"], float)
    assert {"columns", "notes", "examples", "values"} <= set(data)


def test_retrieve_without_a_database_says_how_to_make_one(settings: Settings) -> None:
    result = CliRunner().invoke(main, ["retrieve", "点赞最多的笔记"])
    assert result.exit_code != 0 and "askdb demo-db" in result.output


def test_prompt_shows_the_exact_messages_their_tokens_and_what_was_trimmed(
    settings: Settings, embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from askdb.llm.base import Message
    from askdb.llm.budget import estimate_chat_tokens
    from askdb.schemas.load import build_sqlite

    build_sqlite(settings.demo_db_path, scale=0.01)
    monkeypatch.setattr("askdb.rag.service.embedder_for", lambda _settings: embedder)
    runner = CliRunner()
    wide = runner.invoke(
        main, ["prompt", "抖音上有多少个达人?", "--json"], env={"ASKDB_LLM_NUM_CTX": "16384"}
    )
    assert wide.exit_code == 0, wide.output
    data = json.loads(wide.stdout)
    assert [m["role"] for m in data["messages"]] == ["system", "user"]
    assert "抖音上有多少个达人?" in data["messages"][-1]["content"]
    # the count is of exactly these messages, and nothing had to go in a 16k window
    assert data["tokens"] == estimate_chat_tokens([Message(**m) for m in data["messages"]])
    assert data["counted_by"] == "estimate" and data["budget"]["n_ctx"] == 16384
    assert data["tables"][0]["name"] == "ads_account"
    assert not [d for d in data["dropped"] if d["why"].startswith("trimmed")]
    # a table ranked far below the best one is left out, and says why
    assert [d for d in data["dropped"] if d["kind"] == "table" and d["why"].startswith("score below")]
    # a 1024-token window leaves 512 for the prompt, so context is trimmed
    small = runner.invoke(
        main, ["prompt", "抖音上有多少个达人?", "--json"], env={"ASKDB_LLM_NUM_CTX": "1024"}
    )
    trimmed = json.loads(small.stdout)
    assert trimmed["tokens"] <= trimmed["budget"]["prompt_limit"] < data["tokens"]
    assert [d for d in trimmed["dropped"] if d["why"].startswith("trimmed")]
    text = runner.invoke(main, ["prompt", "抖音上有多少个达人?"], env={"ASKDB_LLM_NUM_CTX": "2048"})
    assert "── system ──" in text.stdout and "prompt tokens (askdb's estimate) of" in text.stdout
