"""Where llama.cpp's own Python tools (convert_hf_to_gguf.py, gguf-py, vocab files) come from.

``LLAMA_CPP_PATH`` names a llama.cpp checkout; otherwise the pinned llama-cpp-python source
distribution (which vendors llama.cpp) is fetched from PyPI with pip into a cache folder and
unpacked there. Nothing is compiled and nothing is copied into the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from askdb.errors import ConfigError

LLAMA_CPP_PYTHON_VERSION = "0.3.36"  # pinned: converter and vocab files change between releases
_PREFIX = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}/vendor/llama.cpp/"
# The parts needed in Python: the converter with its per-architecture `conversion` package, its
# gguf-py, and the vocab-only GGUF files.
_WANTED = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/", "models/ggml-vocab-", "requirements/")
# Written to .complete: a cache unpacked with a different list is unpacked again.
_STAMP = f"{LLAMA_CPP_PYTHON_VERSION} {' '.join(_WANTED)}"


def source_dir(cache: Path) -> Path:
    """A llama.cpp folder: ``LLAMA_CPP_PATH``, or the pinned sdist unpacked under ``cache``."""
    if env := os.environ.get("LLAMA_CPP_PATH"):
        path = Path(env).expanduser()
        if not (path / "convert_hf_to_gguf.py").is_file():
            raise ConfigError(
                f"LLAMA_CPP_PATH={env} has no convert_hf_to_gguf.py",
                hint="point LLAMA_CPP_PATH at a llama.cpp checkout",
            )
        return path
    target = cache / f"llama-cpp-python-{LLAMA_CPP_PYTHON_VERSION}"
    done = target / ".complete"
    if not done.is_file() or done.read_text() != _STAMP:
        shutil.rmtree(target, ignore_errors=True)
        _unpack(_download(cache), target)
        done.write_text(_STAMP)
    return target / "vendor" / "llama.cpp"


def _download(cache: Path) -> Path:
    """The pinned sdist, downloaded once with pip (PyPI only; pip reads its metadata in a build env, ~30 s)."""
    cache.mkdir(parents=True, exist_ok=True)
    sdist = cache / f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}.tar.gz"
    if sdist.is_file():
        return sdist
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}",
        "--no-binary",
        ":all:",
        "--no-deps",
        "-d",
        str(cache),
        "-q",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if not sdist.is_file():
        raise ConfigError(
            f"could not download llama-cpp-python {LLAMA_CPP_PYTHON_VERSION}: {result.stderr.strip()[-300:]}",
            hint="set LLAMA_CPP_PATH to a llama.cpp checkout, or allow access to PyPI",
        )
    return sdist


def _unpack(sdist: Path, target: Path) -> None:
    """Unpack the Python-side files into ``target`` through a temporary folder, then rename."""
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=target.parent))
    with tarfile.open(sdist) as archive:
        members = [
            m
            for m in archive.getmembers()
            if m.name.startswith(_PREFIX)
            and m.name[len(_PREFIX) :].startswith(_WANTED)
            and (m.isfile() or m.isdir())
        ]
        archive.extractall(tmp, members=members, filter="data")
    (tmp / f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}").rename(target)
    tmp.rmdir()


def vocab_file(cache: Path, name: str = "qwen2") -> Path:
    """A vocab-only GGUF shipped with llama.cpp, e.g. ``qwen2``: a real tokenizer without weights."""
    path = source_dir(cache) / "models" / f"ggml-vocab-{name}.gguf"
    if not path.is_file():
        raise ConfigError(
            f"no vocab file {path.name} in {path.parent}", hint="pick one of models/ggml-vocab-*.gguf"
        )
    return path
