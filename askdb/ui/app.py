"""The Gradio chat (``askdb chat``): answers stream in as they form.

Each answer shows the model's reasoning in a collapsed block, the SQL in a code block, the result
table, the analyst's markdown and the workflow's trace (collapsed); below the chat, the same rows
in a sortable table with CSV and Excel downloads, and a chart when the result suits one. The chart is drawn
by Gradio from the rows and the ``chart`` spec (column names); nothing the model wrote is run.
A 👍 stores the question and its SQL as a verified example; 👎 is logged. When the model cannot be
reached a banner says how to start it; verified examples and the "运行 SQL" tab keep working.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import pandas as pd

from askdb.errors import AskdbError, ConfigError, LLMAuthError, LLMUnavailable, ModelNotFound
from askdb.events import (
    AnalysisDelta,
    Answer,
    Clarify,
    ContentDelta,
    Event,
    ExampleOutput,
    Finished,
    ForecastReady,
    GuardOutput,
    Notice,
    NoticeReason,
    ReasoningDelta,
    RetrieveOutput,
    RunOutput,
    SqlReady,
    SqlRejected,
    Step,
    StepFinished,
    StepName,
    TableReady,
    Turn,
)
from askdb.frames import plain_rows
from askdb.runtime.service import AssistantService

if TYPE_CHECKING:
    from askdb.settings import Settings

# Each one a shipped verified example (tests/test_readme_examples.py checks): they answer before any model runs.
EXAMPLES = [
    "点赞最多的10篇笔记是哪些?",
    "粉丝最多的20个美妆达人",
    "各平台的达人数量和平均粉丝数",
    "各品牌的ROI是多少?",
    "每天的总花费是多少?",
    "小红书上预算最高的5个投放计划",
]
CSS = """
#askdb-banner {background: #fff4e5; border: 1px solid #f0b45a; border-radius: 8px; padding: 4px 12px;}
footer {display: none !important;}
"""
REFRESH_S = 0.12  # streamed text is redrawn at most this often; structural events redraw at once


def _gradio() -> Any:
    try:
        import gradio
    except ImportError:
        raise ConfigError(
            "the chat needs Gradio, which is not installed", hint="pip install 'askdb[ui]'"
        ) from None
    return gradio


# -- what one answer looks like while it forms -----------------------------------------------------------
@dataclass
class _Draft:
    """The pieces of one answer as events arrive, rendered into chat messages."""

    question: str
    reasoning: str = ""
    reply: str = ""  # the SQL model's raw reply, shown while there is no separate reasoning
    sql: str | None = None
    from_example: bool = False
    rejected: list[str] = field(default_factory=list)
    table: str = ""
    truncated: bool = False
    limited: bool = False  # the guard's LIMIT held rows back (a notice says so)
    analysis: str = ""
    notices: list[Notice] = field(default_factory=list)
    forecast: str = ""  # the forecast table and its backtest, when the question asked ahead
    clarify: str = ""  # the question back and its options, when the question had two readings
    error: str = ""
    steps: list[Step] = field(default_factory=list)
    done: bool = False
    started: float = field(default_factory=time.perf_counter)

    def apply(self, event: Event) -> None:
        match event:
            case ReasoningDelta(text=text):
                self.reasoning += text
            case ContentDelta(text=text):
                self.reply += text
            case SqlReady(sql=sql, from_example=from_example):
                self.sql, self.from_example = sql, from_example
            case SqlRejected(sql=sql, retrying=retrying):
                lead = "SQL 未通过,已让模型修正" if retrying else "SQL 未通过"
                self.rejected.append(f"{lead}:`{sql}`:{event.zh_reason}")
                self.reply = ""
            case TableReady(markdown=markdown, truncated=truncated):
                self.table, self.truncated, self.limited = markdown, truncated, event.limited
            case ForecastReady(markdown=markdown):
                self.forecast = markdown
            case Clarify(question=asked, options=options):
                listed = "\n".join(f"{i}. {o['label']}" for i, o in enumerate(options, 1))
                self.clarify = f"**需要确认:** {asked}\n\n{listed}\n\n*(在下方选一项即可提问)*"
            case AnalysisDelta(text=text):
                self.analysis += text
            case Notice():
                self.notices.append(event)
            case StepFinished(step=step):
                self.steps.append(step)
            case Finished(answer=answer):
                self.finish(answer)

    def finish(self, answer: Answer) -> None:
        self.done = True
        self.reasoning = answer.reasoning or self.reasoning
        self.sql = answer.sql or self.sql
        if answer.outcome == "declined":
            self.analysis = answer.analysis
        elif answer.outcome == "answered":
            self.analysis = answer.analysis or self.analysis

    def messages(self) -> list[dict[str, Any]]:
        status = "done" if self.done or self.error else "pending"
        out = []
        thought = self.reasoning.strip() or ("" if self.done else self.reply.strip())
        if thought:
            out.append(
                {
                    "role": "assistant",
                    "content": thought,
                    "metadata": {
                        "title": "🧠 思考过程",
                        "status": "done" if self.sql or self.done else status,
                    },
                }
            )
        out.append({"role": "assistant", "content": self.body()})
        if self.steps and (self.done or self.error):
            total = sum(s.elapsed_ms for s in self.steps) / 1000
            out.append(
                {
                    "role": "assistant",
                    "content": trace_markdown(self.steps),
                    "metadata": {
                        "title": f"🔧 工作流:{len(self.steps)} 步",
                        "duration": round(total, 2),
                        "status": "done",
                    },
                }
            )
        return out

    def body(self) -> str:
        parts = []
        for problem in self.rejected:
            parts.append(f"⚠️ {problem}")
        if self.sql:
            source = "(来自已验证示例)" if self.from_example else ""
            parts.append(f"**SQL**{source}\n\n```sql\n{self.sql}\n```")
        if self.table:
            # A row-limit notice says how many rows and how to get more: the short note would repeat it.
            note = "\n\n*(结果过多,只显示了一部分)*" if self.truncated and not self.limited else ""
            parts.append(self.table + note)
        if self.forecast:
            parts.append(self.forecast)
        if self.clarify:
            parts.append(self.clarify)
        if self.analysis:
            parts.append(self.analysis)
        parts.extend(f"> ⚠️ {n.text}" for n in self.notices)
        if self.error:
            parts.append(f"❌ {self.error}")
        if not parts:
            parts.append("⏳ 正在检索表结构、生成 SQL…" if not self.steps else "⏳ 正在生成 SQL…")
        return "\n\n".join(parts)


def trace_markdown(steps: list[Step]) -> str:
    """The workflow's steps as a table, then what retrieval found and any repairs."""
    lines = ["| 步骤 | 用时 (ms) | tokens | 结果 |", "|---|---:|---:|---|"]
    for s in steps:
        tokens = f"{s.tokens.prompt_tokens or 0}/{s.tokens.completion_tokens or 0}" if s.tokens else ""
        lines.append(f"| {s.name} | {s.elapsed_ms:.1f} | {tokens} | {_step_result(s)} |")
    retrieve = next((s for s in steps if s.name == StepName.RETRIEVE), None)
    if retrieve is not None and isinstance(out := retrieve.output, RetrieveOutput):
        tables = ", ".join(
            f"`{t.name}` ({t.score:.3f}{', join' if t.via == 'join' else ''})" for t in out.tables
        )
        lines += ["", f"**检索到的表:** {tables or '无'}"]
        if out.values:
            lines.append(f"**匹配的字段值:** {', '.join(f'`{v}`' for v in out.values)}")
        if out.examples:
            lines.append(f"**参考示例:** {'; '.join(out.examples)}")
        if out.notes:
            lines.append(f"**业务说明:** {', '.join(out.notes)}")
    return "\n".join(lines)


