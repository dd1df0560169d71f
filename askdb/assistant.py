"""The workflow: retrieve -> prompt -> LLM -> extract -> guard -> run (with repairs) -> analyst.

One generator of events drives everything; ``ask`` collects it into an ``Answer``, the CLI prints
it as it comes, the UI and the HTTP API stream it. Every step lands in the trace with its input,
output, time and tokens, the way a Dify workflow run shows each node.
"""

from __future__ import annotations

import asyncio
import difflib
import re
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

from askdb.analyst import analyst_messages, chart_spec, empty_result_text, markdown_table
from askdb.clarify import Clarification, clarification
from askdb.errors import (
    AskdbError,
    ConfigError,
    ForecastError,
    LLMError,
    NoAnswer,
    PromptTooLong,
    QueryError,
)
from askdb.events import (
    AnalysisDelta,
    AnalystOutput,
    Answer,
    Clarify,
    ContentDelta,
    Event,
    ExampleOutput,
    ExtractOutput,
    Finished,
    ForecastOutput,
    ForecastReady,
    GuardOutput,
    Notice,
    NoticeReason,
    ReasoningDelta,
    ReplyOutput,
    RetrieveOutput,
    RunOutput,
    SqlReady,
    SqlRejected,
    Step,
    StepFinished,
    StepName,
    TableHit,
    TableReady,
    Turn,
)
from askdb.forecast.intent import ForecastIntent, forecast_intent, forecast_markdown, plan_forecast
from askdb.forecast.pipeline import forecast_series
from askdb.frames import plain_rows
from askdb.llm.base import LLM, Message, Usage
from askdb.llm.budget import Budget, budget_for, calibrate, count_prompt, is_reasoning_model
from askdb.llm.extract import NoSql, SqlFound, ThinkStream, extract
from askdb.llm.loops import LOOP, LoopGuard
from askdb.prompts import messages as prompt_messages
from askdb.prompts.fit import Fitted, fit_prompt
from askdb.rag.dates import date_lines
from askdb.rag.retriever import DEFAULT_K
from askdb.schemas.catalog import Catalog
from askdb.sql.context import GuardContext, RowLimit, Violation
from askdb.sql.guard import Verdict, check
from askdb.sql.labels import column_labels
from askdb.sql.runner import QueryResult, Runner, run_tree

if TYPE_CHECKING:
    import pandas as pd

    from askdb.forecast.result import Forecast
    from askdb.rag.retriever import Retrieval, Retriever
    from askdb.settings import Settings


T = TypeVar("T")
# A step of the workflow: a generator of events that returns what the next step needs.
Steps = Generator[Event, None, T]

__all__ = ["Answer", "Assistant", "Conversation", "Event", "Step", "StepName", "Turn", "final_answer"]


@dataclass
class _Run:
    """Mutable state of one question's run."""

    question: str
    history: Sequence[Turn]
    answer: Answer
    row_limit: int
    verdict: Verdict | None = None  # the statement that ran
    ranges: Sequence[Any] = ()  # the days of data of the time columns retrieval showed
    intent: ForecastIntent | None = None  # the question asks about the future: forecast the rows


