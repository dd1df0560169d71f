"""What one question's run produces, as types: the steps of its trace, the events it streams,
and the ``Answer`` it ends in.

Front ends match on the event classes (``match event: case SqlReady(sql=sql): ...``) instead
of decoding ``kind`` strings; ``kind`` and ``payload()`` stay for the wire (server-sent event
names and their JSON), which is unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, is_dataclass
from enum import StrEnum
from typing import Any, ClassVar, Literal

import pandas as pd

from askdb.analyst import EMPTY_RESULT
from askdb.frames import plain_rows
from askdb.llm.base import Usage
from askdb.sql.context import RowLimit, zh_reason

Outcome = Literal["answered", "empty", "declined", "clarify"]


class StepName(StrEnum):
    """The nodes of the workflow, as the trace names them (equal to their plain strings)."""

    RETRIEVE = "retrieve"
    EXAMPLE = "example"
    SQL_LLM = "sql_llm"
    REPAIR_LLM = "repair_llm"
    EXTRACT = "extract"
    GUARD = "guard"
    RUN = "run"
    FORECAST = "forecast"
    ANALYST = "analyst"


# -- step outputs ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TableHit:
    name: str
    score: float
    via: str


@dataclass(frozen=True)
class RetrieveOutput:
    tables: list[TableHit]
    values: list[str]
    examples: list[str]
    notes: list[str]
    tokens: int  # the context's size as the retriever counted it


@dataclass(frozen=True)
class ExampleOutput:
    sql: str
    reused: bool = True


@dataclass(frozen=True)
class ReplyOutput:
    """What a model call wrote (``sql_llm``, ``repair_llm``) and why it stopped.

    ``cut`` is true when the reply reached its budget (``max_tokens``) before the model ended it.
    """

    reply: str
    finish_reason: str | None = None
    cut: bool = False


@dataclass(frozen=True)
class ExtractOutput:
    sql: str | None = None
    source: str | None = None
    declined: str | None = None

    def to_dict(self) -> dict[str, Any]:
        if self.declined is not None:
            return {"declined": self.declined}
        return {"sql": self.sql, "source": self.source}


@dataclass(frozen=True)
class GuardOutput:
    """The guard's verdict; ``limit``: the LIMIT the statement asked for and the one it runs with."""

    ok: bool
    sql: str
    violations: list[dict[str, str]]
    limit: RowLimit | None = None

    def to_dict(self) -> dict[str, Any]:
        limit = None if self.limit is None else self.limit.to_dict()
        return {"ok": self.ok, "sql": self.sql, "violations": self.violations, "limit": limit}


@dataclass(frozen=True)
class RunOutput:
    rows: int
    truncated: bool


@dataclass(frozen=True)
class AnalystOutput:
    chars: int


@dataclass(frozen=True)
class ForecastOutput:
    """What the forecast step decided: the method, how far, and its backtest MASE."""

    chosen: str
    horizon: int
    freq: str
    mase: float | None
    fit_seconds: float


StepOutput = (
    RetrieveOutput
    | ExampleOutput
    | ReplyOutput
    | ExtractOutput
    | GuardOutput
    | RunOutput
    | ForecastOutput
    | AnalystOutput
)


def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict") and not isinstance(value, type):
        return value.to_dict()
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return value


@dataclass
class Step:
    """One node of the workflow run, as the trace shows it."""

    name: StepName
    input: Any = None
    output: StepOutput | None = None
    elapsed_ms: float = 0.0
    tokens: Usage | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        tokens = (
            None
            if self.tokens is None
            else {"prompt": self.tokens.prompt_tokens, "completion": self.tokens.completion_tokens}
        )
        return {
            "name": str(self.name),
            "input": self.input,
            "output": _plain(self.output),
            "elapsed_ms": round(self.elapsed_ms, 2),
            "tokens": tokens,
            "error": self.error,
        }


@dataclass(frozen=True)
class Turn:
    """An earlier question in the conversation and the SQL that answered it."""

    question: str
    sql: str | None = None


class NoticeReason(StrEnum):
    """Why a notice was shown; front ends branch on this, never on the notice's text."""

    ANALYSIS_FAILED = "analysis_failed"  # the rows are the answer; the model could not write the analysis
    ROW_LIMIT = "row_limit"  # the guard's LIMIT held rows back: fewer than the SQL asked for
    NO_FORECAST = "no_forecast"  # the question asked about the future, but the rows are no series to forecast
    HORIZON_CUT = "horizon_cut"  # the history is too short for as far ahead as the question asked