def _step_result(step: Step) -> str:
    if step.error:
        return f"✗ {_cell(step.error)}"
    match step.output:
        case GuardOutput(ok=True):
            return "通过"
        case GuardOutput(violations=violations):
            return "未通过: " + _cell("; ".join(v["message"] for v in violations))
        case RunOutput(rows=rows):
            return f"{rows} 行"
        case ExampleOutput():
            return "复用已验证示例"
    return ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:160]


# -- rows for the table, the chart and the CSV ---------------------------------------------------------
def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows with Decimal as float, NULL as an empty cell (not nan) and column names as text."""
    shown = frame.copy()
    shown.columns = [str(c) for c in shown.columns]
    for column in shown.columns:
        if shown[column].map(lambda v: isinstance(v, Decimal)).any():
            shown[column] = shown[column].map(lambda v: float(v) if isinstance(v, Decimal) else v)
    gaps = [i for i, column in enumerate(shown.columns) if shown[column].isna().any()]
    if gaps:  # what JSON carries: None, and a nullable INT's values as integers
        plain = plain_rows(shown)
        for i in gaps:
            shown.isetitem(i, pd.Series([row[i] for row in plain], index=shown.index, dtype=object))
    return shown


def chart_frame(frame: pd.DataFrame, chart: dict[str, Any]) -> pd.DataFrame:
    """The two columns the spec names, typed for plotting (dates parsed, numbers as float)."""
    x, y = chart["x"], chart["y"]
    data = display_frame(frame)[[x, y]].copy()
    data[y] = pd.to_numeric(data[y], errors="coerce")
    if chart["type"] == "line":
        data[x] = pd.to_datetime(data[x].astype(str).str[:19], errors="coerce", format="mixed")
    else:
        data[x] = data[x].astype(str)
    return data.dropna()


def forecast_frame(forecast: dict[str, Any]) -> pd.DataFrame:
    """History and forecast in long form for one line chart: a line each for 历史, 预测, 下限 and 上限."""
    rows = [("历史", p["time"], p["value"]) for p in forecast.get("history", [])]
    for p in forecast["forecast"]:
        rows += [
            ("预测", p["time"], p["value"]),
            ("下限", p["time"], p["lower"]),
            ("上限", p["time"], p["upper"]),
        ]
    data = pd.DataFrame(rows, columns=["series", "time", "value"])
    data["time"] = pd.to_datetime(data["time"], format="mixed")
    data["value"] = pd.to_numeric(data["value"], errors="coerce")
    return data


def bar_order(data: pd.DataFrame, chart: dict[str, Any]) -> list[str] | None:
    """The bars' order when the SQL sorted the rows (``"order": "rows"``); ``None``: the plot sorts by label."""
    if chart.get("order") != "rows":
        return None
    return list(dict.fromkeys(data[chart["x"]]))  # a label twice is one bar, where it first came


