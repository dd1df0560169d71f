"""The ads question set: Chinese questions with MySQL gold SQL, tagged, split into train and test.

The set lives in ``askdb/eval/data/ads_questions.jsonl``, one question a line. ``split`` is fixed by
a hash of the question's id (``split_of``), so adding questions never moves an old one between
train and test. The test split is for measuring only: never fine-tune on it, never make it a
verified example.

A person's own question set (``askdb eval --questions FILE.jsonl``) has the same format, read by the
same line schema; only ``question`` and ``sql`` are required there (``id`` defaults to ``q<line>``).
Every line is checked before any question is asked, so a typo on line 80 does not cost 79 answers.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from askdb.errors import ConfigError

SPLITS = ("train", "test")
TRAIN_SHARE = 60  # percent of ids that hash into train
NEAR_DUPLICATE = 0.8  # difflib ratio of normalised text at which two questions count as the same


@dataclass(frozen=True)
class Previous:
    """The earlier turn a follow-up question depends on."""

    question: str
    sql: str


@dataclass(frozen=True)
class Question:
    """One evaluation question; ``sql`` None means the right answer is to decline."""

    id: str
    question: str
    sql: str | None
    split: str | None  # None: a person's own question set, which has no train/test split
    difficulty: str = "medium"
    features: tuple[str, ...] = ()
    previous: Previous | None = None
    db: str | None = None  # external sets: which database the question is about
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def answerable(self) -> bool:
        return self.sql is not None

    @property
    def category(self) -> str:
        """The headline feature, for per-category accuracy."""
        return self.features[0] if self.features else "other"


def split_of(question_id: str) -> str:
    """train or test, from a hash of the id: deterministic on every machine."""
    bucket = int(hashlib.sha256(question_id.encode("utf-8")).hexdigest(), 16) % 100
    return "train" if bucket < TRAIN_SHARE else "test"


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text


_Text = Annotated[str, AfterValidator(_not_blank)]


class _PreviousLine(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    question: _Text
    sql: _Text


class QuestionLine(BaseModel):
    """One line of a question file, as written; ``sql`` must be there, null for "decline this"."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: _Text | None = None
    question: _Text
    sql: _Text | None
    split: Literal["train", "test"] | None = None
    difficulty: _Text = "medium"
    features: list[_Text] = []
    previous: _PreviousLine | None = None


LINE_FORMAT = (
    'each line is one JSON object: {"question": "...", "sql": "SELECT ..." or null to mean the data '
    'cannot answer it (the right outcome is then a decline); optional "id", "difficulty", '
    '"features": ["..."], "previous": {"question": "...", "sql": "..."}}'
)
_FIX = {
    "question": "give the question as a non-empty string",
    "sql": "give the gold SQL as a string, or null when the data cannot answer the question",
    "id": "give the id as a non-empty string, or leave it out (the default is q<line number>)",
    "features": 'give features as a list of strings, e.g. ["filter", "aggregate"]',
    "previous": 'give previous as {"question": "...", "sql": "..."} (the earlier turn), or leave it out',
    "split": 'give split as "train" or "test", or leave it out',
    "difficulty": 'give difficulty as a string such as "easy", or leave it out',
}


def _problem(exc: ValidationError) -> tuple[str, str]:
    """What is wrong with a line, and how to fix it, from pydantic's first complaint."""
    first = exc.errors()[0]
    key = ".".join(str(part) for part in first["loc"])
    if first["type"] == "missing":
        problem = f"`{key}` is missing"
    elif first["type"] == "extra_forbidden":
        problem = f"unknown key `{key}`"
    else:
        problem = f"`{key}`: {first['msg'].removeprefix('Value error, ')}"
    known = f"the keys are {', '.join(QuestionLine.model_fields)}"
    return problem, _FIX.get(str(first["loc"][0]), known)


def _question(line: str, source: str, n: int, required: tuple[str, ...]) -> Question:
    def bad(problem: str, hint: str) -> ConfigError:
        return ConfigError(f"{source}:{n}: {problem}", hint=hint, file=source, line=n)

    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise bad(f"not JSON ({exc.msg} at column {exc.colno})", LINE_FORMAT) from None
    if not isinstance(record, dict):
        raise bad(f"a JSON {type(record).__name__}, not an object", LINE_FORMAT)
    try:
        parsed = QuestionLine.model_validate(record)
    except ValidationError as exc:
        raise bad(*_problem(exc)) from None
    missing = [key for key in required if getattr(parsed, key) is None]
    if missing:
        raise bad(f"`{missing[0]}` is missing", f"this set needs {' and '.join(required)} on every line")
    previous = parsed.previous
    return Question(
        id=parsed.id or f"q{n}",
        question=parsed.question,
        sql=parsed.sql,
        split=parsed.split,
        difficulty=parsed.difficulty,
        features=tuple(parsed.features),
        previous=Previous(previous.question, previous.sql) if previous else None,
        extra={"source": f"{source}:{n}"},
    )


def parse_questions(text: str, source: str, *, required: tuple[str, ...] = ()) -> list[Question]:
    """Every question of a question file's text; ConfigError naming ``source:line`` at the first bad line.

    ``required``: optional keys this set must have all the same (the ads set: ``id`` and ``split``).
    """
    questions: list[Question] = []
    first_line: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        question = _question(line, source, n, required)
        if question.id in first_line:
            raise ConfigError(
                f"{source}:{n}: duplicate id {question.id!r} (first on line {first_line[question.id]})",
                hint="give every question its own id (a line without one gets q<line number>)",
                file=source,
                line=n,
            )
        first_line[question.id] = n
        questions.append(question)
    return questions


def load_ads_questions(split: str | None = None) -> list[Question]:
    """The packaged ads question set, optionally one split."""
    if split is not None and split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}", hint=f"use one of: {', '.join(SPLITS)}")
    text = resources.files("askdb.eval").joinpath("data/ads_questions.jsonl").read_text(encoding="utf-8")
    rows = parse_questions(text, "ads_questions.jsonl", required=("id", "split"))
    return [q for q in rows if split is None or q.split == split]


def load_questions_file(path: Path) -> list[Question]:
    """A person's own question set (the ads format, see ``LINE_FORMAT``), every line checked first."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # -sig: a byte-order mark from a Windows editor
    except FileNotFoundError:
        raise ConfigError(
            f"questions file {path} does not exist", hint="pass the path of a .jsonl file to --questions"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read questions file {path}: {exc}", hint="save it as UTF-8 text") from None
    questions = parse_questions(text, str(path))
    if not questions:
        raise ConfigError(f"questions file {path} holds no questions", hint=LINE_FORMAT)
    return questions


_PUNCT = re.compile(r"[\s,。,.!?!?、;;::\"'“”‘’()()]+")


def normalise(text: str) -> str:
    """Text without punctuation and case, as near-duplicate checks compare it."""
    return _PUNCT.sub("", text).lower()


def similarity(a: str, b: str) -> float:
    """How alike two questions read (0..1), on normalised text."""
    return difflib.SequenceMatcher(None, normalise(a), normalise(b)).ratio()


def near_duplicates(
    questions: list[str], others: list[str], threshold: float = NEAR_DUPLICATE
) -> list[tuple[str, str, float]]:
    """Every (question, other, similarity) pair at or above the threshold."""
    found = []
    for q in questions:
        for o in others:
            score = similarity(q, o)
            if score >= threshold:
                found.append((q, o, round(score, 3)))
    return found
