"""The last stage: the exported GGUF answers the ads test split through the eval harness.

The model runs in this process on the ``llamacpp`` backend, the same assistant (retrieval, prompt,
guard, repairs) and the same scoring as ``askdb eval``; result.json and report.md go to
``<output_dir>/eval/<gguf name>/``. The report names the GGUF that answered, and a config that says
its model is random (the CPU test's) puts that at the top of the report, so its figures are never
read as a model's accuracy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from askdb.finetune import require
from askdb.settings import Settings

RANDOM_MODEL_NOTE = (
    "The model is an untrained random test model ({gguf}): its answers are noise, so these "
    "figures check the fine-tuning pipeline's eval stage, not any model's accuracy."
)


@dataclass(frozen=True)
class EvalRun:
    """Where a finished eval stage wrote its files and its headline figures."""

    gguf: Path
    out: Path
    report: Path
    summary: dict[str, Any]
    note: str | None

    def headline(self) -> str:
        s = self.summary
        tag = " [untrained random test model: not an accuracy]" if self.note else ""
        return (
            f"llamacpp/{self.gguf.name}{tag}: accuracy {s['accuracy']}, EX {s['execution_accuracy']}, "
            f"valid SQL {s['valid_sql_rate']} over {s['questions']} questions; report: {self.report}"
        )


def evaluate_gguf(
    settings: Settings,
    gguf: Path,
    out: Path,
    *,
    limit: int | None = None,
    max_tokens: int | None = None,
    random_model: bool = False,
    resume: bool = False,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> EvalRun:
    """Ask the ads test questions with ``gguf`` on the llamacpp backend; write result.json and report.md."""
    require("llama_cpp", extra="llamacpp", package="llama-cpp-python")
    from askdb.eval.dataset import load_ads_questions
    from askdb.eval.runner import GoldExecutor, eval_assistant, run_meta, run_questions, write_run
    from askdb.llm.registry import create_llm
    from askdb.sql.context import GuardContext

    if max_tokens is not None:
        # The assistant's own reply budget, not a cap behind its back: the prompt budget then leaves
        # room for exactly this much, and a repair says where the reply was really cut.
        settings = settings.model_copy(update={"llm_max_tokens": max_tokens})
    llm = create_llm(settings, backend="llamacpp", model=str(gguf))
    assistant = eval_assistant(settings, llm)
    gold = GoldExecutor(assistant.runner, GuardContext(assistant.catalog, row_limit=assistant.row_limit))
    questions = load_ads_questions("test")[:limit]
    meta = run_meta("ads", "test", llm, settings.database_url)  # names llamacpp and the GGUF that answered
    records = run_questions(
        assistant, questions, out / "results.jsonl", gold, resume=resume, progress=progress
    )
    note = RANDOM_MODEL_NOTE.format(gguf=gguf) if random_model else None
    meta.update(note=note, random_model=note is not None, max_tokens=max_tokens)
    summary, report = write_run(out, meta, records)
    return EvalRun(gguf, out, report, summary, note)