def csv_file(frame: pd.DataFrame, folder: Path) -> str:
    """The rows as CSV with a BOM, so that Excel opens the Chinese text correctly."""
    folder.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkstemp(prefix="askdb-", suffix=".csv", dir=folder)[1])
    display_frame(frame).to_csv(path, index=False, encoding="utf-8-sig")
    return str(path)


def xlsx_file(answer: Answer, folder: Path) -> str:
    """The rows of the CSV as an Excel workbook, with the question and the SQL on a second sheet."""
    from askdb.export import write_xlsx

    assert answer.frame is not None
    folder.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkstemp(prefix="askdb-", suffix=".xlsx", dir=folder)[1])
    frame = display_frame(answer.frame.rename(columns=answer.labels))  # the headers of the chat's table
    return str(write_xlsx(path, frame, question=answer.question, sql=answer.sql))


# -- what a handler shows, by component ---------------------------------------------------------------
class _Keep:
    """Leave the component as it is: a handler's dict leaves it out, and Gradio skips it."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = _Keep()


class ChatView(NamedTuple):
    """One redraw of the 问答 tab by ``respond``: each field is named for the component it updates.

    ``build_app`` wires the ``ask`` event to exactly these fields and hands Gradio a dict keyed by
    component, so nothing lines up by position; fields left as ``KEEP`` are not sent.
    """

    chat: Any
    question: Any = KEEP
    table: Any = KEEP
    download: Any = KEEP
    bar: Any = KEEP
    line: Any = KEEP
    trace: Any = KEEP
    excel: Any = KEEP  # after the panels clients unpack by position from the HTTP API, before the states
    clarify: Any = KEEP  # the options of a question back, as choices that ask them
    banner: Any = KEEP
    history: Any = KEEP
    answers: Any = KEEP


# The other events' outputs, by component name (the order is the HTTP API's order of results).
CLEAR_OUTPUTS: Final = (
    "chat",
    "history",
    "answers",
    "trace",
    "table",
    "download",
    "bar",
    "line",
    "excel",
    "clarify",
)
SETTINGS_OUTPUTS: Final = ("config", "banner", "chat", "history", "answers")
RUN_SQL_OUTPUTS: Final = ("sql_status", "sql_table")


def keyed(view: ChatView | Mapping[str, Any], components: Mapping[str, Any]) -> dict[Any, Any]:
    """A handler's named updates as Gradio takes them: keyed by the component objects."""
    named = view._asdict() if isinstance(view, ChatView) else view
    return {components[name]: value for name, value in named.items() if value is not KEEP}


