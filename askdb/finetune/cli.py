"""``askdb finetune``: SFT data, training, merge, GGUF export, Ollama deployment, and an eval of the GGUF."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import click

from askdb.cli_common import handle_errors, print_json, settings_from
from askdb.errors import ConfigError
from askdb.settings import Settings


@click.group("finetune")
def finetune() -> None:
    """Fine-tuning: SFT data, LoRA training, merge, GGUF export, Ollama deployment."""


@finetune.command("data")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSONL file to write (default: $ASKDB_HOME/finetune/sft.jsonl)",
)
@click.option(
    "--augment",
    "augment_count",
    type=click.IntRange(0, 100_000),
    default=0,
    show_default=True,
    help="template-generated question-SQL pairs to add, values read from the database",
)
@click.option("--seed", type=int, default=0, show_default=True, help="seed for the augmentation's choices")
@click.option(
    "--reasoning", is_flag=True, help="fill the `reasoning` field (thinking text for R1-style models)"
)
@click.option("--db", "db_url", help="database URL (default: ASKDB_DB_URL or the demo database)")
@click.option("--json", "as_json", is_flag=True, help="print a summary as JSON")
@click.pass_context
@handle_errors
def data(
    ctx: click.Context,
    out: Path | None,
    augment_count: int,
    seed: int,
    reasoning: bool,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Write SFT chat examples in the assistant's exact prompt format (train split + verified examples)."""
    summary = _write_data(
        settings_from(ctx), out, augment_count=augment_count, seed=seed, reasoning=reasoning, db_url=db_url
    )
    if as_json:
        print_json(summary)
    else:
        click.echo(
            f"wrote {summary['records']} examples to {summary['path']} ({summary['train']} train, "
            f"{summary['validation']} validation; {summary['dropped']} dropped as duplicates, test leaks "
            "or rejected SQL)"
        )


def _write_data(
    settings: Settings,
    out: Path | None,
    *,
    augment_count: int = 0,
    seed: int = 0,
    reasoning: bool = False,
    db_url: str | None = None,
) -> dict[str, Any]:
    """Build and write the SFT records; the summary ``data`` prints."""
    from tqdm import tqdm

    from askdb.finetune.data import PromptSettings, build_candidates, build_records, write_jsonl
    from askdb.rag.service import open_retriever
    from askdb.schemas.catalog import catalog_for_engine
    from askdb.sql.runner import open_runner

    url = db_url or settings.database_url
    runner = open_runner(url, timeout_s=settings.statement_timeout_s, max_rows=settings.max_rows)
    catalog = catalog_for_engine(runner.engine)
    retriever, _ = open_retriever(settings, db_url=url)
    with tqdm(desc="candidates", unit="q", file=sys.stderr, disable=None) as bar:
        candidates, dropped = build_candidates(
            runner,
            catalog,
            augment_count=augment_count,
            seed=seed,
            row_limit=settings.row_limit,
            progress=lambda _s: bar.update(),
        )
    # the date lines of the day the data is made: the prompt format the assistant sends from then on
    prompt = PromptSettings(
        row_limit=settings.row_limit,
        max_rows=settings.max_rows,
        system_in_user=settings.llm_system_in_user,
        today=date.today(),
    )
    with tqdm(total=len(candidates), desc="render", unit="q", file=sys.stderr, disable=None) as bar:
        records = build_records(
            candidates,
            retriever,
            catalog,
            prompt=prompt,
            reasoning=reasoning,
            progress=lambda _s: bar.update(),
        )
    path = out or settings.home / "finetune" / "sft.jsonl"
    written = write_jsonl(records, path)
    return {
        "path": str(path),
        "records": written,
        "dropped": dropped,
        "train": sum(r.split == "train" for r in records),
        "validation": sum(r.split == "validation" for r in records),
        "by_source": {s: sum(r.source == s for r in records) for s in ("ads", "example", "augment")},
    }


