"""``askdb eval --questions FILE.jsonl``: a person's own question set, checked line by line before any
question runs, scored and reported like the ads set; a failed question keeps its steps and replies."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from pydantic import ValidationError

from askdb.assistant import Assistant
from askdb.cli import main
from askdb.errors import LLMServerError
from askdb.eval.metrics import summarize
from askdb.eval.records import validate_line
from askdb.eval.replay import ANALYSIS_REPLY, DECLINE_REPLY
from askdb.eval.report import REPLY_CHARS, markdown_report
from askdb.eval.runner import read_results
from askdb.llm import registry
from askdb.llm.base import Message
from askdb.testing.scripted import ScriptedFakeLLM

GOLD = "SELECT COUNT(*) AS n FROM ads_account"
BAD_SQL = "SELECT stars FROM ads_summary"  # unknown column: the guard refuses every attempt
QUESTIONS = [
    {"id": "mine-1", "question": "一共有多少个达人账号", "sql": GOLD, "features": ["aggregate"]},
    {"question": "达人粉丝的男女比例是多少", "sql": None},  # no id: it becomes q2
    {"id": "mine-bad", "question": "每条笔记有几颗星", "sql": GOLD, "difficulty": "hard"},
    {"id": "mine-err", "question": "服务器出错的那个问题", "sql": GOLD},
]


def reply_for(messages: Sequence[Message]) -> str:
    """The fake model: right for mine-1, declines q2, writes nonsense for mine-bad, fails for mine-err."""
    if any("数据分析师" in m.content for m in messages):
        return ANALYSIS_REPLY
    prompt = next(m.content for m in messages if "## 问题" in m.content)
    asked = prompt.rsplit("## 问题", 1)[1]
    if "服务器出错" in asked:
        raise LLMServerError("the fake server answered 500", hint="try again later")
    if "星" in asked:
        return f"```sql\n{BAD_SQL}\n```"
    if "男女比例" in asked:
        return DECLINE_REPLY
    return f"```sql\n{GOLD}\n```"


@pytest.fixture
def fake(demo_retrieval_parts, monkeypatch) -> ScriptedFakeLLM:
    """``--backend scripted-fake`` answers with ``reply_for``, over the small demo database."""
    llm = ScriptedFakeLLM([reply_for] * 100)
    monkeypatch.setitem(registry._registry, "scripted-fake", lambda _settings, _model: llm)
    monkeypatch.setattr(
        "askdb.eval.runner.eval_assistant",
        lambda _settings, chosen: Assistant(llm=chosen, example_match=1.01, **demo_retrieval_parts),
    )
    return llm


def write_lines(path: Path, lines: Sequence[object]) -> Path:
    path.write_text(
        "".join((x if isinstance(x, str) else json.dumps(x, ensure_ascii=False)) + "\n" for x in lines),
        encoding="utf-8",
    )
    return path


def askdb(*args: str) -> Result:
    return CliRunner().invoke(main, ["eval", "--backend", "scripted-fake", *args])


def assert_one_error_line(result: Result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_a_questions_file_runs_end_to_end_and_resumes(fake, tmp_path):
    path = write_lines(tmp_path / "mine.jsonl", QUESTIONS)
    out = tmp_path / "run"
    done = askdb("--questions", str(path), "--out", str(out), "--json")
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    assert summary["questions"] == 4 and summary["accuracy"] == 0.5 and summary["errors"] == 1
    lines = read_results(out / "results.jsonl")
    assert [validate_line(line)["id"] for line in lines] == ["mine-1", "q2", "mine-bad", "mine-err"]
    by_id = {line["id"]: line for line in lines}
    assert by_id["mine-1"]["correct"] and by_id["mine-1"]["category"] == "aggregate"
    assert by_id["q2"]["outcome"] == "declined" and by_id["q2"]["correct"]
    assert by_id["q2"]["split"] is None and by_id["mine-bad"]["difficulty"] == "hard"
    result = json.loads((out / "result.json").read_text(encoding="utf-8"))
    assert result["meta"]["dataset"] == "questions"
    assert result["meta"]["questions_file"] == str(path.resolve())
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "# askdb eval: `mine.jsonl`" in report and str(path.resolve()) in report
    assert "## Failed questions (2 of 4)" in report
    assert "### mine-bad: failed" in report and "### mine-err: error" in report
    assert "### mine-1" not in report and "### q2" not in report
    calls = len(fake.calls)
    again = askdb("--questions", str(path), "--out", str(out), "--resume")
    assert again.exit_code == 0, again.output
    assert len(fake.calls) == calls  # every id was done: nothing asked again


def test_a_failed_question_keeps_its_steps_tokens_and_replies(fake, tmp_path):
    path = write_lines(tmp_path / "mine.jsonl", QUESTIONS[2:])
    out = tmp_path / "run"
    assert askdb("--questions", str(path), "--out", str(out)).exit_code == 0
    failed, error = read_results(out / "results.jsonl")
    assert failed["outcome"] == "failed" and "no acceptable SQL" in failed["error"]
    assert failed["replies"] == [f"```sql\n{BAD_SQL}\n```"] * 3  # the first reply and two repairs
    assert len(failed["steps_ms"]["sql_llm"]) == 1 and len(failed["steps_ms"]["repair_llm"]) == 2
    assert len(failed["steps_ms"]["guard"]) == 3 and failed["guard_rejections"] == 3
    assert failed["tokens"]["prompt"] > 0 and failed["tokens"]["completion"] > 0
    # The model failed on its first call: the line still has the retrieval and the call that failed.
    assert error["outcome"] == "error" and "the fake server answered 500" in error["error"]
    assert error["steps_ms"]["retrieve"] and error["steps_ms"]["sql_llm"] and error["replies"] == [""]
    report = (out / "report.md").read_text(encoding="utf-8")
    section = report.split("## Failed questions", 1)[1]
    assert "> 每条笔记有几颗星" in section and "- error: no acceptable SQL" in section
    assert "reply 3:" in section and BAD_SQL in section and "- step ms: retrieve " in section
    assert f"- tokens: {failed['tokens']['prompt']:,} prompt" in section
    assert "the fake server answered 500" in section and "reply 1: (empty)" in section


def test_resume_over_a_results_file_written_before_replies_were_kept(fake, tmp_path):
    path = write_lines(tmp_path / "mine.jsonl", QUESTIONS[:3])
    out = tmp_path / "run"
    assert askdb("--questions", str(path), "--out", str(out)).exit_code == 0
    old = [{k: v for k, v in line.items() if k != "replies"} for line in read_results(out / "results.jsonl")]
    assert all(validate_line(line) for line in old)
    write_lines(out / "results.jsonl", old[:2])  # an old run, stopped before mine-bad
    calls = len(fake.calls)
    assert askdb("--questions", str(path), "--out", str(out), "--resume").exit_code == 0
    lines = read_results(out / "results.jsonl")
    assert [line["id"] for line in lines] == ["mine-1", "q2", "mine-bad"] and len(fake.calls) == calls + 3
    assert "replies" not in lines[0] and len(lines[2]["replies"]) == 3


def test_a_result_line_with_replies_of_the_wrong_type_is_refused(fake, tmp_path):
    path = write_lines(tmp_path / "mine.jsonl", QUESTIONS[:1])
    assert askdb("--questions", str(path), "--out", str(tmp_path / "run")).exit_code == 0
    [line] = read_results(tmp_path / "run" / "results.jsonl")
    assert validate_line(line)["replies"] == [f"```sql\n{GOLD}\n```"]
    with pytest.raises(ValidationError, match="replies"):
        validate_line({**line, "replies": [1]})


OK = {"question": "一共有多少个达人账号", "sql": GOLD}


@pytest.mark.parametrize(
    ("lines", "fragments"),
    [
        ([OK, "{'question': 'single quotes'}"], ["mine.jsonl:2:", "not JSON"]),
        ([["a list"]], ["mine.jsonl:1:", "not an object"]),
        ([OK, OK, {"sql": None}], ["mine.jsonl:3:", "`question` is missing"]),
        ([{"question": "   ", "sql": None}], ["mine.jsonl:1:", "`question`: must not be empty"]),
        ([{"question": "几个达人"}], ["mine.jsonl:1:", "`sql` is missing", "null"]),
        ([{"question": "几个达人", "sql": 5}], ["mine.jsonl:1:", "`sql`", "string"]),
        ([{**OK, "features": "filter"}], ["mine.jsonl:1:", "`features`", "list of strings"]),
        ([{**OK, "id": 7}], ["mine.jsonl:1:", "`id`"]),
        ([{**OK, "previous": {"question": "前一个"}}], ["mine.jsonl:1:", "`previous.sql` is missing"]),
        ([{**OK, "qustion": "typo"}], ["mine.jsonl:1:", "unknown key `qustion`", "the keys are"]),
        ([OK, "", {**OK, "id": "q1"}], ["mine.jsonl:3:", "duplicate id 'q1'", "line 1"]),
        ([OK, {**OK, "sql": BAD_SQL}], ["mine.jsonl:2:", "refused by the guard", "null"]),
    ],
)
def test_a_malformed_line_is_named_before_any_question_runs(fake, tmp_path, lines, fragments):
    path = write_lines(tmp_path / "mine.jsonl", lines)
    out = tmp_path / "run"
    assert_one_error_line(askdb("--questions", str(path), "--out", str(out)), *fragments)
    assert not (out / "results.jsonl").exists() and fake.calls == []


@pytest.mark.parametrize(
    ("make", "fragments"),
    [
        (lambda tmp: tmp / "absent.jsonl", ["absent.jsonl does not exist"]),
        (lambda tmp: write_lines(tmp / "empty.jsonl", ["", "  "]), ["empty.jsonl holds no questions"]),
    ],
    ids=["missing", "empty"],
)
def test_a_missing_or_empty_file_is_a_clear_error(
    fake, tmp_path, make: Callable[[Path], Path], fragments: list[str]
):
    out = tmp_path / "run"
    assert_one_error_line(askdb("--questions", str(make(tmp_path)), "--out", str(out)), *fragments)
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--split", "train"], "--split"),
        (["--dataset", "defog"], "--dataset"),
        (["--split", "all"], "--split"),
    ],
)
def test_questions_cannot_be_combined_with_a_split_or_a_benchmark(fake, tmp_path, extra, named):
    path = write_lines(tmp_path / "mine.jsonl", [OK])
    out = tmp_path / "run"
    result = askdb("--questions", str(path), *extra, "--out", str(out))
    assert_one_error_line(result, "--questions cannot be combined with", named)
    assert not out.exists() and fake.calls == []


def test_the_help_names_the_option_and_its_format():
    text = CliRunner().invoke(main, ["eval", "--help"]).output
    assert "--questions" in text and "FILE.jsonl" in text and "decline" in text


def failed_record(n: int, reply: str) -> dict[str, object]:
    return {
        "id": f"q{n}",
        "question": f"问题 {n}",
        "outcome": "failed",
        "correct": False,
        "gold_sql": GOLD,
        "pred_sql": None,
        "valid_sql": False,
        "exact_match": False,
        "repairs": 2,
        "guard_checks": 3,
        "guard_rejections": 3,
        "table_recall": None,
        "steps_ms": {"sql_llm": [5.0], "repair_llm": [4.0, 3.5]},
        "total_ms": 14.0,
        "tokens": {"prompt": 1200, "completion": 80},
        "category": "other",
        "difficulty": "medium",
        "error": "no acceptable SQL after 3 attempts",
        "replies": [reply],
    }


def test_the_failed_section_caps_the_list_and_truncates_long_replies():
    long_reply = "```sql\n" + "SELECT " + "x, " * 400 + "```"
    records = [failed_record(n, long_reply) for n in range(45)]
    records.append({**failed_record(99, ""), "replies": None})
    del records[-1]["replies"]  # a line from an old results file
    text = markdown_report(
        {
            "meta": {"dataset": "questions", "backend": "ollama", "model": "m"},
            "summary": summarize(records),
            "records": records,
        }
    )
    assert "## Failed questions (46 of 46)" in text and text.count("\n### q") == 30
    assert "… and 16 more, left out here" in text
    assert f"… ({len(long_reply) - REPLY_CHARS} more characters)" in text
    assert "````text" in text  # the reply's own ``` fence cannot close the block early
    assert "- step ms: sql_llm 5.0 · repair_llm 4.0, 3.5; total 14.0" in text
    with_old = markdown_report(
        {
            "meta": {"dataset": "ads", "backend": "b", "model": "m"},
            "summary": summarize(records[-1:]),
            "records": records[-1:],
        }
    )
    assert "### q99: failed" in with_old and "no model reply recorded" in with_old
