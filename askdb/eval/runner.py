"""Run a question set through the assistant and score every answer against its gold SQL.

Each finished question appends one JSON line to the results file, so an interrupted run resumes
where it stopped (``resume=True`` skips the ids already there). The model's SQL goes through the
assistant exactly as a user's question would; the gold SQL is checked by the same guard (so it
gets the same LIMIT) and run by the same runner, and the two results are compared.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlglot import exp

from askdb.assistant import Answer, Assistant, Turn
from askdb.errors import (
    AskdbError,
    ConfigError,
    DatabaseAuthError,
    DatabaseNotFound,
    DatabaseUnreachable,
    LLMAuthError,
    LLMUnavailable,
    ModelNotFound,
    NoAnswer,
    SchemaError,
)
from askdb.eval.dataset import Question
from askdb.eval.metrics import exact_set_match, orders_at_top, results_match
from askdb.eval.records import RecordOutcome, ResultLine, StepRecord, TokensRecord
from askdb.events import StepName
from askdb.schemas.knowledge import tables_in_sql
from askdb.sql.context import GuardContext
from askdb.sql.guard import check
from askdb.sql.runner import Runner, run_tree

# The model or the database cannot be reached at all: every further question would fail the same way.
FATAL = (
    LLMUnavailable,
    ModelNotFound,
    LLMAuthError,
    DatabaseUnreachable,
    DatabaseAuthError,
    DatabaseNotFound,
)
MODEL_STEPS = (StepName.SQL_LLM, StepName.REPAIR_LLM)
HARNESS_BACKENDS = ("replay", "scripted-fake", "gold-oracle-fake")

GoldRunner = Callable[[Question], pd.DataFrame]


def is_harness_backend(name: str) -> bool:
    """Whether replies came from a recording or a script: such a run validates the harness, not a model."""
    return name in HARNESS_BACKENDS or "fake" in name


@dataclass(frozen=True)
class GoldExecutor:
    """Runs gold SQL the way the assistant runs the model's: same guard, same LIMIT, same runner."""

    runner: Runner
    context: GuardContext
    strip_qualifiers: bool = False  # defog's gold names `db.table`; the runner is already in that db

    def normalised(self, sql: str) -> str:
        """The gold SQL as the guard regenerates it (LIMIT added), for exact-set match with the model's."""
        verdict = check(sql, self.context)
        return verdict.sql if verdict.ok else sql

    def check_all(self, questions: Iterable[Question]) -> None:
        """ConfigError naming the first gold SQL the guard refuses, so a bad one fails before any question runs."""
        for question in questions:
            if question.sql is None:
                continue
            verdict = check(question.sql, self.context)
            if not verdict.ok:
                where = question.extra.get("source", question.id)
                raise ConfigError(
                    f"{where}: the gold SQL of {question.id} is refused by the guard: "
                    f"{verdict.violations[0].message}",
                    hint="fix its sql (one SELECT over the database's tables), or make it null "
                    "if the data cannot answer the question",
                )

    def __call__(self, question: Question) -> pd.DataFrame:
        assert question.sql is not None
        verdict = check(question.sql, self.context)
        if not verdict.ok:
            raise SchemaError(
                f"gold SQL of {question.id} is refused by the guard: {verdict.violations[0].message}",
                hint="fix the question set",
            )
        tree = verdict.tree
        if self.strip_qualifiers:
            tree = tree.copy()
            for table in tree.find_all(exp.Table):
                table.set("db", None)
        return run_tree(self.runner, tree).frame


def _steps(trace: Iterable[Any]) -> list[StepRecord]:
    return [s if isinstance(s, dict) else s.to_dict() for s in trace]


def _calls(steps: list[StepRecord]) -> list[dict[str, Any]]:
    """The outputs of the model's SQL calls (``ReplyOutput``), in order, including a failed call's part."""
    return [
        s["output"]
        for s in steps
        if s["name"] in MODEL_STEPS and isinstance(s.get("output"), dict) and "reply" in s["output"]
    ]


def _replies(steps: list[StepRecord]) -> list[str]:
    """What the model wrote for SQL, call by call."""
    return [call["reply"] for call in _calls(steps)]


def _stops(steps: list[StepRecord]) -> list[str | None]:
    """Why each SQL call ended: the model's own stop, its budget ("length") or a loop ("loop")."""
    return [call.get("finish_reason") for call in _calls(steps)]


def _retrieved_tables(steps: list[StepRecord]) -> list[str] | None:
    for step in steps:
        if step["name"] == StepName.RETRIEVE and step.get("output"):
            return [t["name"] for t in step["output"].get("tables", [])]
    return None


def _table_recall(gold_sql: str | None, retrieved: list[str] | None) -> tuple[list[str], float | None]:
    if gold_sql is None or retrieved is None:
        return [], None
    try:
        gold = [t.lower() for t in tables_in_sql(gold_sql)]
    except SchemaError:
        return [], None
    got = {t.lower() for t in retrieved}
    return gold, (sum(t in got for t in gold) / len(gold) if gold else None)