@finetune.command("deploy")
@click.argument("gguf", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="the Ollama model name to create, e.g. askdb-sql:latest")
@click.option(
    "--tokenizer",
    "tokenizer_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="folder with the model's tokenizer_config.json (default: the GGUF's folder)",
)
@click.option("--host", help="Ollama server (default: ASKDB_OLLAMA_HOST)")
@click.option("--json", "as_json", is_flag=True, help="print what was done as JSON")
@click.pass_context
@handle_errors
def deploy(
    ctx: click.Context, gguf: Path, name: str, tokenizer_dir: Path | None, host: str | None, as_json: bool
) -> None:
    """Write a Modelfile for GGUF and register it with Ollama (or print the `ollama create` command)."""
    summary = _deploy(settings_from(ctx), gguf, name, tokenizer_dir or gguf.parent, host)
    if as_json:
        print_json(summary)
    else:
        click.echo(summary.pop("message"))


def _deploy(
    settings: Settings, gguf: Path, name: str, tokenizer_dir: Path, host: str | None
) -> dict[str, Any]:
    """Write the Modelfile and register it, or say which command registers it; a summary with a message."""
    from askdb.finetune.ollama import (
        Modelfile,
        chat_format,
        for_gguf,
        register,
        server_running,
        tokenizer_chat_template,
    )

    host = host or settings.ollama_host
    chat = for_gguf(chat_format(tokenizer_chat_template(tokenizer_dir)), gguf)
    modelfile = Modelfile(gguf.resolve(), chat)
    path = modelfile.write(gguf.parent / "Modelfile")
    if server_running(host):
        register(host, name, modelfile)
        return {
            "modelfile": str(path),
            "registered": True,
            "host": host,
            "name": name,
            "message": f"created {name} on {host} (Modelfile: {path})",
        }
    command = f"ollama create {name} -f {path}"
    return {
        "modelfile": str(path),
        "registered": False,
        "host": host,
        "name": name,
        "command": command,
        "message": f"no Ollama server at {host}; wrote {path}. Register it with:\n  {command}",
    }


# -- training, merge, export: one YAML config names every stage's input and output -----------------


def _parse_sets(values: tuple[str, ...]) -> dict[str, Any]:
    """``--set key=value`` pairs; values are read as YAML (numbers, booleans, lists)."""
    import yaml

    overrides = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--set")
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


def _config(ctx: click.Context, path: Path, sets: tuple[str, ...]) -> Any:
    from askdb.finetune.config import load_config

    return load_config(path, settings_from(ctx).home, _parse_sets(sets))


def _stage(number: int, name: str, text: str) -> None:
    if _is_main_process():
        click.echo(f"[{number}/6] {name}: {text}", err=True)


def _is_main_process() -> bool:
    """Under torchrun every rank runs this CLI; only rank 0 prints."""
    return os.environ.get("RANK", "0") == "0"


_CONFIG = click.argument(
    "config_path", metavar="CONFIG", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
_SETS = click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="override a config key (dotted for nested ones: lora.r=8); repeatable",
)
_JSON = click.option("--json", "as_json", is_flag=True, help="print what was done as JSON")


def _train_summary(result: Any) -> dict[str, Any]:
    return {
        "adapter": str(result.adapter_dir),
        "steps": result.steps,
        "train_loss": result.train_loss,
        "eval_loss": result.eval_loss,
        "seconds": round(result.seconds, 1),
        "resumed_from": result.resumed_from,
        "dropped_too_long": result.dropped_too_long,
    }


def _run_train(config: Any) -> dict[str, Any]:
    import contextlib

    from askdb.finetune.train import train as train_adapter

    # The Trainer writes its log lines to stdout; stdout is for the result (and --json) only.
    with contextlib.redirect_stdout(sys.stderr):
        return _train_summary(train_adapter(config))


def _run_merge(config: Any) -> dict[str, Any]:
    from askdb.finetune.merge import merge as merge_adapter

    out = merge_adapter(
        config.base_path, config.adapter_dir, config.merged_dir, trust_remote_code=config.trust_remote_code
    )
    return {"merged": str(out)}