@dataclass
class Answer:
    """Everything one question produced.

    ``limit``: the LIMIT the SQL asked for and the one it ran with (``None`` before a statement ran);
    ``truncated``: rows were held back, by that LIMIT or by the runner's cap. ``notices``: every
    notice in order; ``notice`` and ``notice_reason`` are the latest.
    """

    question: str
    outcome: Outcome = "answered"
    sql: str | None = None
    frame: pd.DataFrame | None = None
    truncated: bool = False
    limit: RowLimit | None = None
    labels: dict[str, str] = field(default_factory=dict)  # column -> the header people read (粉丝数)
    table: str = ""
    analysis: str = ""
    reasoning: str = ""
    chart: dict[str, Any] | None = None
    forecast: dict[str, Any] | None = None  # Forecast.to_dict(history=True) when the question asked ahead
    forecast_markdown: str = ""  # the forecast table and the backtest metrics beside the baselines'
    clarify: dict[str, Any] | None = None  # outcome "clarify": the question back and its options
    from_example: bool = False
    repairs: int = 0
    notice: str | None = None
    notice_reason: NoticeReason | None = None
    notices: list[Notice] = field(default_factory=list)
    trace: list[Step] = field(default_factory=list)

    @property
    def markdown(self) -> str:
        """The answer as a person reads it: the result table first, then the analysis."""
        if self.outcome == "clarify" and self.clarify is not None:
            options = [f"{i}. {o['label']}" for i, o in enumerate(self.clarify["options"], 1)]
            return "\n".join([f"**需要确认:** {self.clarify['question']}", "", *options])
        if self.outcome == "empty":  # with the range of days the data covers, when the question missed it
            return self.analysis or EMPTY_RESULT
        return "\n\n".join(part for part in (self.table, self.forecast_markdown, self.analysis) if part)

    def to_dict(self, *, trace: bool = True) -> dict[str, Any]:
        """Plain values; ``trace=False`` leaves the workflow's steps out."""
        frame = self.frame if self.frame is not None else pd.DataFrame()
        data: dict[str, Any] = {
            "question": self.question,
            "outcome": self.outcome,
            "sql": self.sql,
            "columns": [str(c) for c in frame.columns],
            "labels": self.labels,
            "rows": plain_rows(frame),
            "truncated": self.truncated,
            "limit": None if self.limit is None else self.limit.to_dict(),
            "markdown": self.markdown,
            "analysis": self.analysis,
            "reasoning": self.reasoning,
            "chart": self.chart,
            "forecast": self.forecast,
            "clarify": self.clarify,
            "from_example": self.from_example,
            "repairs": self.repairs,
            "notice": self.notice,
            "notices": [n.payload() for n in self.notices],
        }
        if trace:
            data["trace"] = [s.to_dict() for s in self.trace]
        return data


# -- events ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Event:
    kind: ClassVar[str]

    def payload(self) -> dict[str, Any]:
        """The event's fields as the wire carries them (``/v1/ask`` streams, SSE ``data``)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class StepFinished(_Event):
    """A node of the workflow finished; its ``Step`` is in the trace from now on."""

    kind: ClassVar[str] = "step"
    step: Step

    def payload(self) -> dict[str, Any]:
        return self.step.to_dict()


@dataclass(frozen=True)
class ReasoningDelta(_Event):
    """A piece of the model's reasoning (shown collapsed; never part of the answer)."""

    kind: ClassVar[str] = "reasoning"
    text: str


@dataclass(frozen=True)
class ContentDelta(_Event):
    """A piece of the SQL model's raw reply as it streams (before extraction)."""

    kind: ClassVar[str] = "content"
    text: str


@dataclass(frozen=True)
class SqlReady(_Event):
    """A statement passed the guard and is about to run."""

    kind: ClassVar[str] = "sql"
    sql: str
    from_example: bool = False


@dataclass(frozen=True)
class SqlRejected(_Event):
    """A statement the guard refused (``violations``) or the database could not run (``error``)."""

    kind: ClassVar[str] = "rejected"
    sql: str
    violations: tuple[dict[str, str], ...] = ()
    error: str | None = None
    retrying: bool = False  # another attempt follows (the model is asked to correct it)

    def payload(self) -> dict[str, Any]:
        if self.error is not None:
            return {"sql": self.sql, "error": self.error, "retrying": self.retrying}
        return {"ok": False, "sql": self.sql, "violations": list(self.violations), "retrying": self.retrying}

    @property
    def reason(self) -> str:
        return self.error or "; ".join(v["message"] for v in self.violations)

    @property
    def zh_reason(self) -> str:
        """The reason as a person reads it: each rule in Chinese ahead of its exact message."""
        if self.error is not None:
            return f"数据库执行出错({self.error})"
        return ";".join(zh_reason(v["rule"], v["message"]) for v in self.violations)


@dataclass(frozen=True)
class TableReady(_Event):
    """The result rows, as markdown and as columns + rows, with a chart spec when one suits.

    ``limit``: the LIMIT the SQL asked for and the one it ran with; ``truncated``: rows were held
    back (``limited``: by that LIMIT, and a ``row_limit`` notice follows).
    """

    kind: ClassVar[str] = "table"
    markdown: str
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    chart: dict[str, Any] | None
    limit: RowLimit | None = None
    labels: dict[str, str] = field(default_factory=dict)  # column -> its comment, where the SQL named none

    @property
    def limited(self) -> bool:
        return self.limit is not None and self.limit.cut(len(self.rows))


@dataclass(frozen=True)
class Clarify(_Event):
    """The question has two readings: one short question back, each option the question to ask next."""

    kind: ClassVar[str] = "clarify"
    question: str
    reason: str
    options: list[dict[str, str]]  # {"label", "question"}


@dataclass(frozen=True)
class ForecastReady(_Event):
    """The forecast of the rows: a markdown table with its band and the backtest beside the baselines."""

    kind: ClassVar[str] = "forecast"
    markdown: str
    forecast: dict[str, Any]


@dataclass(frozen=True)
class AnalysisDelta(_Event):
    """A piece of the analysis text (or the whole ``没有查询到相关数据`` for an empty result)."""

    kind: ClassVar[str] = "analysis"
    text: str


@dataclass(frozen=True)
class Notice(_Event):
    """Something the person should know beside the answer; ``reason`` says what, ``text`` says it in Chinese."""

    kind: ClassVar[str] = "notice"
    text: str
    reason: NoticeReason

    def payload(self) -> dict[str, Any]:
        return {"text": self.text, "reason": str(self.reason)}


@dataclass(frozen=True)
class Finished(_Event):
    """The last event of every run."""

    kind: ClassVar[str] = "answer"
    answer: Answer

    def payload(self) -> dict[str, Any]:
        return {"answer": self.answer}


Event = (
    StepFinished
    | ReasoningDelta
    | ContentDelta
    | SqlReady
    | SqlRejected
    | TableReady
    | ForecastReady
    | Clarify
    | AnalysisDelta
    | Notice
    | Finished
)