# -- the app -------------------------------------------------------------------------------------------
class ChatApp:
    """Services by (backend, model, database), built when first asked for; the settings panel picks one."""

    def __init__(self, settings: Settings, *, service: AssistantService | None = None) -> None:
        self.settings = settings
        self.default = (settings.llm_backend, settings.llm_model, settings.database_url)
        self._services: dict[tuple[str, str, str], AssistantService] = {}
        if service is not None:
            self._services[self.default] = service
        self._lock = threading.Lock()
        self.files = Path(tempfile.mkdtemp(prefix="askdb-ui-"))

    def service(self, config: dict[str, str] | None) -> AssistantService:
        key = self._key(config)
        with self._lock:
            if key not in self._services:
                backend, model, url = key
                settings = self.settings.model_copy(
                    update={"llm_backend": backend, "llm_model": model, "db_url": url}
                )
                self._services[key] = AssistantService(settings)
            return self._services[key]

    def _key(self, config: dict[str, str] | None) -> tuple[str, str, str]:
        config = config or {}
        return (
            config.get("backend") or self.default[0],
            config.get("model") or self.default[1],
            config.get("db") or self.default[2],
        )

    # -- handlers ---------------------------------------------------------------------------------
    def respond(
        self,
        question: str,
        chat: list,
        history: list,
        answers: dict,
        config: dict,
        request: Any = None,
        *,
        clarify: bool = True,
    ) -> Iterator[ChatView]:
        """Stream one answer into the chat; then the sortable table, the CSV, the chart and the trace.

        ``clarify=False``: a chosen option of a question back, asked as it is (one question back a turn).
        """
        gr = _gradio()
        question = (question or "").strip()
        chat, answers = list(chat or []), dict(answers or {})
        if not question:
            yield ChatView(chat=chat, question="", history=history, answers=answers)
            return
        chat.append({"role": "user", "content": question})
        draft, base = _Draft(question), len(chat)
        banner: Any = KEEP
        yield ChatView(
            chat=chat + draft.messages(), question="", banner=banner, history=history, answers=answers
        )
        turns = [Turn(q, s) for q, s in history or []]
        answer, last = None, 0.0
        try:
            service = self.service(config)
            limit = (config or {}).get("limit")
            events = service.stream(
                question, caller=_caller(request), history=turns, row_limit=limit, clarify=clarify
            )
            for event in events:
                draft.apply(event)
                match event:
                    case Finished(answer=answer):
                        pass
                    case ReasoningDelta() | ContentDelta() | AnalysisDelta() if (
                        time.perf_counter() - last < REFRESH_S
                    ):
                        continue
                last = time.perf_counter()
                yield ChatView(
                    chat=chat + draft.messages(),
                    question="",
                    banner=banner,
                    history=history,
                    answers=answers,
                )
        except AskdbError as exc:
            draft.error = exc.person_line()
            if isinstance(exc, (LLMUnavailable, ModelNotFound, LLMAuthError)):
                banner = gr.update(value=_banner_text(exc.person_line()), visible=True)
        messages = draft.messages()
        chat = chat + messages
        # a question back is not a turn of the conversation: the option chosen next is
        if answer is not None and answer.outcome != "clarify":
            history = [*(history or []), [question, answer.sql]][-5:]
            for i in range(base, len(chat)):
                answers[str(i)] = {"question": question, "sql": answer.sql}
            failed = [n for n in answer.notices if n.reason is NoticeReason.ANALYSIS_FAILED]
            if failed:
                banner = gr.update(value=_banner_text(failed[-1].text), visible=True)
        yield ChatView(
            chat=chat, question="", banner=banner, history=history, answers=answers, **self._result(answer)
        )

    def _result(self, answer: Answer | None) -> dict[str, Any]:
        """Updates for the table, the CSV button, the bar chart, the line chart and the trace panel."""
        gr = _gradio()
        if answer is None or answer.frame is None or answer.frame.empty:
            trace = trace_markdown(answer.trace) if answer is not None else ""
            return {
                "table": gr.update(value=None, visible=False),
                "download": gr.update(value=None, visible=False),
                "excel": gr.update(value=None, visible=False),
                "bar": gr.update(visible=False),
                "line": gr.update(visible=False),
                "trace": gr.update(value=trace),
                "clarify": _clarify_choices(gr, answer),
            }
        frame = display_frame(answer.frame.rename(columns=answer.labels))  # 粉丝数, not fans
        chart = answer.chart
        bar = line = gr.update(visible=False, value=None)
        titles = {}
        if chart:
            titles = {"x_title": answer.labels.get(chart["x"]), "y_title": answer.labels.get(chart["y"])}
        if chart and chart["type"] == "bar":
            data = chart_frame(answer.frame, chart)
            bar = gr.update(
                value=data,
                x=chart["x"],
                y=chart["y"],
                sort=bar_order(data, chart),
                visible=True,
                y_lim=[0, None],
                title=answer.question,
                **titles,
            )
        elif answer.forecast:  # history, forecast and its band as one chart, a line each
            line = gr.update(
                value=forecast_frame(answer.forecast),
                x="time",
                y="value",
                color="series",
                visible=True,
                title=answer.question,
                **titles,
            )
        elif chart and chart["type"] == "line":
            line = gr.update(
                value=chart_frame(answer.frame, chart),
                x=chart["x"],
                y=chart["y"],
                visible=True,
                title=answer.question,
                **titles,
            )
        return {
            "table": gr.update(value=frame, visible=True, label=f"查询结果({len(frame)} 行,点击列名排序)"),
            "download": gr.update(
                value=csv_file(answer.frame.rename(columns=answer.labels), self.files), visible=True
            ),
            "excel": gr.update(value=xlsx_file(answer, self.files), visible=True),
            "clarify": _clarify_choices(gr, answer),
            "bar": bar,
            "line": line,
            "trace": gr.update(value=trace_markdown(answer.trace)),
        }

    def like(self, answers: dict, config: dict, data: Any, request: Any = None) -> None:
        """👍: the question and its SQL become a verified example; 👎: logged."""
        gr = _gradio()
        index = data.index if isinstance(data.index, int) else data.index[0]
        found = (answers or {}).get(str(index))
        if found is None:
            return
        liked = data.liked is True or data.liked == "Like"
        service = self.service(config)
        try:
            service.feedback(
                question=found["question"], sql=found["sql"], liked=liked, caller=_caller(request)
            )
        except AskdbError as exc:
            gr.Warning(exc.person_line())
            return
        if liked and found["sql"]:
            gr.Info("已保存为已验证示例,之后的相同问题会直接使用这条 SQL")
        elif not liked:
            gr.Info("已记录反馈")

    def run_sql(self, sql: str, config: dict, request: Any = None) -> dict[str, Any]:
        """The "运行 SQL" box: the guard, then the read-only runner (updates ``RUN_SQL_OUTPUTS``)."""
        gr = _gradio()
        try:
            result = self.service(config).run_sql(sql or "", caller=_caller(request))
        except AskdbError as exc:
            return {
                "sql_status": f"❌ {exc.person_line()}",
                "sql_table": gr.update(value=None, visible=False),
            }
        note = "(结果过多,只显示了一部分)" if result.truncated else ""
        return {
            "sql_status": f"✅ 已执行:`{result.sql}` — {len(result.frame)} 行{note}",
            "sql_table": gr.update(value=display_frame(result.frame), visible=True),
        }

    def check_model(self, config: dict) -> Any:
        gr = _gradio()
        status = self.service(config).model_status()
        return gr.update(value="" if status.ok else _banner_text(status.message), visible=not status.ok)

    def apply_settings(self, backend: str, model: str, db: str, config: dict) -> dict[str, Any]:
        """The 设置 panel's 应用: a new configuration, and a fresh conversation (``SETTINGS_OUTPUTS``)."""
        kept = {"limit": config["limit"]} if (config or {}).get("limit") else {}
        config = {"backend": backend.strip(), "model": model.strip(), "db": db.strip(), **kept}
        return {
            "config": config,
            "banner": self.check_model(config),
            "chat": [],
            "history": [],
            "answers": {},
        }

    @staticmethod
    def set_limit(limit: float | None, config: dict) -> dict[str, Any]:
        """The 设置 panel's 最多返回行数: the row limit of the questions from now on (``None``: the default).

        The conversation stays; a limit past ASKDB_MAX_ROWS is refused by the next question, which
        says the maximum.
        """
        config = {k: v for k, v in (config or {}).items() if k != "limit"}
        if limit:
            config["limit"] = int(limit)
        return {"config": config}

    def clear(self) -> dict[str, Any]:
        """新对话: an empty chat, and the result panels hidden (``CLEAR_OUTPUTS``)."""
        gr = _gradio()
        hidden = gr.update(visible=False)
        return {
            "chat": [],
            "history": [],
            "answers": {},
            "trace": "",
            "table": hidden,
            "download": hidden,
            "excel": hidden,
            "bar": hidden,
            "line": hidden,
            "clarify": gr.update(choices=[], value=None, visible=False),
        }