def _run_export(ctx: click.Context, config: Any) -> dict[str, Any]:
    from askdb.finetune.export import export as export_gguf
    from askdb.finetune.llamacpp import source_dir

    files = config.gguf_files
    if all(f.is_file() for f in files):  # a rerun: keep the earlier run's figures for this stage
        return {"gguf": [str(f) for f in files], "skipped": True}
    llama_cpp = source_dir(settings_from(ctx).home / "cache")
    files = export_gguf(
        config.merged_dir,
        config.gguf_dir,
        outtype=config.export.outtype,
        quants=config.export.quantize,
        llama_cpp=llama_cpp,
        log=lambda line: click.echo(f"  {line}", err=True),
    )
    return {"gguf": [str(f) for f in files]}


def _emit(summary: dict[str, Any], as_json: bool, text: str) -> None:
    if not _is_main_process():
        return
    if as_json:
        print_json(summary)
    else:
        click.echo(text)


@finetune.command("train")
@_CONFIG
@_SETS
@_JSON
@click.pass_context
@handle_errors
def train(ctx: click.Context, config_path: Path, sets: tuple[str, ...], as_json: bool) -> None:
    """Train a LoRA/QLoRA adapter from a YAML config (resumes from the run's last checkpoint)."""
    summary = _run_train(_config(ctx, config_path, sets))
    eval_loss = (
        "no validation split" if summary["eval_loss"] is None else f"eval loss {summary['eval_loss']:.4f}"
    )
    _emit(
        summary,
        as_json,
        f"adapter saved to {summary['adapter']} after {summary['steps']} steps "
        f"(train loss {summary['train_loss']:.4f}, {eval_loss})",
    )


@finetune.command("merge")
@_CONFIG
@_SETS
@_JSON
@click.pass_context
@handle_errors
def merge(ctx: click.Context, config_path: Path, sets: tuple[str, ...], as_json: bool) -> None:
    """Merge the run's adapter into the base model: safetensors + tokenizer in <output_dir>/merged."""
    summary = _run_merge(_config(ctx, config_path, sets))
    _emit(summary, as_json, f"merged model saved to {summary['merged']}")


@finetune.command("export")
@_CONFIG
@_SETS
@_JSON
@click.pass_context
@handle_errors
def export(ctx: click.Context, config_path: Path, sets: tuple[str, ...], as_json: bool) -> None:
    """Convert the merged model to GGUF (llama.cpp's converter) and quantise it (llama-cpp-python)."""
    summary = _run_export(ctx, _config(ctx, config_path, sets))
    _emit(summary, as_json, "wrote " + ", ".join(summary["gguf"]))


def _run_eval(ctx: click.Context, config: Any, gguf: Path, limit: int | None) -> dict[str, Any]:
    """The eval stage: the GGUF on the llamacpp backend through the harness; prints the headline figures."""
    from tqdm import tqdm

    from askdb.eval.dataset import load_ads_questions
    from askdb.finetune.evaluate import evaluate_gguf

    limit = limit or config.eval.limit
    out = config.eval_dir / gguf.stem
    total = len(load_ads_questions("test")[:limit])  # a total gives the bar its ETA
    with tqdm(total=total, desc="eval", unit="q", file=sys.stderr, disable=None) as bar:
        run = evaluate_gguf(
            settings_from(ctx),
            gguf,
            out,
            limit=limit,
            max_tokens=config.eval.max_tokens,
            random_model=config.eval.random_model,
            progress=lambda _r: bar.update(),
        )
    if _is_main_process():
        click.echo(run.headline(), err=True)
    s = run.summary
    return {
        "gguf": str(gguf),
        "result": str(out / "result.json"),
        "report": str(run.report),
        "random_model": config.eval.random_model,
        "note": run.note,
        "questions": s["questions"],
        "accuracy": s["accuracy"],
        "execution_accuracy": s["execution_accuracy"],
        "valid_sql_rate": s["valid_sql_rate"],
        "errors": s["errors"],
    }


