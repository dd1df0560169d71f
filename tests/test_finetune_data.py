"""SFT data: the training prompt is the inference prompt, no test question leaks in, files are atomic."""

from __future__ import annotations

import json
from datetime import date

import pytest
from click.testing import CliRunner
from sqlglot import exp

from askdb.assistant import Assistant, Turn
from askdb.cli import main
from askdb.eval.dataset import load_ads_questions, near_duplicates
from askdb.finetune.data import (
    DECLINE,
    TEMPLATES,
    Candidate,
    PromptSettings,
    SftRecord,
    Template,
    _has_rows,
    _sql_key,
    answer_text,
    augment,
    build_candidates,
    build_records,
    dedupe,
    leaks,
    read_jsonl,
    render,
    split_of,
    write_jsonl,
)
from askdb.llm.extract import NoSql, extract
from askdb.rag.retriever import DEFAULT_K
from askdb.schemas.catalog import packaged_catalog
from askdb.schemas.knowledge import packaged_examples
from askdb.sql.context import GuardContext
from askdb.sql.guard import check
from askdb.testing.scripted import ScriptedFakeLLM


def _by_id(qid: str):
    return next(q for q in load_ads_questions("train") if q.id == qid)


@pytest.mark.parametrize("qid", ["ads-002", "ads-146", "ads-162"])  # plain, a follow-up, a forecast
def test_training_prompt_is_what_the_assistant_sends(demo_retrieval_parts, qid):
    q = _by_id(qid)
    history = ((q.previous.question, q.previous.sql),) if q.previous else ()
    rendered = render(
        Candidate(q.id, q.question, q.sql, "ads", history),
        demo_retrieval_parts["retriever"],
        PromptSettings(today=date(2025, 7, 1)),
    )
    llm = ScriptedFakeLLM([f"```sql\n{q.sql}\n```", "分析"])
    # the same day in both: the training prompt carries the date lines the assistant sends
    assistant = Assistant(llm=llm, today=lambda: date(2025, 7, 1), clarify=False, **demo_retrieval_parts)
    assistant.ask(q.question, history=[Turn(p, s) for p, s in history])
    sent = [{"role": m.role, "content": m.content} for m in llm.calls[0]]
    assert rendered[:-1] == sent
    assert rendered[-1]["role"] == "assistant"


def test_a_verified_example_never_sees_its_own_sql_in_its_training_prompt(demo_retrieval_parts):
    retriever = demo_retrieval_parts["retriever"]
    shown = []
    for n, ex in enumerate(packaged_examples(), 1):
        retrieval = retriever.retrieve(ex.question, DEFAULT_K)
        if not any(e.question == ex.question for e in retrieval.examples):
            continue
        shown.append(ex)  # the assistant's prompt would show this example its own answer
        user = render(
            Candidate(f"example-{n:03d}", ex.question, ex.sql, "example"), retriever, PromptSettings()
        )[-2]["content"]
        assert f"-- {ex.question}\n" not in user and ex.sql not in user
        for section in retrieval.sections:  # everything else the assistant shows stays
            if not (section.kind == "example" and section.name == ex.question):
                assert section.text in user
    assert len(shown) >= 5


def test_answers_are_what_the_extractor_reads_back():
    sql = "SELECT nickname, fans FROM ads_account WHERE city = '上海' ORDER BY fans DESC LIMIT 10"
    assert extract(answer_text(sql)).outcome.sql == sql
    declined = extract(answer_text(None)).outcome
    assert isinstance(declined, NoSql) and DECLINE.startswith("无法回答:")


def test_no_test_question_or_test_sql_leaks_in(demo_retrieval_parts):
    parts = demo_retrieval_parts
    candidates, _dropped = build_candidates(parts["runner"], parts["catalog"], augment_count=40)
    test = load_ads_questions("test")
    assert not near_duplicates([c.question for c in candidates], [q.question for q in test])
    test_sql = {_sql_key(q.sql) for q in test if q.sql}
    assert not [c for c in candidates if c.sql and _sql_key(c.sql) in test_sql]
    assert {c.source for c in candidates} == {"ads", "example", "augment"}
    assert not {c.id for c in candidates} & {q.id for q in test}


def test_a_generated_pair_that_would_leak_is_dropped(demo_retrieval_parts):
    parts = demo_retrieval_parts
    # ads-001 (test) asks how many creators 抖音 has; this template regenerates exactly that SQL.
    leaky = Template("{value}上有多少个达人?", "ads_account", "platform", "COUNT(*) AS creators")
    generated = augment(parts["runner"], parts["catalog"], 10, templates=[leaky])
    assert any(
        c.sql == "SELECT COUNT(*) AS creators FROM ads_account WHERE platform = '抖音'" for c in generated
    )
    assert [c for c in generated if leaks(c, load_ads_questions("test"))]


