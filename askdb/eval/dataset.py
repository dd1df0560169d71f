"""The ads question set: Chinese questions with MySQL gold SQL, tagged, split into train and test.

The set lives in ``askdb/eval/data/ads_questions.jsonl``, one question a line. ``split`` is fixed by
a hash of the question's id (``split_of``), so adding questions never moves an old one between
train and test. The test split is for measuring only: never fine-tune on it, never make it a
verified example.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

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
    split: str
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


def _question(record: dict[str, Any], where: str) -> Question:
    try:
        previous = record.get("previous")
        return Question(
            id=record["id"],
            question=record["question"],
            sql=record.get("sql"),
            split=record["split"],
            difficulty=record.get("difficulty", "medium"),
            features=tuple(record.get("features", ())),
            previous=Previous(previous["question"], previous["sql"]) if previous else None,
        )
    except (KeyError, TypeError) as exc:
        raise ConfigError(
            f"{where}: bad question record ({exc})", hint="each line needs id, question, sql, split"
        ) from None


def load_ads_questions(split: str | None = None) -> list[Question]:
    """The packaged ads question set, optionally one split."""
    if split is not None and split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}", hint=f"use one of: {', '.join(SPLITS)}")
    text = resources.files("askdb.eval").joinpath("data/ads_questions.jsonl").read_text(encoding="utf-8")
    rows = [
        _question(json.loads(line), f"ads_questions.jsonl:{n}")
        for n, line in enumerate(text.splitlines(), 1)
        if line.strip()
    ]
    return [q for q in rows if split is None or q.split == split]


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
