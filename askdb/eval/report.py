"""The result of a run as JSON and as a markdown report with a chart; comparing two runs.

A run whose replies came from a recording or a script says so at the top of its report: it shows
that the harness scores what it should, not how good any model is.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from askdb.errors import ConfigError
from askdb.files import write_atomic

HARNESS_NOTICE = (
    "**This run validates the evaluation harness, not a model**: the replies came from "
    "the `{backend}` backend (recorded or scripted answers), so its accuracy says nothing "
    "about any model."
)
BAR_WIDTH = 30
FAILED_SHOWN = 30  # questions detailed in the failed section; the rest are counted, all are in results.jsonl
REPLY_CHARS = 300  # of each model reply in the failed section


def write_result(
    path: Path, meta: dict[str, Any], summary: dict[str, Any], records: list[dict[str, Any]]
) -> None:
    """The whole run as one JSON document (written atomically)."""
    write_atomic(
        path,
        json.dumps(
            {"meta": meta, "summary": summary, "records": records}, ensure_ascii=False, indent=1, default=str
        ),
    )


def load_result(path: Path) -> dict[str, Any]:
    """A result file written by ``write_result``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"cannot read eval result {path}: {exc}", hint="pass a result.json from askdb eval"
        ) from None
    if not {"meta", "summary", "records"} <= set(data):
        raise ConfigError(f"{path} is not an askdb eval result", hint="pass a result.json from askdb eval")
    return data


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f}"


def text_bars(items: list[tuple[str, float]], scale: float = 1.0, fmt: str = "{:.1%}") -> str:
    """A bar chart in text, one line per item (for reports without matplotlib)."""
    width = max((len(label) for label, _ in items), default=0)
    lines = []
    for label, value in items:
        filled = round(BAR_WIDTH * (value / scale if scale else 0))
        lines.append(f"{label.ljust(width)} {'█' * filled}{'·' * (BAR_WIDTH - filled)} {fmt.format(value)}")
    return "\n".join(lines)