def record(
    question: Question,
    outcome: RecordOutcome,
    answer: Answer | None,
    steps: list[StepRecord],
    gold: pd.DataFrame | None,
    elapsed_ms: float,
    error: str | None = None,
    gold_checked: str | None = None,
) -> ResultLine:
    """One question's result line: what happened, whether it was right, and what it cost."""
    pred_sql = answer.sql if answer is not None else None
    valid = outcome in ("answered", "empty")
    if question.sql is None:
        correct = outcome == "declined"
    elif valid and gold is not None and answer is not None:
        frame = answer.frame if answer.frame is not None else pd.DataFrame()
        correct = results_match(gold, frame, ordered=orders_at_top(question.sql))
    else:
        correct = False
    guards = [s for s in steps if s["name"] == StepName.GUARD]
    tokens: TokensRecord = {"prompt": 0, "completion": 0}
    times: dict[str, list[float]] = {}
    for s in steps:
        times.setdefault(s["name"], []).append(s["elapsed_ms"])
        if s.get("tokens"):
            tokens["prompt"] += s["tokens"]["prompt"] or 0
            tokens["completion"] += s["tokens"]["completion"] or 0
    retrieved = _retrieved_tables(steps)
    gold_tables, recall = _table_recall(question.sql, retrieved)
    return {
        "id": question.id,
        "question": question.question,
        "split": question.split,
        "db": question.db,
        "difficulty": question.difficulty,
        "category": question.category,
        "features": list(question.features),
        "gold_sql": question.sql,
        "pred_sql": pred_sql,
        "outcome": outcome,
        "correct": bool(correct),
        "valid_sql": valid,
        "exact_match": bool(
            pred_sql and question.sql and exact_set_match(gold_checked or question.sql, pred_sql)
        ),
        "repairs": answer.repairs if answer is not None else max(0, len(guards) - 1),
        "guard_checks": len(guards),
        "guard_rejections": sum(1 for s in guards if not s["output"]["ok"]),
        "run_errors": sum(1 for s in steps if s["name"] == StepName.RUN and s.get("error")),
        "from_example": bool(answer and answer.from_example),
        "rows": None if answer is None or answer.frame is None else len(answer.frame),
        "gold_rows": None if gold is None else len(gold),
        "tables_gold": gold_tables,
        "tables_retrieved": retrieved or [],
        "table_recall": recall,
        "steps_ms": times,
        "total_ms": round(elapsed_ms, 2),
        "tokens": tokens,
        "error": error,
        "replies": _replies(steps),
        "stops": _stops(steps),
    }


def evaluate_question(assistant: Assistant, question: Question, gold: GoldRunner) -> ResultLine:
    """Ask one question and score it; failures are recorded with their steps, an unreachable model raises."""
    gold_frame = gold(question) if question.sql is not None else None
    normalise = getattr(gold, "normalised", None)
    checked = normalise(question.sql) if normalise is not None and question.sql is not None else None
    history = (Turn(question.previous.question, question.previous.sql),) if question.previous else ()
    started = time.perf_counter()
    try:
        answer = assistant.ask(question.question, history=history)
    except FATAL:
        raise
    except AskdbError as exc:  # the assistant puts the steps it ran on the error: the line keeps them
        failed = isinstance(exc, NoAnswer)
        return record(
            question,
            "failed" if failed else "error",
            None,
            _steps(exc.details.get("trace", [])),
            gold_frame,
            (time.perf_counter() - started) * 1000,
            exc.message if failed else exc.one_line(),
        )
    elapsed = (time.perf_counter() - started) * 1000
    return record(
        question, answer.outcome, answer, _steps(answer.trace), gold_frame, elapsed, gold_checked=checked
    )


def read_results(path: Path) -> list[dict[str, Any]]:
    """The records of a results file; a line cut off by an interrupted write is ignored."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # only the last line can be partial: the question is asked again
    return out


def run_questions(
    assistant: Assistant,
    questions: Sequence[Question],
    results: Path,
    gold: GoldRunner,
    *,
    resume: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Evaluate every question not yet in ``results`` (with ``resume``), appending a line for each."""
    done = read_results(results) if resume else []
    seen = {r["id"] for r in done}
    results.parent.mkdir(parents=True, exist_ok=True)
    if not resume:
        results.write_text("", encoding="utf-8")
    elif done:  # rewrite without a possibly partial last line before appending
        results.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in done), encoding="utf-8")
    records = [r for r in done if r["id"] in {q.id for q in questions}]
    with results.open("a", encoding="utf-8") as out:
        for question in questions:
            if question.id in seen:
                continue
            line = evaluate_question(assistant, question, gold)
            out.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
            out.flush()
            records.append(line)
            if progress is not None:
                progress(line)
    order = {q.id: i for i, q in enumerate(questions)}
    return sorted(records, key=lambda r: order.get(r["id"], len(order)))


NO_REUSE = 1.01  # example_match above 1.0: the eval measures the model, never a reused verified example


def eval_assistant(settings: Any, llm: Any) -> Assistant:
    """The assistant as an eval runs it: every question goes to ``llm``, none to a verified example, and
    none is asked back (a gold answer exists for each question as written)."""
    return Assistant.from_settings(settings, llm=llm, example_match=NO_REUSE, clarify=False)


def run_meta(dataset: str, split: str | None, llm: Any, db: str | None) -> dict[str, Any]:
    """What a report says about its run: data, the backend and model that answered, the database."""
    from datetime import UTC, datetime

    from askdb.db import safe_url

    return {
        "dataset": dataset,
        "split": split,
        "backend": llm.name,
        "model": llm.model,
        "db": safe_url(db) if db else None,
        "harness_only": is_harness_backend(llm.name),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_run(out: Path, meta: dict[str, Any], records: list[dict[str, Any]]) -> tuple[dict[str, Any], Path]:
    """Score the records and write result.json and report.md into ``out``; (summary, report path)."""
    from askdb.eval.metrics import summarize
    from askdb.eval.report import write_report, write_result

    summary = summarize(records)
    write_result(out / "result.json", meta, summary, records)
    return summary, write_report(out, {"meta": meta, "summary": summary, "records": records})