@finetune.command("eval")
@_CONFIG
@_SETS
@click.option(
    "--gguf",
    "gguf",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="the GGUF to ask (default: the one deploy registers, the last quantisation)",
)
@click.option(
    "--limit", type=click.IntRange(min=1), help="only the first N test questions (default: eval.limit)"
)
@_JSON
@click.pass_context
@handle_errors
def evaluate(
    ctx: click.Context,
    config_path: Path,
    sets: tuple[str, ...],
    gguf: Path | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """Ask the ads test split with the exported GGUF (llamacpp backend); result.json + report.md under the run."""
    config = _config(ctx, config_path, sets)
    summary = _run_eval(ctx, config, _eval_gguf(config, gguf), limit)
    _emit(summary, as_json, f"report: {summary['report']}")


def _eval_gguf(config: Any, gguf: Path | None) -> Path:
    path = gguf or config.deployed_gguf
    if not path.is_file():
        raise ConfigError(
            f"no GGUF at {path}", hint="run `askdb finetune export CONFIG` first, or pass --gguf"
        )
    return path


@finetune.command("all")
@_CONFIG
@_SETS
@click.option("--host", help="Ollama server (default: the config's deploy.host, then ASKDB_OLLAMA_HOST)")
@click.option(
    "--no-eval", "no_eval", is_flag=True, help="skip the last stage (the eval of the deployed GGUF)"
)
@_JSON
@click.pass_context
@handle_errors
def run_all(
    ctx: click.Context,
    config_path: Path,
    sets: tuple[str, ...],
    host: str | None,
    no_eval: bool,
    as_json: bool,
) -> None:
    """data -> train -> merge -> export -> deploy -> eval; a stage whose output is already whole is skipped."""
    from askdb.finetune.merge import merged_complete
    from askdb.finetune.train import adapter_complete

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError(
            "`finetune all` runs in one process; under torchrun every rank would build the data",
            hint="run `torchrun ... askdb finetune train CONFIG` first; `all` then skips training",
        )
    settings = settings_from(ctx)
    config = _config(ctx, config_path, sets)
    _check_deployable(config)
    summary: dict[str, Any] = {}
    log = StageLog(config.output_dir / RUN_LOG)
    summary["data"] = log(
        "data",
        lambda: _maybe(
            1,
            "data",
            config.data.is_file(),
            str(config.data),
            lambda: _write_data(
                settings, config.data, augment_count=config.augment, reasoning=config.reasoning
            ),
            stale=lambda: stale_after(config, "data"),
        ),
    )
    summary["train"] = log(
        "train",
        lambda: _maybe(
            2,
            "train",
            adapter_complete(config.adapter_dir),
            str(config.adapter_dir),
            lambda: _run_train(config),
            stale=lambda: stale_after(config, "train"),
        ),
    )
    summary["merge"] = log(
        "merge",
        lambda: _maybe(
            3,
            "merge",
            merged_complete(config.merged_dir),
            str(config.merged_dir),
            lambda: _run_merge(config),
            stale=lambda: stale_after(config, "merge"),
        ),
    )
    _stage(4, "export", f"GGUF into {config.gguf_dir}")
    summary["export"] = log("export", lambda: _run_export(ctx, config))  # resumable file by file
    _stage(5, "deploy", config.deploy.name)
    gguf = Path(summary["export"]["gguf"][-1])
    summary["deploy"] = log(
        "deploy",
        lambda: _deploy(settings, gguf, config.deploy.name, config.merged_dir, host or config.deploy.host),
    )
    summary["eval"] = log("eval", lambda: _last_eval(ctx, config, gguf, skip=no_eval))
    done = "eval: skipped" if summary["eval"].get("skipped") else f"eval report: {summary['eval']['report']}"
    _emit(summary, as_json, summary["deploy"]["message"] + "\n" + done)


RUN_LOG = "run.json"  # under the run's output_dir: each stage of the last `finetune all`, timed


class StageLog:
    """Seconds and peak memory of each stage of ``finetune all``, rewritten whole after every stage.

    ``peak_rss_mb`` is the most memory this process (or a finished child, such as the GGUF
    converter) has held by the end of the stage, so the train stage's figure is training's peak.
    """

    def __init__(self, path: Path) -> None:
        import json

        self.path = path
        self.stages: dict[str, dict[str, Any]] = {}
        try:  # what an earlier `finetune all` of this run measured, for the stages this one skips
            self.earlier: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["stages"]
        except (OSError, ValueError, KeyError, TypeError):
            self.earlier = {}

    def __call__(self, name: str, work: Any) -> dict[str, Any]:
        import json
        import time

        from askdb.files import write_atomic

        started = time.monotonic()
        result: dict[str, Any] = work()
        skipped = bool(result.get("skipped"))
        before = self.earlier.get(name)
        if skipped and isinstance(before, dict) and not before.get("skipped"):
            # done by an earlier run: keep its figures (a rerun after Ctrl-C still says what training took)
            self.stages[name] = {**before, "earlier_run": True}
        else:
            self.stages[name] = {
                "seconds": round(time.monotonic() - started, 1),
                "skipped": skipped,
                "peak_rss_mb": peak_rss_mb(),
            }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path, json.dumps({"stages": self.stages}, indent=2) + "\n")
        return result


