"""Static embeddings: a model2vec token table distilled locally from a sentence-transformer.

A static model embeds a text as the mean of per-token vectors computed once by running every token
of the vocabulary through the transformer (SIF-weighted, PCA-reduced); a question then costs a
tokenizer call and a table lookup (0.06 ms) instead of a forward pass (MiniLM on ONNX: 5-7 ms).
Distilling runs on this machine from the local model folder (for the default, the packaged
all-MiniLM-L6-v2), never from a hub, once per (model files, dimensions, library version) into the
models folder, about 100 s on 2 cores.

Measured, not selectable in askdb: distilled from MiniLM (PCA 256, the best size tried) it loses
hybrid recall@5 on the pooled Spider dev set (strict 0.926 -> 0.910, lenient 0.954 -> 0.941) and on
the Chinese ads set (0.980 -> 0.950); 128 and the full width lose more.
``bench/bench_retrieval.py --copies 1 --embedder current model2vec:all-MiniLM-L6-v2[@DIMS]`` prints
them side by side. The ``name`` carries the dimensions and model2vec's version, so an index keyed
by it is never read with another embedder or another distillation.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from askdb.errors import ConfigError

PREFIX = "model2vec:"
DEFAULT_DIMS = 256
_INSTALL = "pip install 'askdb[bench]' (model2vec, skeletoken; not model2vec[distill]: it pins transformers)"


def is_static(model: str) -> bool:
    """Whether an embedder spec names a distilled static model."""
    return model.startswith(PREFIX)


def parse(model: str) -> tuple[str, int | None]:
    """``model2vec:BASE[@DIMS]`` -> (BASE, DIMS); DIMS ``full`` keeps the transformer's width."""
    spec = model.removeprefix(PREFIX)
    base, _, dims = spec.partition("@")
    if not base:
        raise ConfigError(f"no base model in {model!r}", hint=f"write {PREFIX}all-MiniLM-L6-v2")
    if not dims:
        return base, DEFAULT_DIMS
    if dims == "full":
        return base, None
    if not dims.isdigit() or int(dims) < 8:
        raise ConfigError(
            f"bad dimensions {dims!r} in {model!r}", hint=f"write {PREFIX}{base}@256 (a number >= 8, or full)"
        )
    return base, int(dims)


def _model2vec_version() -> str:
    try:
        return metadata.version("model2vec")
    except metadata.PackageNotFoundError:
        raise ConfigError(f"the static embedder needs model2vec: {_INSTALL}", hint=_INSTALL) from None


class StaticEmbedder:
    """A model2vec table distilled from ``base`` on first use; thread-safe, no I/O in ``__init__``."""

    def __init__(self, model: str, *, cache_dir: Path) -> None:
        self.base, self.dims = parse(model)
        self.cache_dir = cache_dir
        self.runtime = "model2vec"
        self._table: np.ndarray | None = None
        self._tokenizer: Any = None
        self._unk: int | None = None
        self._lock = threading.Lock()
        self._name: str | None = None

    @property
    def name(self) -> str:
        """What built an index: base model, dimensions and the distilling library's version."""
        if self._name is None:
            dims = "full" if self.dims is None else self.dims
            self._name = f"{PREFIX}{self.base}@{dims}+model2vec-{_model2vec_version()}"
        return self._name

    @property
    def dim(self) -> int:
        return int(self._load()[0].shape[1])

    def encode(self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Unit vectors (a text with no known token gets the zero vector, similar to nothing)."""
        table, tokenizer = self._load()
        out = np.zeros((len(texts), table.shape[1]), dtype=np.float32)
        step = 1024
        for start in range(0, len(texts), step):
            batch = list(texts[start : start + step])
            for row, encoding in enumerate(tokenizer.encode_batch_fast(batch, add_special_tokens=False)):
                ids = [i for i in encoding.ids if i != self._unk] if self._unk is not None else encoding.ids
                if ids:
                    out[start + row] = table[ids].mean(axis=0)
            if progress:
                progress(len(batch))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norms, out=out, where=norms > 0)
        return out

    def _load(self) -> tuple[np.ndarray, Any]:
        if self._table is None:
            with self._lock:  # a server's first questions arrive together: distil and load once
                if self._table is None:
                    self._open(self._folder())
        return self._table, self._tokenizer

    def _folder(self) -> Path:
        from askdb.rag.embed import resolve_model
        from askdb.rag.onnx_query import fingerprint

        path = resolve_model(self.base)
        if not Path(path).is_dir():
            raise ConfigError(
                f"the static embedder distils from a local model folder; {self.base!r} is not one",
                hint=f"write {PREFIX}<folder of a sentence-transformers model>",
            )
        dims = "full" if self.dims is None else self.dims
        folder = self.cache_dir / f"model2vec-{fingerprint(path)}-{dims}-{_model2vec_version()}"
        if not (folder / "model.safetensors").is_file():
            distil(path, folder, self.dims)
        return folder

    def _open(self, folder: Path) -> None:
        from model2vec import StaticModel

        model = StaticModel.from_pretrained(folder)
        table = np.asarray(model.embedding, dtype=np.float32)
        if model.weights is not None or model.token_mapping is not None:
            raise ConfigError(f"unexpected quantised vocabulary in {folder}", hint=f"delete {folder}")
        tokenizer = model.tokenizer
        # Set once here: model2vec's own encode re-sets truncation on every call, which races
        # between threads; the lookup below is the same arithmetic without that.
        tokenizer.enable_truncation(model.max_length or 512)
        self._unk, self._tokenizer = model.unk_token_id, tokenizer
        self._table = table


def distil(model_path: str, folder: Path, dims: int | None) -> None:
    """Distil ``model_path`` (a local folder) into ``folder``, written whole or not at all."""
    try:
        from model2vec.distill import distill
    except ImportError as exc:
        raise ConfigError(f"cannot distil a static model ({exc.name} missing)", hint=_INSTALL) from None
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder; nothing may reach for a hub
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    model = distill(model_name=model_path, pca_dims=dims, device="cpu")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        model.save_pretrained(tmp)
        os.replace(tmp, folder)  # another process that finished first wins; its files are the same
    except OSError:
        if not (folder / "model.safetensors").is_file():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
