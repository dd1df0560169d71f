"""The README's LangChain and LlamaIndex examples, run as written over the demo database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def example(heading: str) -> str:
    text = README.read_text(encoding="utf-8")
    return re.search(rf"## {heading}\n.*?```python\n(.*?)```", text, re.S).group(1)


@pytest.fixture
def demo_home(tmp_path, small_demo, monkeypatch) -> Path:
    (tmp_path / "ads.db").write_bytes(small_demo[0].read_bytes())
    monkeypatch.setenv("ASKDB_HOME", str(tmp_path))
    return tmp_path


def test_the_langchain_example_runs(demo_home, capsys):
    namespace: dict = {}
    exec(compile(example("LangChain"), "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "ads_account" in out and "小红书" in out
    assert "only SELECT queries may run, not DROP" in out  # the DROP came back as the guard's refusal
    assert {d.metadata["kind"] for d in namespace["docs"]} and len(namespace["docs"]) == 3


def test_the_llamaindex_example_runs(demo_home, capsys):
    namespace: dict = {}
    exec(compile(example("LlamaIndex"), "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "city" in out and len(namespace["nodes"]) == 3
    assert all(0 <= n.score <= 1 for n in namespace["nodes"])
