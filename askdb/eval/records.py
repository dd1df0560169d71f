"""The shape of one question's result line in ``results.jsonl`` (and of ``result.json``'s records).

Reports, ``eval compare``, ``--resume`` and anyone's notebook read these lines by key, so the keys
and their types are written down once here and a test checks every line a run writes against it.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired

from pydantic import TypeAdapter
from typing_extensions import TypedDict  # pydantic validates only this one on Python 3.11

# answered | empty | declined come from the assistant; failed: no acceptable SQL; error: the model failed.
RecordOutcome = Literal["answered", "empty", "declined", "failed", "error"]


class TokensRecord(TypedDict):
    prompt: int
    completion: int


class StepTokens(TypedDict):
    prompt: int | None
    completion: int | None


class StepRecord(TypedDict):
    """One workflow step as ``Step.to_dict`` writes it; ``name`` is a ``askdb.events.StepName`` value."""

    name: str
    input: Any
    output: Any
    elapsed_ms: float
    tokens: StepTokens | None
    error: str | None


class ResultLine(TypedDict):
    """One question: what happened, whether it was right, and what it cost."""

    id: str
    question: str
    split: str | None
    db: str | None
    difficulty: str | None
    category: str | None
    features: list[str]
    gold_sql: str | None
    pred_sql: str | None
    outcome: RecordOutcome
    correct: bool
    valid_sql: bool
    exact_match: bool
    repairs: int
    guard_checks: int
    guard_rejections: int
    run_errors: int
    from_example: bool
    rows: int | None
    gold_rows: int | None
    tables_gold: list[str]
    tables_retrieved: list[str]
    table_recall: float | None
    steps_ms: dict[str, list[float]]
    total_ms: float
    tokens: TokensRecord
    error: str | None
    # The model's replies for SQL (sql_llm, then each repair_llm), so a failure can be read after the
    # run. Results files written before it was added lack the key; --resume and reports accept that.
    replies: NotRequired[list[str]]
    # Why each of those calls ended: "stop" (the model ended it), "length" (cut at max_tokens), "loop"
    # (stopped because it kept repeating itself, askdb.llm.loops), None where the backend did not say.
    stops: NotRequired[list[str | None]]


RESULT_LINE = TypeAdapter(ResultLine)


def validate_line(line: Any) -> ResultLine:
    """``line`` checked against the schema; raises pydantic's ValidationError naming the bad key."""
    return RESULT_LINE.validate_python(line, strict=True)
