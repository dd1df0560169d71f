"""Replies that loop are stopped as they stream, and the repair says why (askdb/llm/loops.py)."""

from __future__ import annotations

import pytest

from askdb.assistant import Assistant
from askdb.llm.loops import LOOP, LoopWatch, find_loop
from askdb.llm.ollama_backend import OllamaLLM
from askdb.testing import FakeOllamaServer

GOOD = "SELECT platform, COUNT(*) AS creators FROM ads_account GROUP BY platform LIMIT 10"
# what a badly tuned Gemma 3 270M wrote: the same clause until its budget ran out
LOOPING = "```sql\nSELECT platform, " + "COUNT(CASE WHEN " * 40
RULES = "只输出一个 ```sql 代码块,里面是一条完整的 SQL。\n" * 12  # a base model repeating the prompt

LEGITIMATE = [
    GOOD,
    "SELECT * FROM ads_account WHERE account IN ("
    + ", ".join(f"'acc_{i:04d}'" for i in range(60))
    + ") LIMIT 10",
    "SELECT CASE "
    + " ".join(f"WHEN fans < {i * 1000} THEN '{i}k'" for i in range(1, 30))
    + " END AS band FROM ads_account LIMIT 10",
    "SELECT " + ", ".join(f"SUM(cost_{i}) AS c{i}" for i in range(40)) + " FROM t LIMIT 10",
    "| 平台 | 达人数 |\n|---|---|\n" + "".join(f"| 平台{i} | {i * 7} |\n" for i in range(30)),
    "\n" * 300,  # blank lines end by themselves
]


@pytest.mark.parametrize("text", [LOOPING, RULES, "好的" * 100, "abc" * 60])
def test_a_periodic_tail_is_a_loop_and_keeps_one_copy(text):
    loop = find_loop(text)
    assert loop is not None
    kept = loop.kept(text)
    assert len(kept) < len(text) and text.startswith(kept)
    assert loop.unit in kept and kept.count(loop.unit) <= 2
    assert find_loop(kept, min_repeats=3) is None  # what is kept no longer loops


@pytest.mark.parametrize("text", LEGITIMATE)
def test_long_statements_and_tables_are_not_loops(text):
    assert find_loop(text) is None


def test_the_watch_stops_at_the_loop_not_at_the_end():
    watch = LoopWatch()
    fed = 0
    for i in range(0, len(LOOPING), 5):
        fed = i + 5
        if watch.feed(LOOPING[i : i + 5]):
            break
    assert watch.loop is not None and fed < len(LOOPING) // 2
    assert watch.loop.kept(watch.text).startswith("```sql\nSELECT platform, COUNT(CASE WHEN ")


def test_a_looping_reply_is_stopped_and_repaired_through_ollama(demo_retrieval_parts):
    replies = iter([LOOPING, GOOD])
    with FakeOllamaServer(
        lambda m: "- 抖音最多" if "数据分析师" in m[0]["content"] else next(replies)
    ) as server:
        llm = OllamaLLM("fake-model", host=server.url, timeout_s=10, num_ctx=4096)
        answer = Assistant(llm=llm, **demo_retrieval_parts).ask("各平台有多少达人")
        repair_prompt = server.requests_to("/api/chat")[1].json["messages"][-1]["content"]
    first = answer.trace[[s.name.value for s in answer.trace].index("sql_llm")]
    assert first.output.finish_reason == LOOP
    # the server's usage never came; the tokens written before the stop are counted instead
    assert 0 < first.tokens.completion_tokens < len(LOOPING) // 2
    assert len(first.output.reply) < len(LOOPING) // 2  # the loop is kept once, not forty times
    assert answer.repairs == 1 and answer.sql.startswith("SELECT platform, COUNT(*)")
    assert "不停重复" in repair_prompt


def test_a_looping_analysis_is_stopped_and_kept_once(demo_retrieval_parts):
    looping = "抖音的达人最多。" + "快手紧随其后," * 60
    with FakeOllamaServer(lambda m: looping if "数据分析师" in m[0]["content"] else GOOD) as server:
        llm = OllamaLLM("fake-model", host=server.url, timeout_s=10, num_ctx=4096)
        answer = Assistant(llm=llm, **demo_retrieval_parts).ask("各平台有多少达人")
    assert answer.analysis.startswith("抖音的达人最多。快手紧随其后,")
    assert answer.analysis.count("快手紧随其后") == 1 and answer.analysis in answer.markdown
