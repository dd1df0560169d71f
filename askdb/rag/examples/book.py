"""The verified examples, packaged and added: listed, added through the guard, removed.

Packaged examples ship with the schema and cannot be removed; added ones live in the home's
``examples.jsonl`` (``IndexStore.examples_path``), which every retrieval merges with the packaged
ones, so an added example counts from the next question on without rebuilding the index.

Two questions are the same when they differ only in spacing, punctuation (full-width or not) or
letter case, the way the assistant matches a question to an example: adding one that is already
there is refused unless ``replace`` is asked for. Replacing a packaged example stores the new one
under the packaged question's exact text, which is the key the retrieval's merge overrides by.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

from askdb.errors import AskdbError, SqlRejected
from askdb.files import write_atomic
from askdb.rag.store import IndexStore
from askdb.schemas.knowledge import Example
from askdb.sql.context import GuardContext

Source = Literal["packaged", "added"]
_NOISE = re.compile(r"[\s\W_]+")


class ExampleExists(AskdbError):
    """A verified example for the same question is already there (added or packaged)."""

    zh = "这个问题已有已验证示例"


class ExampleNotFound(AskdbError):
    """No added example has that question or id."""

    zh = "找不到这个已验证示例"


class PackagedExample(AskdbError):
    """The question or id names an example that ships with askdb, which cannot be removed."""

    zh = "内置示例不能删除"


def question_key(question: str) -> str:
    """What makes two questions the same: NFKC (full-width to ASCII), no spaces or punctuation, lower case."""
    return _NOISE.sub("", unicodedata.normalize("NFKC", question)).casefold()


def example_id(question: str) -> str:
    """A short id for a question, the same for every spelling of it (``question_key``)."""
    return hashlib.sha256(question_key(question).encode("utf-8")).hexdigest()[:8]


@dataclass(frozen=True)
class Listed:
    """One verified example as ``askdb examples list`` and ``GET /v1/examples`` show it."""

    example: Example
    source: Source
    replaces_packaged: bool = False

    @property
    def id(self) -> str:
        return example_id(self.example.question)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "question": self.example.question,
            "sql": self.example.sql,
            "tables": list(self.example.tables),
            "source": self.source,
            "replaces_packaged": self.replaces_packaged,
        }


@dataclass(frozen=True)
class Added:
    """What ``ExampleBook.add`` did: the example stored, and the one it replaced (if any)."""

    listed: Listed
    replaced: Listed | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "example": self.listed.to_dict(),
            "replaced": self.replaced.to_dict() if self.replaced else None,
        }


class ExampleBook:
    """The packaged examples and the ones added under a store's root; reads the file on every call."""

    def __init__(self, store: IndexStore, packaged: tuple[Example, ...]) -> None:
        self.store = store
        self.packaged = packaged

    def list(self) -> list[Listed]:
        """Every example retrieval sees: packaged first, in file order, then added; an added one
        that replaces a packaged one stands in its place."""
        added = {question_key(e.question): e for e in self.store.added_examples()}
        shown = []
        for example in self.packaged:
            mine = added.pop(question_key(example.question), None)
            shown.append(Listed(mine, "added", True) if mine else Listed(example, "packaged"))
        return shown + [Listed(e, "added") for e in added.values()]

    def add(self, question: str, sql: str, context: GuardContext, *, replace: bool = False) -> Added:
        """Store a verified example after the guard accepts its SQL (as ``askdb sql check`` would).

        Raises ``SqlRejected`` (nothing stored) when the guard refuses, and ``ExampleExists``
        when the question is already there and ``replace`` is false.
        """
        example = guarded_example(question, sql, context)
        key = question_key(example.question)
        found = next((x for x in self.list() if question_key(x.example.question) == key), None)
        if found is not None and not replace:
            where = "a packaged example" if found.source == "packaged" else "an added example"
            raise ExampleExists(
                f"{where} already answers this question: {found.example.question!r} (id {found.id})",
                hint='pass --replace (API: "replace": true) to store yours in its place',
            )
        packaged = next((e for e in self.packaged if question_key(e.question) == key), None)
        if packaged is not None:  # the retrieval's merge overrides by exact text: keep the packaged text
            example = Example(packaged.question, example.sql, example.tables)
        kept = [e for e in self.store.added_examples() if question_key(e.question) != key]
        self._write([*kept, example])
        return Added(Listed(example, "added", packaged is not None), found)

    def remove(self, question_or_id: str) -> Listed:
        """Remove an added example by its question (any spelling) or id; packaged ones stay."""
        wanted = question_or_id.strip()
        match = [x for x in self.list() if _names(x, wanted)]
        if not match:
            raise ExampleNotFound(
                f"no verified example has the question or id {wanted!r}",
                hint="`askdb examples list` shows the questions and ids",
            )
        found = match[0]
        if found.source == "packaged":
            raise PackagedExample(
                f"{found.example.question!r} (id {found.id}) is a packaged example and cannot be removed",
                hint="add one for the same question with --replace to answer it differently",
            )
        key = question_key(found.example.question)
        self._write([e for e in self.store.added_examples() if question_key(e.question) != key])
        return found

    def _write(self, examples: list[Example]) -> None:
        lines = "".join(json.dumps(e.to_dict(), ensure_ascii=False) + "\n" for e in examples)
        write_atomic(self.store.examples_path, lines.encode("utf-8"))


def _names(listed: Listed, wanted: str) -> bool:
    return listed.id == wanted.lower() or question_key(listed.example.question) == question_key(wanted)


def guarded_example(question: str, sql: str, context: GuardContext) -> Example:
    """An example whose SQL the guard accepts; ``SqlRejected`` says which rules refused it.

    The SQL is kept as written (its full-width punctuation made ASCII, a final ``;`` dropped), not
    as the guard rewrote it: the LIMIT the guard adds belongs to each question's row limit.
    """
    from askdb.sql.fullwidth import ascii_punctuation
    from askdb.sql.guard import check

    verdict = check(sql, context)
    if not verdict.ok:
        reason = "; ".join(f"[{v.rule}] {v.message}" for v in verdict.violations)
        raise SqlRejected(
            f"the guard refused the example's SQL, so it was not stored: {reason}",
            violations=verdict.violations,
            hint="only one read-only SELECT over the database's tables can be a verified example",
        )
    return Example.create(question, ascii_punctuation(sql).strip().rstrip(";").strip())