def _clarify_choices(gr: Any, answer: Answer | None) -> Any:
    """The question back's options as choices (label shown, question asked), or hidden when there is none."""
    if answer is None or answer.clarify is None:
        return gr.update(choices=[], value=None, visible=False)
    choices = [(o["label"], o["question"]) for o in answer.clarify["options"]]
    return gr.update(choices=choices, value=None, visible=True, label=answer.clarify["question"])


def _caller(request: Any) -> str:
    session = getattr(request, "session_hash", None) if request is not None else None
    return f"ui:{session[:12]}" if session else "ui"


def _banner_text(message: str) -> str:
    return f"⚠️ **模型暂时无法使用。** {message}"


def build_app(settings: Settings, *, service: AssistantService | None = None) -> Any:
    """The Blocks app; ``service`` replaces the one built from settings (tests)."""
    gr = _gradio()
    from askdb.db import safe_url
    from askdb.llm.registry import known_backends

    app = ChatApp(settings, service=service)
    with gr.Blocks(title="askdb · 广告数据问答") as demo:
        demo.askdb = app
        history, answers = gr.State([]), gr.State({})
        config = gr.State({})
        gr.Markdown("## askdb · 广告数据问答\n用中文提问,得到经过检查的 SQL、查询结果和简短分析。")
        banner = gr.Markdown("", visible=False, elem_id="askdb-banner")
        with gr.Tab("问答"):
            chatbot = gr.Chatbot(
                label="对话",
                height=560,
                elem_id="askdb-chat",
                buttons=["copy"],
                feedback_options=("Like", "Dislike"),
                group_consecutive_messages=True,
            )
            with gr.Row():
                question = gr.Textbox(
                    placeholder="例如:小红书上粉丝最多的5个达人是谁?",
                    show_label=False,
                    scale=8,
                    elem_id="askdb-question",
                    lines=1,
                    max_lines=4,
                    submit_btn="提问",
                )
                clear = gr.Button("新对话", scale=1)
            clarify = gr.Radio(
                choices=[], visible=False, interactive=True, label="请选择", elem_id="askdb-clarify"
            )
            examples = gr.Examples(EXAMPLES, inputs=[question], label="示例问题", elem_id="askdb-examples")
            table = gr.Dataframe(
                visible=False,
                interactive=False,
                wrap=True,
                elem_id="askdb-table",
                buttons=["copy", "fullscreen"],
            )
            with gr.Row():
                download = gr.DownloadButton("下载 CSV", visible=False, elem_id="askdb-csv")
                excel = gr.DownloadButton("下载 Excel", visible=False, elem_id="askdb-xlsx")
            bar = gr.BarPlot(visible=False, elem_id="askdb-bar", height=320, x_label_angle=-30)
            line = gr.LinePlot(visible=False, elem_id="askdb-line", height=320)
            with gr.Accordion("工作流追踪(最近一次)", open=False):
                trace = gr.Markdown("", elem_id="askdb-trace")
        with gr.Tab("运行 SQL"):
            gr.Markdown("直接运行一条 SQL:先经过安全检查,再以只读方式执行(不需要模型)。")
            sql_box = gr.Code(
                language="sql",
                label="SQL",
                value="SELECT platform, COUNT(*) AS n FROM ads_account GROUP BY platform",
                elem_id="askdb-sql",
            )
            run_button = gr.Button("运行", variant="primary")
            sql_status = gr.Markdown("")
            sql_table = gr.Dataframe(visible=False, interactive=False, wrap=True)
        with gr.Accordion("设置", open=False):
            backend = gr.Dropdown(known_backends(), value=settings.llm_backend, label="模型后端")
            model = gr.Textbox(settings.llm_model, label="模型")
            db = gr.Textbox(
                safe_url(settings.database_url) if settings.db_url else settings.database_url,
                label="数据库 URL",
            )
            apply = gr.Button("应用")
            limit = gr.Number(
                value=None,
                label="最多返回行数",
                info=f"每个问题最多返回的行数,1 到 {settings.max_rows}(ASKDB_MAX_ROWS);"
                f"留空用默认的 {settings.row_limit} 行(ASKDB_ROW_LIMIT)",
                minimum=1,
                precision=0,
                elem_id="askdb-limit",
            )

        ui = {
            "chat": chatbot,
            "question": question,
            "table": table,
            "download": download,
            "excel": excel,
            "clarify": clarify,
            "bar": bar,
            "line": line,
            "trace": trace,
            "banner": banner,
            "history": history,
            "answers": answers,
            "config": config,
            "sql_status": sql_status,
            "sql_table": sql_table,
        }
        respond, choose, like, run_sql, clear_chat, apply_settings, set_limit = _handlers(gr, app, ui)
        ask_inputs = [question, chatbot, history, answers, config]
        question.submit(
            respond,
            ask_inputs,
            [ui[name] for name in ChatView._fields],
            api_name="ask",
            concurrency_limit=None,
        )
        # A click on an example fills the box, then asks it: what people expect of an example question.
        examples.load_input_event.then(
            respond,
            ask_inputs,
            [ui[name] for name in ChatView._fields],
            api_name=False,
            concurrency_limit=None,
        )
        # A chosen option is asked as it is: the one question back of this turn has been asked.
        clarify.input(
            choose,
            [clarify, chatbot, history, answers, config],
            [ui[name] for name in ChatView._fields],
            api_name=False,
            concurrency_limit=None,
        )
        chatbot.like(like, [answers, config], None)
        clear.click(clear_chat, None, [ui[name] for name in CLEAR_OUTPUTS], api_name=False)
        run_button.click(
            run_sql, [sql_box, config], [ui[name] for name in RUN_SQL_OUTPUTS], api_name="run_sql"
        )
        apply.click(
            apply_settings,
            [backend, model, db, config],
            [ui[name] for name in SETTINGS_OUTPUTS],
            api_name=False,
        )
        limit.change(set_limit, [limit, config], [config], api_name=False)
        demo.load(app.check_model, [config], [banner], api_name=False)
    return demo


