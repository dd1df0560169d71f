"""GGUF export: llama.cpp's own converter, then k-quants through llama-cpp-python.

``convert_hf_to_gguf.py`` comes from :func:`askdb.finetune.llamacpp.source_dir` (``LLAMA_CPP_PATH``
or the pinned sdist) and runs in a subprocess with this Python, so it sees the installed torch,
transformers and sentencepiece; it brings its own gguf-py. Quantising calls
``llama_cpp.llama_model_quantize``, the library function behind ``llama-quantize``. Every file is
written under a temporary name and renamed when whole.
"""

from __future__ import annotations

import collections
import ctypes
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from askdb.errors import ConfigError
from askdb.files import atomic_path
from askdb.finetune import FinetuneError, require

OUTTYPES = ("f16", "q8_0")
# The converter imports these in its own process; checked here so a gap is named before it starts.
_CONVERTER_NEEDS = {
    "torch": "finetune",
    "transformers": "finetune",
    "safetensors": "finetune",
    "sentencepiece": "finetune",
    "numpy": "finetune",
}

Log = Callable[[str], None]


def _no_log(_line: str) -> None:
    return None


def gguf_path(gguf_dir: Path, kind: str) -> Path:
    """Where the GGUF of one type goes (``model-f16.gguf``, ``model-Q4_K_M.gguf``)."""
    return gguf_dir / f"model-{kind}.gguf"


def convert(model_dir: Path, out: Path, *, outtype: str, llama_cpp: Path, log: Log = _no_log) -> Path:
    """Convert a Hugging Face model folder to one GGUF file with llama.cpp's converter."""
    if outtype not in OUTTYPES:
        raise ConfigError(
            f"unsupported converter outtype {outtype!r}", hint=f"use one of {', '.join(OUTTYPES)}"
        )
    converter = llama_cpp / "convert_hf_to_gguf.py"
    if not converter.is_file():
        raise ConfigError(
            f"llama.cpp's converter is missing: {converter}",
            hint="set LLAMA_CPP_PATH to a llama.cpp checkout, or unset it to use the pinned sdist",
        )
    if not (model_dir / "config.json").is_file():
        raise FinetuneError(
            f"no Hugging Face model in {model_dir}", hint="run `askdb finetune merge CONFIG` first"
        )
    for module, extra in _CONVERTER_NEEDS.items():
        require(module, extra=extra)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, suffix=".gguf") as tmp:
        _run(
            [sys.executable, str(converter), str(model_dir), "--outfile", str(tmp), "--outtype", outtype], log
        )
    return out


def _run(command: list[str], log: Log) -> None:
    """Run the converter, passing its lines to ``log``; on failure, raise with its last lines."""
    tail: collections.deque[str] = collections.deque(maxlen=30)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line.rstrip())
            log(line.rstrip())
    if proc.returncode != 0:
        raise FinetuneError(
            f"convert_hf_to_gguf.py failed (exit {proc.returncode}):\n" + "\n".join(tail),
            hint="the converter's message above names the unsupported piece (architecture, "
            "tokenizer hash, missing module)",
        )


def quantize(src: Path, out: Path, kind: str = "Q4_K_M", *, threads: int = 0) -> Path:
    """Quantise a GGUF (f16/q8_0) to ``kind`` (e.g. Q4_K_M) with llama.cpp's quantiser."""
    require("llama_cpp", extra="llamacpp", package="llama-cpp-python")
    import llama_cpp

    ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{kind.upper()}", None)
    if ftype is None:
        raise ConfigError(
            f"unknown quantisation {kind!r}", hint="use a llama.cpp type such as Q4_K_M, Q5_K_M, Q8_0"
        )
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads  # 0: every core
    with atomic_path(out, suffix=".gguf") as tmp:
        code = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), ctypes.byref(params))
        if code != 0 or not tmp.stat().st_size:
            raise FinetuneError(
                f"llama_model_quantize({src.name} -> {kind}) failed with code {code}",
                hint="check that the input is an f16/q8_0 GGUF that llama.cpp can load",
            )
    return out


def targets(gguf_dir: Path, outtype: str, quants: list[str]) -> list[Path]:
    """The files ``export`` writes, in order: the converter's GGUF, then each quantisation."""
    return [gguf_path(gguf_dir, kind) for kind in (outtype, *quants)]


def export(
    model_dir: Path, gguf_dir: Path, *, outtype: str, quants: list[str], llama_cpp: Path, log: Log = _no_log
) -> list[Path]:
    """The converter's GGUF, then each quantisation; files already there are kept (resumable)."""
    base, *quantised = files = targets(gguf_dir, outtype, quants)
    if not base.is_file():
        convert(model_dir, base, outtype=outtype, llama_cpp=llama_cpp, log=log)
    for kind, target in zip(quants, quantised):
        if not target.is_file():
            log(f"quantising {base.name} to {kind}")
            quantize(base, target, kind)
    return files
