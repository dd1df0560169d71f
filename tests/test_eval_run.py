"""The eval harness, validated with replayed replies: gold replies score 1.0, known mistakes score
exactly what they should; the CLI writes a report that says it checked the harness, not a model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from askdb.assistant import Assistant
from askdb.errors import LLMError
from askdb.eval.dataset import load_ads_questions
from askdb.eval.metrics import summarize
from askdb.eval.records import validate_line
from askdb.eval.replay import ANALYSIS_REPLY, DECLINE_REPLY, record_gold_replay, write_replies
from askdb.eval.report import compare, load_result, markdown_report, write_report, write_result
from askdb.eval.runner import GoldExecutor, read_results, run_questions
from askdb.llm.base import Message
from askdb.llm.replay_backend import ReplayLLM
from askdb.sql.context import GuardContext

TEST = load_ads_questions("test")


@pytest.fixture(scope="module")
def parts(demo_retrieval_parts):
    return demo_retrieval_parts


def assistant_with(parts, llm) -> Assistant:
    return Assistant(llm=llm, example_match=1.01, clarify=False, **parts)  # as eval_assistant: no asking back


def gold_for(parts) -> GoldExecutor:
    return GoldExecutor(parts["runner"], GuardContext(parts["catalog"], row_limit=10))


@pytest.fixture(scope="module")
def gold_replay(parts, tmp_path_factory) -> Path:
    from askdb.eval.replay import GoldOracleFakeLLM

    work = tmp_path_factory.mktemp("gold-replay")
    path = work / "gold.jsonl"
    n = record_gold_replay(assistant_with(parts, GoldOracleFakeLLM(TEST)), TEST, path, gold_for(parts), work)
    assert n >= len(TEST)
    return path


def test_replaying_the_gold_sql_scores_one(parts, gold_replay, tmp_path):
    records = run_questions(
        assistant_with(parts, ReplayLLM("gold", path=gold_replay)),
        TEST,
        tmp_path / "results.jsonl",
        gold_for(parts),
    )
    summary = summarize(records)
    assert summary["questions"] == len(TEST)
    assert summary["accuracy"] == 1.0 and summary["execution_accuracy"] == 1.0
    assert summary["valid_sql_rate"] == 1.0 and summary["correct_declines"] == 1.0
    assert summary["exact_set_match"] == 1.0 and summary["guard_rejection_rate"] == 0.0
    assert summary["latency_ms"]["sql_llm"]["n"] == len(TEST) and summary["latency_ms"]["total"]["p95"] > 0
    assert 0.5 < summary["table_recall"] <= 1.0
    print(
        f"\ngold replay: {summary['questions']} questions, accuracy {summary['accuracy']}, "
        f"table recall {summary['table_recall']}"
    )


def pick(feature: str | None = None, declines: bool = False):
    return next(
        q
        for q in TEST
        if (q.sql is None) == declines and q.previous is None and (feature is None or feature in q.features)
    )


def test_known_mistakes_score_exactly_the_expected_fractions(parts, tmp_path):
    right = [q for q in TEST if q.sql and q.previous is None and "decline" not in q.features][:4]
    wrong, declined_wrongly, invalid, repaired = [q for q in TEST if q.sql and q.previous is None][4:8]
    decline = pick(declines=True)
    bad_sql = "SELECT stars FROM ads_summary"  # unknown column: the guard refuses it
    replies: list[str] = []
    for q in right:
        replies += [f"```sql\n{q.sql}\n```", ANALYSIS_REPLY]
    replies += [
        "SELECT COUNT(*) AS n FROM ads_material WHERE material_id < 0 OR 1 = 1",
        ANALYSIS_REPLY,
    ]  # wrong rows
    replies += [DECLINE_REPLY]  # declines an answerable question
    replies += [bad_sql, bad_sql, bad_sql]  # three refused attempts: no answer
    replies += [bad_sql, repaired.sql, ANALYSIS_REPLY]  # refused once, then repaired
    replies += [DECLINE_REPLY]  # declines what should be declined
    path = tmp_path / "mixed.jsonl"
    write_replies(path, [{"content": r} for r in replies])
    questions = [*right, wrong, declined_wrongly, invalid, repaired, decline]
    records = run_questions(
        assistant_with(parts, ReplayLLM("mixed", path=path)),
        questions,
        tmp_path / "results.jsonl",
        gold_for(parts),
    )
    s = summarize(records)
    outcomes = {r["id"]: r["outcome"] for r in records}
    assert outcomes[invalid.id] == "failed" and outcomes[declined_wrongly.id] == "declined"
    assert s["accuracy"] == round(6 / 9, 4)  # 4 right + repaired + decline
    assert s["execution_accuracy"] == round(5 / 8, 4)
    assert s["valid_sql_rate"] == round(6 / 8, 4) and s["first_try_valid_rate"] == round(5 / 8, 4)
    assert s["guard_rejection_rate"] == round(4 / 10, 4)  # 4 refused of 10 checked statements
    assert s["repairs_used"] == 1 + 2 and s["questions_repaired"] == 2
    assert s["correct_declines"] == 1.0 and s["false_declines"] == round(1 / 8, 4)
    # Every line written, answered, declined or failed, has the documented shape.
    written = read_results(tmp_path / "results.jsonl")
    assert [validate_line(line)["id"] for line in written] == [q.id for q in questions]
    failed = next(line for line in written if line["id"] == invalid.id)
    assert failed["guard_checks"] == 3 and failed["steps_ms"]["guard"] and failed["error"]


def test_a_result_line_of_the_wrong_shape_is_refused_by_the_schema(parts, tmp_path):
    q = pick(declines=True)
    path = tmp_path / "decline.jsonl"
    write_replies(path, [{"content": DECLINE_REPLY}])
    [line] = run_questions(
        assistant_with(parts, ReplayLLM("d", path=path)), [q], tmp_path / "r.jsonl", gold_for(parts)
    )
    assert validate_line(json.loads(json.dumps(line)))["outcome"] == "declined"
    for key, bad in [("correct", "yes"), ("outcome", "crashed"), ("repairs", 1.5)]:
        with pytest.raises(ValidationError, match=key):
            validate_line({**line, key: bad})
    with pytest.raises(ValidationError, match="total_ms"):
        validate_line({k: v for k, v in line.items() if k != "total_ms"})


def test_resume_skips_finished_questions_and_survives_a_cut_line(parts, gold_replay, tmp_path):
    questions = TEST[:3]
    results = tmp_path / "results.jsonl"
    first = run_questions(
        assistant_with(parts, ReplayLLM("gold", path=gold_replay)), questions[:2], results, gold_for(parts)
    )
    with results.open("a", encoding="utf-8") as out:
        out.write('{"id": "cut off mid-wri')
    assert all(r["correct"] for r in first)
    # A fresh replay, as `askdb eval --resume` makes one: the finished questions are skipped, and the
    # third still gets its own replies (each line of a recorded replay names its question).
    llm = ReplayLLM("gold", path=gold_replay)
    records = run_questions(assistant_with(parts, llm), questions, results, gold_for(parts), resume=True)
    assert [r["id"] for r in records] == [q.id for q in questions]
    assert len(read_results(results)) == 3 and all(r["correct"] for r in records)


def test_a_keyed_replay_answers_each_question_with_its_own_replies_in_any_order(parts, gold_replay, tmp_path):
    lines = [json.loads(line) for line in gold_replay.read_text(encoding="utf-8").splitlines()]
    assert all(line.get("question") for line in lines)
    questions = list(reversed(TEST[:4]))  # asked in the opposite order to the recording
    records = run_questions(
        assistant_with(parts, ReplayLLM("gold", path=gold_replay)),
        questions,
        tmp_path / "r.jsonl",
        gold_for(parts),
    )
    assert all(r["correct"] for r in records)


def test_a_replay_without_questions_plays_in_file_order_and_says_when_it_runs_out(parts, tmp_path):
    path = tmp_path / "plain.jsonl"
    write_replies(path, [{"content": DECLINE_REPLY}])
    llm = ReplayLLM("d", path=path)
    [line] = run_questions(
        assistant_with(parts, llm), [pick(declines=True)], tmp_path / "r.jsonl", gold_for(parts)
    )
    assert line["outcome"] == "declined"
    with pytest.raises(LLMError, match="all were used"):
        list(llm.stream([Message("user", "## 问题\n随便")]))


ANSWERED = {  # the keys summarize and the report read, of one answered question
    "id": "x",
    "question": "q",
    "outcome": "answered",
    "correct": True,
    "gold_sql": "SELECT 1",
    "pred_sql": "SELECT 1",
    "valid_sql": True,
    "exact_match": True,
    "repairs": 0,
    "guard_checks": 1,
    "guard_rejections": 0,
    "table_recall": 1.0,
    "steps_ms": {"sql_llm": [5.0]},
    "total_ms": 9.0,
    "tokens": {"prompt": 1, "completion": 1},
    "category": "filter",
    "difficulty": "easy",
}


def test_report_names_the_backend_and_says_a_replay_checks_the_harness(tmp_path):
    record = dict(ANSWERED)
    meta = {"dataset": "ads", "split": "test", "backend": "replay", "model": "gold", "harness_only": True}
    result = {"meta": meta, "summary": summarize([record]), "records": [record]}
    text = markdown_report(result)
    assert "validates the evaluation harness, not a model" in text and "`replay`" in text
    real = markdown_report({**result, "meta": {**meta, "backend": "ollama", "harness_only": False}})
    assert "harness" not in real and "`ollama`" in real
    write_result(tmp_path / "a.json", meta, result["summary"], [record])
    worse = {**record, "correct": False, "outcome": "failed"}
    write_result(tmp_path / "b.json", meta, summarize([worse]), [worse])
    diff = compare(load_result(tmp_path / "a.json"), load_result(tmp_path / "b.json"))
    assert [r["id"] for r in diff["regressions"]] == ["x"] and diff["deltas"]["accuracy"]["change"] == -1.0
    assert write_report(tmp_path, result).read_text(encoding="utf-8").count("█") > 0


def test_summary_and_report_count_sql_calls_cut_or_stopped_as_loops():
    base = {**ANSWERED, "outcome": "failed", "correct": False, "pred_sql": None, "valid_sql": False}
    base |= {"exact_match": False, "repairs": 2, "guard_checks": 0}
    records = [
        {**base, "stops": ["loop", "length", "stop"]},
        {**base, "id": "y", "stops": ["loop"]},
        {**base, "id": "z"},  # a results file from before stops were recorded
    ]
    summary = summarize(records)
    assert summary["model_calls"] == {"calls": 4, "cut": 1, "looped": 2}
    meta = {"dataset": "ads", "split": "test", "backend": "llamacpp", "model": "m"}
    text = markdown_report({"meta": meta, "summary": summary, "records": records})
    assert "| SQL calls cut at max_tokens / stopped as loops | 1 / 2 of 4 |" in text
    older = markdown_report({"meta": meta, "summary": summarize([base]), "records": [base]})
    assert "stopped as loops" not in older


def test_cli_eval_with_replay_then_resume_then_compare(small_demo, tmp_path, gold_replay):
    home = tmp_path / "home"
    home.mkdir()
    (home / "ads.db").write_bytes(small_demo[0].read_bytes())
    env = {
        **os.environ,
        "ASKDB_HOME": str(home),
        "HF_HUB_OFFLINE": "1",
        "ASKDB_REPLAY_FILE": str(gold_replay),
    }
    out = tmp_path / "run"

    def askdb(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "askdb", *args],
            check=False,
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )

    done = askdb(
        "eval", "--backend", "replay", "--model", "gold", "--limit", "6", "--out", str(out), "--json"
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["accuracy"] == 1.0 and summary["questions"] == 6
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "not a model" in report and "`replay`" in report
    again = askdb(
        "eval", "--backend", "replay", "--model", "gold", "--limit", "6", "--out", str(out), "--resume"
    )
    assert again.returncode == 0, again.stderr  # nothing left to ask: no replies needed
    diff = askdb("eval", "compare", str(out / "result.json"), str(out / "result.json"), "--json")
    assert diff.returncode == 0 and json.loads(diff.stdout)["regressions"] == []