def _png_chart(path: Path, summary: dict[str, Any]) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    categories = summary["by_category"]
    latency = {k: v for k, v in summary["latency_ms"].items() if v["p50"] is not None}
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    left.barh(list(categories), [c["accuracy"] or 0 for c in categories.values()], color="#4C78A8")
    left.set_xlim(0, 1)
    left.set_title("accuracy by category")
    names = list(latency)
    right.barh([f"{n} p50" for n in names], [latency[n]["p50"] for n in names], color="#72B7B2")
    right.barh([f"{n} p95" for n in names], [latency[n]["p95"] for n in names], color="#F58518")
    right.set_title("latency per step (ms)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def markdown_report(result: dict[str, Any], chart: str | None = None) -> str:
    """The report a person reads: who answered, the headline figures, accuracy by category, latency."""
    meta, s = result["meta"], result["summary"]
    questions_file = meta.get("questions_file")  # a person's own set: name it, not a split
    title = (
        f"`{Path(questions_file).name}`"
        if questions_file
        else f"{meta['dataset']} ({meta.get('split') or 'all'})"
    )
    lines = [f"# askdb eval: {title}", ""]
    if meta.get("harness_only"):
        lines += [HARNESS_NOTICE.format(backend=meta["backend"]), ""]
    if meta.get("note"):  # said by whoever started the run, e.g. that the model's weights are random
        lines += [f"**{meta['note']}**", ""]
    lines += [
        *([f"- questions file: `{questions_file}`"] if questions_file else []),
        f"- backend: `{meta['backend']}`, model: `{meta['model']}`",
        f"- database: `{meta.get('db')}`; questions: {s['questions']} ({s['answerable']} answerable, "
        f"{s['should_decline']} to decline); started {meta.get('started')}",
        "",
        "| metric | value |",
        "|---|---|",
        f"| accuracy (answers and declines) | {_pct(s['accuracy'])} |",
        f"| execution accuracy (answerable) | {_pct(s['execution_accuracy'])} |",
        f"| exact-set match | {_pct(s['exact_set_match'])} |",
        f"| valid SQL | {_pct(s['valid_sql_rate'])} (first try {_pct(s['first_try_valid_rate'])}) |",
        f"| guard rejections (of checked statements) | {_pct(s['guard_rejection_rate'])} |",
        f"| repairs used | {s['repairs_used']} over {s['questions_repaired']} questions |",
        f"| correct declines | {_pct(s['correct_declines'])} |",
        f"| false declines (answerable) | {_pct(s['false_declines'])} |",
        f"| table-retrieval recall | {_pct(s['table_recall'])} |",
        f"| tokens (prompt / completion) | {s['tokens']['prompt']:,} / {s['tokens']['completion']:,} |",
        f"| model errors | {s['errors']} |",
        *_calls_row(s.get("model_calls")),
        "",
        "## Latency per step (ms)",
        "",
        "| step | p50 | p95 | n |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {_ms(v['p50'])} | {_ms(v['p95'])} | {v['n']} |" for name, v in s["latency_ms"].items()
    ]
    lines += ["", "## Accuracy by category", ""]
    if chart:
        lines += [f"![accuracy and latency]({chart})", ""]
    bars = [(k, v["accuracy"] or 0.0) for k, v in s["by_category"].items()]
    lines += [
        "```",
        text_bars(bars),
        "```",
        "",
        "## Accuracy by difficulty",
        "",
        "```",
        text_bars([(k, v["accuracy"] or 0.0) for k, v in s["by_difficulty"].items()]),
        "```",
        "",
    ]
    lines += failed_section(result["records"])
    return "\n".join(lines) + "\n"


def _calls_row(calls: dict[str, int] | None) -> list[str]:
    """How the SQL calls ended; summaries written before it was counted have no such row."""
    if not calls or not calls["calls"]:
        return []
    return [
        f"| SQL calls cut at max_tokens / stopped as loops | {calls['cut']} / {calls['looped']} "
        f"of {calls['calls']} |"
    ]


def failed_section(records: list[dict[str, Any]], shown: int = FAILED_SHOWN) -> list[str]:
    """Markdown lines on every question not answered right: what happened, what it cost, what the model wrote."""
    wrong = [r for r in records if not r["correct"]]
    if not wrong:
        return []
    lines = [f"## Failed questions ({len(wrong)} of {len(records)})", ""]
    for r in wrong[:shown]:
        lines += _failed(r)
    if len(wrong) > shown:
        lines += [f"… and {len(wrong) - shown} more, left out here; results.jsonl has every one in full.", ""]
    return lines


def _failed(r: dict[str, Any]) -> list[str]:
    lines = [f"### {r['id']}: {_verdict(r)}", "", f"> {' '.join(r['question'].split())}", ""]
    if r.get("error"):
        lines.append(f"- error: {_clip(r['error'])}")
    if r["pred_sql"]:
        lines.append(f"- SQL: `{_clip(r['pred_sql'])}`")
    lines.append(f"- gold: `{_clip(r['gold_sql'])}`" if r["gold_sql"] else "- gold: decline")
    steps = " · ".join(f"{name} {', '.join(map(_ms, times))}" for name, times in r["steps_ms"].items())
    lines.append(f"- step ms: {steps or 'no step ran'}; total {_ms(r['total_ms'])}")
    lines.append(f"- tokens: {r['tokens']['prompt']:,} prompt / {r['tokens']['completion']:,} completion")
    replies = r.get("replies", [])  # results files from before replies were recorded have none
    lines += ["", f"model replies: {len(replies)}" if replies else "no model reply recorded", ""]
    for n, reply in enumerate(replies, 1):
        lines += (
            [f"reply {n}:", "", *_fenced(_clip(reply)), ""] if reply.strip() else [f"reply {n}: (empty)", ""]
        )
    return lines


def _verdict(r: dict[str, Any]) -> str:
    if r["outcome"] in ("failed", "error"):
        return r["outcome"]
    if r["gold_sql"] is None:
        return f"{r['outcome']}, should have declined"
    if r["outcome"] == "declined":
        return "declined an answerable question"
    return f"{r['outcome']}, wrong result"


def _clip(text: str, limit: int = REPLY_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more characters)"


def _fenced(text: str) -> list[str]:
    # A fence longer than any backtick run inside: a reply's own ```sql block cannot end it early.
    fence = "`" * max(3, max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    return [f"{fence}text", text, fence]


def write_report(out: Path, result: dict[str, Any]) -> Path:
    """report.md (and chart.png when matplotlib is installed) in ``out``."""
    chart = "chart.png" if _png_chart(out / "chart.png", result["summary"]) else None
    path = out / "report.md"
    write_atomic(path, markdown_report(result, chart))
    return path


def compare(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """What changed from run A to run B: headline deltas, and every question that got worse or better."""
    before = {r["id"]: r for r in a["records"]}
    after = {r["id"]: r for r in b["records"]}
    common = [i for i in after if i in before]
    keys = (
        "accuracy",
        "execution_accuracy",
        "exact_set_match",
        "valid_sql_rate",
        "guard_rejection_rate",
        "correct_declines",
        "table_recall",
    )
    deltas = {k: _delta(a["summary"].get(k), b["summary"].get(k)) for k in keys}
    for step in ("total", "sql_llm"):
        pa, pb = a["summary"]["latency_ms"].get(step, {}), b["summary"]["latency_ms"].get(step, {})
        deltas[f"{step}_p50_ms"] = _delta(pa.get("p50"), pb.get("p50"))
    return {
        "a": {k: a["meta"].get(k) for k in ("backend", "model", "dataset", "split", "harness_only")},
        "b": {k: b["meta"].get(k) for k in ("backend", "model", "dataset", "split", "harness_only")},
        "common_questions": len(common),
        "deltas": deltas,
        "regressions": [
            _change(before[i], after[i]) for i in common if before[i]["correct"] and not after[i]["correct"]
        ],
        "fixes": [
            _change(before[i], after[i]) for i in common if not before[i]["correct"] and after[i]["correct"]
        ],
    }


def _delta(x: float | None, y: float | None) -> dict[str, float | None]:
    return {"a": x, "b": y, "change": None if x is None or y is None else round(y - x, 4)}


def _change(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": after["id"],
        "question": after["question"],
        "outcome_a": before["outcome"],
        "outcome_b": after["outcome"],
        "sql_a": before["pred_sql"],
        "sql_b": after["pred_sql"],
    }


def compare_markdown(diff: dict[str, Any]) -> str:
    """The comparison as markdown: deltas, then regressions by question."""

    def who(side: dict[str, Any]) -> str:
        tag = " (harness check, not a model)" if side.get("harness_only") else ""
        return f"`{side['backend']}` / `{side['model']}`{tag}"

    lines = [
        f"# eval compare: A = {who(diff['a'])}, B = {who(diff['b'])}",
        "",
        f"{diff['common_questions']} questions in both runs.",
        "",
        "| metric | A | B | change |",
        "|---|---|---|---|",
    ]
    for key, d in diff["deltas"].items():
        lines.append(f"| {key} | {d['a']} | {d['b']} | {d['change']} |")
    lines += ["", f"## Regressions ({len(diff['regressions'])})", ""]
    lines += [
        f"- {r['id']} {r['question']}: {r['outcome_a']} → {r['outcome_b']}; B wrote `{r['sql_b']}`"
        for r in diff["regressions"]
    ] or ["none"]
    lines += ["", f"## Fixes ({len(diff['fixes'])})", ""]
    lines += [f"- {r['id']} {r['question']}" for r in diff["fixes"]] or ["none"]
    return "\n".join(lines) + "\n"