class Assistant:
    """Text-to-SQL over one database. Parts are passed in; ``from_settings`` builds the usual ones."""

    def __init__(
        self,
        *,
        retriever: Retriever,
        llm: LLM,
        runner: Runner,
        catalog: Catalog,
        analyst_llm: LLM | None = None,
        row_limit: int = 10,
        max_rows: int = 1000,
        max_attempts: int = 3,
        example_match: float = 0.92,
        system_in_user: bool = False,
        temperature: float = 0.1,
        k: int = DEFAULT_K,
        num_ctx: int = 4096,
        max_tokens: int = 1024,
        reasoning_tokens: int | None = None,
        think: bool | None = None,
        clarify: bool = True,
        today: Callable[[], date | None] | None = None,
    ) -> None:
        self.retriever = retriever
        # the SQL prompt's 今天 (tests pass a fixed day; a clock giving None leaves the date lines out)
        self.today = today or date.today
        self.llm = llm
        self.analyst_llm = analyst_llm
        self.runner = runner
        self.catalog = catalog
        self.row_limit = row_limit
        self.max_rows = max_rows
        self.max_attempts = max_attempts
        self.example_match = example_match
        self.system_in_user = system_in_user
        self.temperature = temperature
        self.k = k
        self.num_ctx = num_ctx
        self.max_tokens = max_tokens
        self.reasoning_tokens = reasoning_tokens
        self.think = think
        self.clarify = clarify  # one question back for two readings; eval and scripts turn it off

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **parts: Any) -> Assistant:
        """The assistant for the configured database and model; any part may be passed in instead."""
        from askdb.db import make_engine, safe_url
        from askdb.llm.registry import create_llm
        from askdb.rag.service import open_retriever
        from askdb.schemas.catalog import catalog_for_engine
        from askdb.settings import load_settings
        from askdb.sql.runner import SqlAlchemyRunner

        settings = settings or load_settings()
        if "runner" not in parts or "catalog" not in parts:
            engine = make_engine(settings.database_url, read_only=True)
            parts.setdefault(
                "runner",
                SqlAlchemyRunner(engine, timeout_s=settings.statement_timeout_s, max_rows=settings.max_rows),
            )
            if "catalog" not in parts:
                parts["catalog"] = catalog_for_engine(engine).require_tables(safe_url(settings.database_url))
        if "retriever" not in parts:
            parts["retriever"], _built = open_retriever(settings)
        parts.setdefault("llm", create_llm(settings))
        defaults = {
            "row_limit": settings.row_limit,
            "max_rows": settings.max_rows,
            "max_attempts": settings.max_attempts,
            "system_in_user": settings.llm_system_in_user,
            "temperature": settings.llm_temperature,
            "num_ctx": settings.llm_num_ctx,
            "max_tokens": settings.llm_max_tokens,
            "reasoning_tokens": settings.llm_reasoning_tokens,
            "think": settings.llm_think,
            "clarify": settings.clarify,
        }
        return cls(**{**defaults, **parts})

    # -- public API -----------------------------------------------------------------------------
    def ask(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        row_limit: int | None = None,
        clarify: bool = True,
    ) -> Answer:
        """Answer one question: ``stream`` run to its end.

        Args:
            question: the question; ``history``: earlier turns, oldest first; ``row_limit``: the
                most rows this question returns (see ``stream``).

        Returns:
            The ``Answer``: outcome, checked SQL, rows as a DataFrame, markdown, analysis, trace.

        Raises:
            NoAnswer: no acceptable SQL after ``max_attempts``; LLMError: the SQL model failed;
            AskdbError: an empty question; ConfigError: ``row_limit`` outside 1..``max_rows``.
        """
        return final_answer(self.stream(question, history=history, row_limit=row_limit, clarify=clarify))

    async def aask(
        self, question: str, *, history: Sequence[Turn] = (), row_limit: int | None = None
    ) -> Answer:
        """``ask`` without blocking the event loop."""
        return await asyncio.to_thread(self.ask, question, history=history, row_limit=row_limit)

    async def astream(
        self, question: str, *, history: Sequence[Turn] = (), row_limit: int | None = None
    ) -> AsyncIterator[Event]:
        """``stream`` for async callers: events as they happen, the work in a worker thread."""
        queue: asyncio.Queue[Event | BaseException | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def produce() -> None:
            try:
                for event in self.stream(question, history=history, row_limit=row_limit):
                    loop.call_soon_threadsafe(queue.put_nowait, event)
                loop.call_soon_threadsafe(queue.put_nowait, None)
            except BaseException as exc:  # noqa: BLE001 (handed to the consumer, raised there)
                loop.call_soon_threadsafe(queue.put_nowait, exc)

        worker = loop.run_in_executor(None, produce)
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
        await worker

    def stream(
        self,
        question: str,
        *,
        history: Sequence[Turn] = (),
        row_limit: int | None = None,
        clarify: bool = True,
    ) -> Steps[None]:
        """Run the workflow, yielding its events as they happen.

        Args:
            question: the question, in any language the model reads (askdb's prompts are Chinese).
            history: earlier turns of the conversation, oldest first; follow-ups need them.
            row_limit: the most rows this question returns, 1..``max_rows`` (``ASKDB_MAX_ROWS``);
                ``None``: the assistant's ``row_limit`` (``ASKDB_ROW_LIMIT``). The SQL prompt
                names it and the guard puts it on the statement.
            clarify: ask one question back when the question has two readings (a period the data
                does not cover, a term two tables answer); False: answer as asked (the chosen option
                of a clarification, scripts). Off for the whole assistant with ``clarify=False``.

        Yields:
            ``StepFinished`` after every node, ``ReasoningDelta``/``ContentDelta`` while a model
            writes, ``SqlReady`` or ``SqlRejected`` for each statement, ``TableReady``,
            ``AnalysisDelta``, ``Notice``; always ``Finished`` (with the ``Answer``) last.

        Raises:
            AskdbError: the question is empty; ConfigError: ``row_limit`` is outside 1..``max_rows``.
            NoAnswer: no acceptable SQL after ``max_attempts`` (its ``trace`` keeps the steps).
            LLMError: the SQL model could not be reached or failed (the analyst's failure is a notice).
        """
        question = question.strip()
        if not question:
            raise AskdbError(
                "the question is empty", hint="ask something about the data, e.g. 点赞最多的笔记"
            )
        intent = forecast_intent(question)
        limit = self._question_limit(question, row_limit)
        run = _Run(question, tuple(history), Answer(question=question), limit, intent=intent)
        try:
            retrieval = yield from self._retrieve(run)
            if (
                self.clarify
                and clarify
                and (ask := clarification(question, retrieval, self.catalog, self.today()))
            ):
                yield self._clarify(run, ask)
                yield Finished(run.answer)
                return
            reused = yield from self._reuse_example(run, retrieval)
            result = reused if reused is not None else (yield from self._write_and_run(run, retrieval))
            if result is not None:
                yield from self._analyse(run, result)
        except AskdbError as exc:  # a failed question keeps its trace, like an answered one
            exc.details.setdefault("trace", [s.to_dict() for s in run.answer.trace])
            raise
        yield Finished(run.answer)

    def _question_limit(self, question: str, wanted: int | None) -> int:
        """The rows this question returns at most: as asked, else ASKDB_ROW_LIMIT, else (a question about
        the future, which needs the whole history to forecast) ASKDB_MAX_ROWS."""
        if wanted is None and forecast_intent(question) is not None:
            wanted = self.max_rows
        return self._row_limit(wanted)

    def _row_limit(self, wanted: int | None) -> int:
        if wanted is None:
            return self.row_limit
        if not 1 <= wanted <= self.max_rows:
            raise ConfigError(
                f"the row limit must be 1 to {self.max_rows} (ASKDB_MAX_ROWS), not {wanted}",
                hint=f"ask for at most {self.max_rows} rows, or raise ASKDB_MAX_ROWS",
                row_limit=wanted,
                max_rows=self.max_rows,
            )
        return wanted

    def budget(self, llm: LLM | None = None) -> Budget:
        """How the model's context window is split between prompt and reply for every call."""
        return budget_for(
            llm or self.llm,
            num_ctx=self.num_ctx,
            max_tokens=self.max_tokens,
            reasoning_tokens=self.reasoning_tokens,
            think=self.think,
        )

    def fit(
        self,
        question: str,
        retrieval: Retrieval,
        history: Sequence[Turn] = (),
        *,
        row_limit: int | None = None,
    ) -> Fitted:
        """The SQL-expert chat for ``question``, trimmed to the model's context window.

        ``row_limit``: the rows the prompt asks for at most (default: the assistant's ``row_limit``).

        Raises:
            PromptTooLong: not even the rules, the question and the needed tables fit.
        """
        sections: Sequence[Any] = retrieval.sections or [_WholeContext(retrieval.context)]
        limit = self._question_limit(question, row_limit)
        return self._fit(sections, lambda kept: self._sql_chat(question, history, kept, limit))

    def _sql_chat(
        self, question: str, history: Sequence[Turn], kept: Sequence[Any], row_limit: int
    ) -> list[Message]:
        return sql_messages(
            question,
            history,
            "\n\n".join(s.text for s in kept),
            row_limit=row_limit,
            system_in_user=self.system_in_user,
            today=self.today(),
            forecast=forecast_intent(question) is not None,
        )

    def _fit(self, sections: Sequence[Any], build: Callable[[Sequence[Any]], list[Message]]) -> Fitted:
        budget = self.budget()
        return fit_prompt(
            sections,
            build,
            lambda chat: count_prompt(self.llm, chat),
            budget.prompt_limit,
            settings_hint=(
                f"raise ASKDB_LLM_NUM_CTX (now {budget.n_ctx}; the server must serve that much too) "
                f"or lower ASKDB_LLM_MAX_TOKENS / ASKDB_LLM_REASONING_TOKENS (the reply keeps {budget.max_tokens})"
            ),
        )

    def conversation(self) -> Conversation:
        return Conversation(self)

    # -- steps ----------------------------------------------------------------------------------
    def _step(self, run: _Run, step: Step, started: float) -> StepFinished:
        step.elapsed_ms = (time.perf_counter() - started) * 1000
        run.answer.trace.append(step)
        return StepFinished(step)

    def _retrieve(self, run: _Run) -> Steps[Retrieval]:
        started = time.perf_counter()
        query = retrieval_query(run.question, run.history)
        retrieval = self.retriever.retrieve(query, self.k)
        run.ranges = retrieval.ranges
        yield self._step(
            run,
            Step(
                StepName.RETRIEVE,
                {"query": query, "k": self.k},
                RetrieveOutput(
                    tables=[TableHit(t.name, round(t.score, 4), t.via) for t in retrieval.tables],
                    values=[f"{v.table}.{v.column}={v.value}" for v in retrieval.values],
                    examples=[e.question for e in retrieval.examples],
                    notes=[n.name for n in retrieval.notes],
                    tokens=retrieval.tokens,
                ),
            ),
            started,
        )
        return retrieval

    def _reuse_example(self, run: _Run, retrieval: Retrieval) -> Steps[QueryResult | None]:
        """A verified example asking the same thing answers without the model."""
        if run.history:
            return None
        match = _best_example(run.question, retrieval)
        if match is None or match[1] < self.example_match:
            return None
        started = time.perf_counter()
        example, similarity = match
        verdict = check(example.sql, self._guard_context(run))
        if not verdict.ok:
            return None
        yield self._step(
            run,
            Step(
                StepName.EXAMPLE,
                {"question": example.question, "similarity": round(similarity, 3)},
                ExampleOutput(verdict.sql),
            ),
            started,
        )
        yield SqlReady(verdict.sql, from_example=True)
        # the model writes fresh SQL when the example fails, so a correction does follow
        result = yield from self._execute(run, verdict, attempt=0, retrying=True)
        if isinstance(result, AskdbError):
            return None  # the data changed under the example: let the model write fresh SQL
        run.answer.from_example = True
        return result

    def _write_and_run(self, run: _Run, retrieval: Retrieval) -> Steps[QueryResult | None]:
        first = fitted = self.fit(run.question, retrieval, run.history, row_limit=run.row_limit)
        problem = ""
        repair: dict[str, Any]
        for attempt in range(1, self.max_attempts + 1):
            replied = yield from self._generate(
                run, fitted, StepName.SQL_LLM if attempt == 1 else StepName.REPAIR_LLM
            )
            reply = replied.reply
            # a reply cut at its budget: the repair says so, so the model answers shorter
            cut = replied.max_tokens if replied.cut else None
            found = yield from self._extract(run, reply)
            if isinstance(found, NoSql) and not (cut or replied.looped):
                run.answer.outcome = "declined"
                run.answer.analysis = found.text.strip() or "无法回答这个问题。"
                return None
            if isinstance(found, NoSql):  # cut before any SQL: not a decline, the budget ran out
                problem = (
                    "the reply kept repeating itself before any SQL"
                    if replied.looped
                    else f"the reply was cut at its budget of {cut} tokens before any SQL"
                )
                said = reply[:200] + "…"
                repair = {"sql": "", "violations": [], "error": None}
            else:
                said = f"```sql\n{found.sql}\n```"
                retrying = attempt < self.max_attempts
                verdict = yield from self._guard(run, found.sql, retrying=retrying)
                if verdict.ok:
                    result = yield from self._execute(run, verdict, attempt, retrying=retrying)
                    if not isinstance(result, AskdbError):
                        run.answer.repairs = attempt - 1
                        return result
                    problem = result.message
                    repair = {"sql": verdict.sql, "violations": [], "error": result.message}
                else:
                    problem = "; ".join(f"[{v.rule}] {v.message}" for v in verdict.violations)
                    repair = {
                        "sql": found.sql,
                        "violations": [_violation(v) for v in verdict.violations],
                        "error": None,
                    }
            # The repair goes on the same conversation (the cached prefix still matches) and carries
            # the rejected statement and the problem, not a long rambling reply.
            tail = [*fitted.messages[len(first.messages) :], Message("assistant", said)]
            tail += prompt_messages("repair", **repair, cut=cut, looped=replied.looped)
            fitted = self._refit(run, first, tail)
        raise NoAnswer(
            f"no acceptable SQL after {self.max_attempts} attempts; last problem: {problem}",
            hint="rephrase the question, add a verified example for it, or use a stronger model"
            + (" (or raise ASKDB_LLM_MAX_TOKENS: the replies were cut)" if cut else ""),
            trace=[s.to_dict() for s in run.answer.trace],
        )

    def _refit(self, run: _Run, first: Fitted, tail: list[Message]) -> Fitted:
        """The repair chat: the first prompt with ``tail`` appended, trimmed further only if it must be."""

        def build(kept: Sequence[Any]) -> list[Message]:
            same = len(kept) == len(first.kept)
            chat = first.messages if same else self._sql_chat(run.question, run.history, kept, run.row_limit)
            return [*chat, *tail]

        fitted = self._fit(first.kept, build)
        return replace(fitted, trimmed=[*first.trimmed, *fitted.trimmed])

    def _generate(self, run: _Run, fitted: Fitted, name: StepName) -> Steps[_Reply]:
        started = time.perf_counter()
        reasoning: list[str] = []
        usage: Usage | None = None
        finish: str | None = None
        budget = self.budget()
        step_input = {
            "messages": len(fitted.messages),
            "model": self.llm.model,
            **fitted.to_dict(),
            "max_tokens": budget.max_tokens,
            "n_ctx": budget.n_ctx,
        }
        guard = LoopGuard(
            self.llm.stream(fitted.messages, temperature=self.temperature, max_tokens=budget.max_tokens)
        )
        try:
            for chunk in guard:
                if chunk.reasoning:
                    reasoning.append(chunk.reasoning)
                    yield ReasoningDelta(chunk.reasoning)
                if chunk.content:
                    yield ContentDelta(chunk.content)
                usage = chunk.usage or usage
                finish = chunk.finish_reason or finish
            if guard.stopped:
                finish = LOOP
                usage = guard.usage(self.llm, fitted.messages, fitted.tokens, budget.max_tokens)
        except LLMError as exc:  # the trace keeps the call that failed, with what it wrote so far
            yield self._step(
                run,
                Step(name, step_input, ReplyOutput(guard.content.text), tokens=usage, error=exc.message),
                started,
            )
            raise
        if fitted.counted_by == "estimate" and usage is not None:
            calibrate(self.llm, fitted.messages, usage.prompt_tokens)
        reply = guard.kept()
        # Backends that split reasoning give it here; R1 text with <think> is split by extract().
        run.answer.reasoning += "".join(reasoning)
        output = ReplyOutput(reply, finish_reason=finish, cut=finish == "length")
        yield self._step(run, Step(name, step_input, output, tokens=usage), started)
        return _Reply(reply, output.cut, budget.max_tokens, looped=finish == LOOP)

    @staticmethod
    def _analysis_pieces(pieces: list[tuple[str, str]], thought: list[str]) -> Iterator[Event]:
        for kind, text in pieces:
            if kind == "reasoning":
                thought.append(text)
                yield ReasoningDelta(text)
            else:
                yield AnalysisDelta(text)

    def _extract(self, run: _Run, reply: str) -> Steps[SqlFound | NoSql]:
        started = time.perf_counter()
        extraction = extract(reply)
        if extraction.reasoning:
            run.answer.reasoning += extraction.reasoning
            yield ReasoningDelta(extraction.reasoning)  # <think> inside the reply: whole once split
        outcome = extraction.outcome
        output = (
            ExtractOutput(declined=outcome.reason)
            if isinstance(outcome, NoSql)
            else ExtractOutput(sql=outcome.sql, source=outcome.source)
        )
        yield self._step(run, Step(StepName.EXTRACT, {"chars": len(reply)}, output), started)
        return outcome

    def _guard_context(self, run: _Run) -> GuardContext:
        return GuardContext(catalog=self.catalog, row_limit=run.row_limit)

    def _guard(self, run: _Run, sql: str, *, retrying: bool) -> Steps[Verdict]:
        started = time.perf_counter()
        verdict = check(sql, self._guard_context(run))
        violations = [_violation(v) for v in verdict.violations]
        output = GuardOutput(verdict.ok, verdict.sql, violations, verdict.limit)
        yield self._step(run, Step(StepName.GUARD, {"sql": sql}, output), started)
        if verdict.ok:
            yield SqlReady(verdict.sql)
        else:
            yield SqlRejected(verdict.sql, violations=tuple(violations), retrying=retrying)
        return verdict

    def _execute(
        self, run: _Run, verdict: Verdict, attempt: int, *, retrying: bool
    ) -> Steps[QueryResult | QueryError]:
        started = time.perf_counter()
        try:
            result = run_tree(self.runner, verdict.tree)
        except QueryError as exc:  # bad column, bad function, timeout: the model can fix these
            yield self._step(
                run,
                Step(StepName.RUN, {"sql": verdict.sql, "attempt": attempt}, None, error=exc.message),
                started,
            )
            yield SqlRejected(verdict.sql, error=exc.message, retrying=retrying)
            return exc
        run.answer.sql, run.verdict = verdict.sql, verdict
        run.answer.limit = verdict.limit
        if verdict.limit is not None and verdict.limit.cut(len(result.frame)):
            result = replace(result, truncated=True)  # the guard's LIMIT, not the data, ended the rows
        yield self._step(
            run,
            Step(
                StepName.RUN,
                {"sql": result.sql, "dialect": self.runner.dialect},
                RunOutput(len(result.frame), result.truncated),
            ),
            started,
        )
        return result

    def _analyse(self, run: _Run, result: QueryResult) -> Steps[None]:
        answer = run.answer
        answer.frame, answer.truncated = result.frame, result.truncated
        if result.frame.empty:
            answer.outcome = "empty"
            tree = run.verdict.tree if run.verdict is not None else None
            answer.analysis = empty_result_text(tree, run.ranges, self.today() or date.today())
            yield AnalysisDelta(answer.analysis)
            return
        if run.verdict is not None:
            answer.labels = column_labels(run.verdict.tree, self.catalog)
        answer.table = markdown_table(result.frame, answer.labels)
        answer.chart = chart_spec(result.frame, ordered=run.verdict is not None and run.verdict.ordered)
        yield TableReady(
            markdown=answer.table,
            columns=[str(c) for c in result.frame.columns],
            rows=plain_rows(result.frame),
            truncated=result.truncated,
            chart=answer.chart,
            limit=answer.limit,
            labels=answer.labels,
        )
        if answer.limit is not None and answer.limit.cut(len(result.frame)):
            yield self._notice(answer, limit_notice(answer.limit, self.max_rows), NoticeReason.ROW_LIMIT)
        if run.intent is not None:
            yield from self._forecast(run, run.intent, result.frame)
        started = time.perf_counter()
        llm = self.analyst_llm or self.llm
        chat = analyst_messages(
            run.question,
            answer.sql or "",
            result.frame,
            truncated=result.truncated,
            system_in_user=self.system_in_user,
            table=answer.table,
            forecast=answer.forecast_markdown,  # the analyst reads the forecast and its backtest too
        )
        thought: list[str] = []
        usage: Usage | None = None
        budget = self.budget(llm)
        try:
            tokens, counted_by = count_prompt(llm, chat)
            if tokens > budget.prompt_limit:
                raise PromptTooLong(
                    f"the analysis prompt needs {tokens} tokens ({counted_by}) but {budget.prompt_limit} fit",
                    hint="raise ASKDB_LLM_NUM_CTX or lower ASKDB_ROW_LIMIT",
                )
            # An R1 model writes <think>...</think> before its analysis (the template may open it):
            # that text streams as reasoning, never as the analysis people read.
            split = ThinkStream(opened=is_reasoning_model(llm.model) and self.think is not False)
            guard = LoopGuard(
                llm.stream(chat, temperature=self.temperature, max_tokens=budget.max_tokens), reasoning=False
            )
            for chunk in guard:
                if chunk.reasoning:
                    thought.append(chunk.reasoning)
                    yield ReasoningDelta(chunk.reasoning)
                if chunk.content:
                    yield from self._analysis_pieces(split.feed(chunk.content), thought)
                usage = chunk.usage or usage
            if guard.stopped:  # the same sentence until max_tokens: kept once in the answer (guard.kept())
                usage = guard.usage(llm, chat, tokens, budget.max_tokens)
            yield from self._analysis_pieces(split.close(), thought)
        except LLMError as exc:  # the rows are still the answer; say why the analysis is missing
            yield self._step(
                run, Step(StepName.ANALYST, {"rows": len(result.frame)}, None, error=exc.message), started
            )
            yield self._notice(answer, f"分析未生成:{exc.one_line()}", NoticeReason.ANALYSIS_FAILED)
            return
        answer.analysis = extract(guard.kept()).answer.strip()
        if thought:
            answer.reasoning = "\n\n".join(
                t for t in (answer.reasoning.strip(), "".join(thought).strip()) if t
            )
        yield self._step(
            run,
            Step(
                StepName.ANALYST,
                {"rows": len(result.frame)},
                AnalystOutput(len(answer.analysis)),
                tokens=usage,
            ),
            started,
        )

    def _forecast(self, run: _Run, intent: ForecastIntent, frame: pd.DataFrame) -> Steps[None]:
        """The rows as a series, forecast as far as the question asked (or as the history allows)."""
        started = time.perf_counter()
        answer = run.answer
        try:
            planned = plan_forecast(frame, intent)
            result = forecast_series(planned.series, planned.horizon)
        except (ForecastError, ConfigError) as exc:  # the rows stay the answer; say why there is no forecast
            yield self._step(
                run, Step(StepName.FORECAST, {"rows": len(frame)}, None, error=exc.message), started
            )
            yield self._notice(answer, f"无法预测:{exc.one_line()}", NoticeReason.NO_FORECAST)
            return
        answer.forecast = result.to_dict(history=True)
        answer.forecast_markdown = forecast_markdown(result)
        output = ForecastOutput(
            result.chosen, planned.horizon, planned.series.freq.code, _mase(result), result.fit_seconds
        )
        yield self._step(
            run, Step(StepName.FORECAST, {"rows": len(frame), **planned.to_dict()}, output), started
        )
        yield ForecastReady(answer.forecast_markdown, answer.forecast)
        if planned.cut:
            yield self._notice(answer, planned.cut, NoticeReason.HORIZON_CUT)

    @staticmethod
    def _clarify(run: _Run, ask: Clarification) -> Clarify:
        run.answer.outcome = "clarify"
        run.answer.clarify = ask.to_dict()
        run.answer.analysis = ask.question
        return Clarify(ask.question, ask.reason, ask.to_dict()["options"])

    @staticmethod
    def _notice(answer: Answer, text: str, reason: NoticeReason) -> Notice:
        notice = Notice(text, reason)
        answer.notices.append(notice)
        answer.notice, answer.notice_reason = text, reason  # the latest, as before
        return notice


def _mase(result: Forecast) -> float | None:
    chosen = result.metrics if result.chosen == "lightgbm" else result.baselines.get(result.chosen, {})
    value = chosen.get("mase")
    return float(value) if isinstance(value, (int, float)) else None


def limit_notice(limit: RowLimit, max_rows: int) -> str:
    """What the person reads when the guard's LIMIT held rows back, and how to get more."""
    asked = f"SQL 要求 LIMIT {limit.requested}" if limit.requested is not None else "SQL 没有限定行数"
    return (
        f"只显示了前 {limit.applied} 行({asked});可以调高行数上限"
        f"(askdb ask --limit、/v1/ask 的 limit、聊天设置里的“最多返回行数”),最多 {max_rows} 行"
    )


def final_answer(events: Iterable[Event]) -> Answer:
    """Run a workflow's events to the end and return its Answer (the last event of every run)."""
    answer: Answer | None = None
    for event in events:
        if isinstance(event, Finished):
            answer = event.answer
    assert answer is not None, "the workflow ended without an answer event"
    return answer


def retrieval_query(question: str, history: Sequence[Turn]) -> str:
    """What the retriever searches with: a follow-up ("那抖音的呢?") names too little on its own,
    so the last earlier question comes along."""
    return " ".join([t.question for t in history[-1:]] + [question])


def sql_messages(
    question: str,
    history: Sequence[Turn],
    context: str,
    *,
    row_limit: int,
    system_in_user: bool = False,
    today: date | None = None,
    forecast: bool = False,
) -> list[Message]:
    """The SQL-expert chat for one question: the assistant sends it, fine-tuning trains on it.

    ``today``: the day relative dates (上个月, 最近7天) are counted from; None leaves the date lines out.
    ``forecast``: the question asks about the future, so the SQL is to return the history series.
    """
    return prompt_messages(
        "sql_expert",
        system_in_user=system_in_user,
        context=context,
        history=[{"question": t.question, "sql": t.sql} for t in history],
        question=question,
        row_limit=row_limit,
        dates=date_lines(question, today),
        forecast=forecast,
    )


class Conversation:
    """Follow-up questions keep their context: each answered turn is remembered."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.turns: list[Turn] = []

    def ask(self, question: str, *, clarify: bool = True) -> Answer:
        answer = self.assistant.ask(question, history=self.turns, clarify=clarify)
        if answer.outcome != "clarify":  # a question back is no turn: the option asked next is
            self.turns.append(Turn(question, answer.sql))
        return answer


@dataclass(frozen=True)
class _Reply:
    """What one model call wrote, whether its budget cut it, and that budget."""

    reply: str
    cut: bool
    max_tokens: int
    looped: bool = False  # stopped early because its end kept repeating (askdb.llm.loops)


@dataclass(frozen=True)
class _WholeContext:
    """The context of a retriever that does not hand it over in sections: one needed piece."""

    text: str
    kind: str = "table"
    name: str = "context"
    needed: bool = True


def _violation(v: Violation) -> dict[str, str]:
    return v.to_dict()


_PUNCT = re.compile(r"[\s,。,.!?!?、;;::\"'“”‘’()()]+")


def _normalise(text: str) -> str:
    return _PUNCT.sub("", text).lower()


def _best_example(question: str, retrieval: Retrieval) -> tuple[Any, float] | None:
    wanted = _normalise(question)
    scored = [
        (e, difflib.SequenceMatcher(None, wanted, _normalise(e.question)).ratio()) for e in retrieval.examples
    ]
    return max(scored, key=lambda pair: pair[1], default=None)