def _handlers(gr: Any, app: ChatApp, ui: Mapping[str, Any]) -> tuple:
    """The app's handlers as Gradio calls them: named updates turned into dicts keyed by component,
    and annotations naming gr.Request and gr.LikeData, which Gradio fills in by type."""

    def respond(question, chat, history, answers, config, request):
        for view in app.respond(question, chat, history, answers, config, request):
            yield keyed(view, ui)

    def choose(option, chat, history, answers, config, request):
        for view in app.respond(option, chat, history, answers, config, request, clarify=False):
            yield keyed(view, ui)

    def like(answers, config, data, request):
        return app.like(answers, config, data, request)

    def run_sql(sql, config, request):
        return keyed(app.run_sql(sql, config, request), ui)

    def clear_chat():
        return keyed(app.clear(), ui)

    def apply_settings(backend, model, db, config):
        return keyed(app.apply_settings(backend, model, db, config), ui)

    def set_limit(limit, config):
        return keyed(app.set_limit(limit, config), ui)

    respond.__annotations__ = {"request": gr.Request}
    choose.__annotations__ = {"request": gr.Request}
    like.__annotations__ = {"data": gr.LikeData, "request": gr.Request}
    run_sql.__annotations__ = {"request": gr.Request}
    return respond, choose, like, run_sql, clear_chat, apply_settings, set_limit


def launch(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    block: bool = True,
    service: AssistantService | None = None,
) -> Any:
    """Start the chat; with ``block=False`` returns the running app (tests, notebooks)."""
    gr = _gradio()
    demo = build_app(settings, service=service)
    demo.queue(default_concurrency_limit=8)
    demo.launch(
        server_name=host,
        server_port=port,
        prevent_thread_lock=not block,
        quiet=not block,
        css=CSS,
        theme=gr.themes.Soft(),
        footer_links=[],
        show_error=True,
    )
    return demo
