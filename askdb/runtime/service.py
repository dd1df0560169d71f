"""One assistant shared by a long-running front end (the chat, the HTTP API): built once, on first use.

The front ends differ only in how they show events; what they share lives here: the lazily built
assistant, audited questions, the "run SQL" box, 👍/👎 feedback, and a probe that says whether the
model can be reached and how to start it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from askdb.assistant import final_answer
from askdb.errors import ConfigError, DatabaseError, SqlRejected
from askdb.llm.base import ModelStatus  # re-exported: it lived here
from askdb.runtime.audit import AuditLog, audit_log, audited

if TYPE_CHECKING:
    from askdb.assistant import Assistant, Event, Turn
    from askdb.settings import Settings
    from askdb.sql.runner import QueryResult


class AssistantService:
    """The shared assistant of one process. ``assistant`` may be passed in (tests); else built from settings."""

    def __init__(
        self,
        settings: Settings,
        *,
        assistant: Assistant | None = None,
        log: AuditLog | None = None,
        **parts: Any,
    ) -> None:
        self.settings = settings
        self.log = log or audit_log(settings)
        self._assistant = assistant
        self._parts = parts
        self._lock = threading.Lock()

    @property
    def assistant(self) -> Assistant:
        """Built on first use, once, even when many requests arrive together."""
        if self._assistant is None:
            with self._lock:
                if self._assistant is None:
                    self._assistant = self._build()
        return self._assistant

    @property
    def built(self) -> bool:
        return self._assistant is not None

    def _build(self) -> Assistant:
        from askdb.assistant import Assistant
        from askdb.rag.service import open_retriever

        parts = dict(self._parts)
        if "retriever" not in parts:
            # Shared by every request thread: the embedder serialises only its tokenizer.
            parts["retriever"], _ = open_retriever(self.settings)
        assistant = Assistant.from_settings(self.settings, **parts)
        _warm_retriever(assistant)
        return assistant

    # -- questions ------------------------------------------------------------------------------
    def stream(
        self,
        question: str,
        *,
        caller: str,
        history: Sequence[Turn] = (),
        row_limit: int | None = None,
        clarify: bool = True,
    ) -> Iterator[Event]:
        """The workflow's events for one question; the answer or the error goes to the audit log.

        ``row_limit``: this question's row limit (``Assistant.stream``); ``None``: the configured one.
        ``clarify``: False answers as asked, never asking back (a chosen option, a script).
        """
        return audited(
            self.assistant,
            question,
            log=self.log,
            caller=caller,
            history=history,
            row_limit=row_limit,
            clarify=clarify,
        )

    def ask(self, question: str, *, caller: str, history: Sequence[Turn] = ()):
        return final_answer(self.stream(question, caller=caller, history=history))

    def run_sql(self, sql: str, *, caller: str) -> QueryResult:
        """A statement typed by a person: guard, then the read-only runner; audited either way."""
        from askdb.sql.context import GuardContext
        from askdb.sql.guard import check
        from askdb.sql.runner import run_tree

        assistant = self.assistant
        started = time.perf_counter()
        verdict = check(sql, GuardContext(catalog=assistant.catalog, row_limit=assistant.row_limit))
        if not verdict.ok:
            reason = "; ".join(f"[{v.rule}] {v.message}" for v in verdict.violations)
            self.log.record_sql(
                caller=caller,
                sql=sql,
                ran=None,
                refused=[{"sql": sql, "reason": reason}],
                rows=None,
                duration_ms=_ms(started),
            )
            raise SqlRejected(
                f"the guard refused the statement: {reason}",
                violations=verdict.violations,
                hint="only one read-only SELECT over the catalog's tables can run",
            )
        try:
            result = run_tree(assistant.runner, verdict.tree)
        except DatabaseError as exc:
            self.log.record_sql(
                caller=caller,
                sql=sql,
                ran=None,
                refused=[{"sql": verdict.sql, "reason": exc.message}],
                rows=None,
                duration_ms=_ms(started),
                error=f"{type(exc).__name__}: {exc.message}",
            )
            raise
        self.log.record_sql(
            caller=caller,
            sql=sql,
            ran=result.sql,
            refused=[],
            rows=len(result.frame),
            duration_ms=_ms(started),
        )
        return result

    # -- feedback -------------------------------------------------------------------------------
    def feedback(self, *, question: str, sql: str | None, liked: bool, caller: str) -> None:
        """👍 stores the question and its SQL as a verified example, used from the next question on; 👎 is logged."""
        self.log.record_feedback(caller=caller, question=question, sql=sql, liked=liked)
        if liked and sql:
            from askdb.rag.service import add_example

            add_example(self.settings, question, sql)
            self.refresh_examples()

    def refresh_examples(self) -> None:
        """Reload the examples (packaged plus added) into the running retriever; the schema index is kept."""
        from askdb.rag.service import store_for
        from askdb.schemas.knowledge import packaged_examples

        retriever = self.assistant.retriever
        inner = getattr(retriever, "inner", retriever)
        index = getattr(inner, "index", None)
        if index is None or not hasattr(inner, "embedder"):
            return  # another kind of retriever: it reads examples its own way
        examples = store_for(self.settings).examples_for(index.catalog, inner.embedder, packaged_examples())
        inner.index = replace(index, examples=examples)

    # -- the model ------------------------------------------------------------------------------
    def model_status(self, timeout_s: float = 2.0) -> ModelStatus:
        """Ask the configured server whether it runs and has the model; says how to start it if not."""
        return probe_model(self.settings, timeout_s=timeout_s)


def probe_model(settings: Settings, *, timeout_s: float = 2.0) -> ModelStatus:
    """A quick look at the model the settings name: the backend's own ``probe`` (no model is loaded).

    A backend that cannot even be built (unknown name, engine not installed, replay file unset)
    is reported ready here, as before: the first question raises its ConfigError with the fix.
    """
    from askdb.llm.registry import create_llm

    try:
        llm = create_llm(settings)
    except ConfigError:
        return ModelStatus(True)
    status = llm.probe(timeout_s)
    tuned = tuned_ggufs(settings.home) if not status.ok and settings.llm_backend == "ollama" else []
    if tuned:
        status = ModelStatus(
            False,
            f"{status.message} 也可以离线使用 `askdb finetune all` 微调好的模型:"
            f"`ASKDB_LLM_BACKEND=llamacpp ASKDB_LLM_MODEL={tuned[0]} askdb chat`。",
        )
    return status


def tuned_ggufs(home: Path) -> list[Path]:
    """GGUFs that ``askdb finetune`` exported under ``home``, newest first."""
    runs = home / "finetune" / "runs"
    found = [p for p in runs.glob("*/gguf/*.gguf") if not p.name.startswith(".")] if runs.is_dir() else []
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


WARM_QUESTION = "各平台达人的平均粉丝数"


def _warm_retriever(assistant: Assistant) -> None:
    """One retrieval before the first question: it opens the ONNX graph and loads the word segmenter.

    Otherwise the first questions of a process wait for those together (seen: 15 s for the first
    questions of a second ``--workers`` process that opened its graph under load). A failure here
    is left to the first question, which reports it with its status.
    """
    import contextlib

    with contextlib.suppress(Exception):
        assistant.retriever.retrieve(WARM_QUESTION, assistant.k)