def peak_rss_mb() -> float:
    """The peak resident memory of this process or of its largest finished child, in MB (Linux)."""
    import resource

    kib = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    return round(kib / 1024, 1)


def _last_eval(ctx: click.Context, config: Any, gguf: Path, *, skip: bool) -> dict[str, Any]:
    """Stage 6: the deployed GGUF through the eval harness, when asked for and a backend can serve it."""
    if skip or not config.eval.enabled:
        _stage(6, "eval", "skipped (--no-eval or eval.enabled: false)")
        return {"skipped": True}
    if importlib.util.find_spec("llama_cpp") is None:
        _stage(6, "eval", "skipped: no backend can serve the GGUF here (pip install 'askdb[llamacpp]')")
        return {"skipped": True, "reason": "llama-cpp-python is not installed"}
    _stage(6, "eval", f"{gguf.name} on the llamacpp backend, ads test split")
    return _run_eval(ctx, config, gguf, None)


def _check_deployable(config: Any) -> None:
    """Fail before hours of training, not after, when Ollama cannot be given the model's chat format."""
    from askdb.finetune.ollama import chat_format
    from askdb.finetune.train import load_tokenizer

    try:
        chat_format(
            load_tokenizer(config.base_path, trust_remote_code=config.trust_remote_code).chat_template
        )
    except ConfigError as exc:
        raise ConfigError(
            f"`finetune all` ends with an Ollama deployment, which cannot work here: {exc.message}",
            hint="run `finetune train`, `merge` and `export` one by one and serve the merged "
            "model with vLLM (see the README)",
        ) from None


def _maybe(
    number: int,
    name: str,
    done: bool,
    where: str,
    work: Callable[[], dict[str, Any]],
    *,
    stale: Callable[[], list[str]] | None = None,
) -> dict[str, Any]:
    """Run a stage unless its output is already there and whole; ``stale`` first removes what the
    later stages made from this stage's old output."""
    if done:
        _stage(number, name, f"done already ({where}); skipped")
        return {"skipped": True, "path": where}
    if stale is not None and (removed := stale()):
        click.echo(f"  removed what was made from the old {name} output: {', '.join(removed)}", err=True)
    _stage(number, name, f"writing {where}")
    return work()


def stale_after(config: Any, stage: str) -> list[str]:
    """Remove the outputs of the stages after ``stage``, which is about to write its output anew.

    Each later stage is skipped when its output is there, so without this a new adapter would be
    followed by the old merged model and GGUF, deployed and evaluated as if they were the new one.
    New data also ends the checkpoints' run: resuming it would train on the old records' order.
    """
    import shutil

    later: list[Path] = []
    if stage == "data":
        later += [*sorted(Path(config.output_dir).glob("checkpoint-*")), config.adapter_dir]
    if stage in ("data", "train"):
        later.append(config.merged_dir)
    later += sorted(Path(config.gguf_dir).glob("*.gguf"))
    removed = []
    for path in later:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.is_file():
            path.unlink()
        else:
            continue
        removed.append(path.name)
    return removed