def test_augmented_sql_passes_the_guard_and_returns_rows(demo_retrieval_parts):
    parts = demo_retrieval_parts
    runner, catalog = parts["runner"], parts["catalog"]
    generated = augment(runner, catalog, 12, seed=3)
    assert len(generated) == 12
    for c in generated:
        verdict = check(c.sql, GuardContext(catalog=catalog))
        assert verdict.ok, c.sql
        assert "{value}" not in c.question
    assert augment(runner, catalog, 12, seed=3) == generated  # deterministic for a seed
    assert not _has_rows(runner, catalog, "SELECT COUNT(*) FROM ads_account WHERE city = '不存在的城市'", 10)
    assert not _has_rows(runner, catalog, "SELECT * FROM no_such_table", 10)
    assert not augment(
        runner, catalog, 5, templates=[Template("{value}", "ads_account", "no_such", "COUNT(*)")]
    )


def test_every_template_yields_guarded_pairs_and_they_take_turns(demo_retrieval_parts):
    runner, catalog = demo_retrieval_parts["runner"], demo_retrieval_parts["catalog"]
    for template in TEMPLATES:
        (pair,) = augment(runner, catalog, 1, templates=[template])
        assert check(pair.sql, GuardContext(catalog=catalog)).ok, pair.sql
    generated = augment(runner, catalog, len(TEMPLATES))
    # one round over the templates, not most of the count from the column with the most values
    shapes = {c.sql.split(" WHERE ")[0] + c.sql.partition("'")[2].partition("'")[2] for c in generated}
    assert len(shapes) >= 0.8 * len(TEMPLATES)


def test_values_are_literals_even_with_quotes():
    sql = Template("{value}的达人有多少?", "ads_account", "city", "COUNT(*) AS n").sql("x' OR '1'='1")
    verdict = check(sql, GuardContext(catalog=packaged_catalog()))
    assert verdict.ok
    where = verdict.tree.find(exp.Where)
    assert isinstance(where.this, exp.EQ) and where.this.expression.this == "x' OR '1'='1"


def test_dedupe_and_split_are_deterministic():
    cs = [
        Candidate("a", "抖音上有多少个达人?", "SELECT 1", "ads"),
        Candidate("b", "抖音上 有多少个达人", "SELECT 2", "example"),
        Candidate("c", "那抖音的呢?", "SELECT 3", "ads", (("小红书的达人", "SELECT 4"),)),
    ]
    kept = dedupe(cs)
    assert [c.id for c in kept] == ["a", "c"]
    assert split_of("抖音上有多少个达人?") == split_of("抖音上 有多少个达人") in {"train", "validation"}


def test_records_render_and_reasoning_is_optional(demo_retrieval_parts):
    parts = demo_retrieval_parts
    cs = [
        Candidate(
            "x", "粉丝过10万的达人有几个", "SELECT COUNT(*) AS n FROM ads_account WHERE fans > 100000", "ads"
        ),
        Candidate("y", "下单用户的年龄分布", None, "ads"),
    ]
    plain = build_records(cs, parts["retriever"], parts["catalog"])
    thought = build_records(cs, parts["retriever"], parts["catalog"], reasoning=True)
    assert [r.reasoning for r in plain] == ["", ""]
    assert "ads_account" in thought[0].reasoning and thought[1].reasoning
    assert plain[0].messages == thought[0].messages  # reasoning never changes the chat
    assert plain[1].messages[-1]["content"] == DECLINE and plain[0].tables == ["ads_account"]
    assert [m["role"] for m in plain[0].messages] == ["system", "user", "assistant"]


def test_jsonl_is_written_atomically(tmp_path):
    path = tmp_path / "sft.jsonl"
    record = SftRecord("a", "ads", "train", "q", None, [{"role": "user", "content": "q"}])
    assert write_jsonl([record], path) == 1
    assert read_jsonl(path, "train")[0]["id"] == "a" and read_jsonl(path, "validation") == []

    def broken():
        yield record
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_jsonl(broken(), path)
    assert len(read_jsonl(path)) == 1  # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["sft.jsonl"]  # no temporary file left behind


def test_cli_writes_the_file(demo_retrieval_parts, small_demo, tmp_path, monkeypatch):
    import askdb.rag.service

    monkeypatch.setattr(
        askdb.rag.service, "open_retriever", lambda *a, **k: (demo_retrieval_parts["retriever"], False)
    )
    out = tmp_path / "out" / "sft.jsonl"
    result = CliRunner().invoke(
        main,
        [
            "finetune",
            "data",
            "--out",
            str(out),
            "--augment",
            "5",
            "--db",
            f"sqlite:///{small_demo[0]}",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{") :])
    rows = read_jsonl(out)
    assert summary["records"] == len(rows) and summary["by_source"]["augment"] == 5
    assert summary["train"] + summary["validation"] == len(rows) and summary["validation"] > 0
    assert all(r["messages"][-1]["role"] == "assistant" for r in rows)
