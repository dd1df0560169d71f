"""The question embedding through ONNX Runtime: the same numbers as torch in a third of the time.

A question is one short sequence; for it torch's per-operator dispatch costs as much as the
arithmetic (all-MiniLM-L6-v2: about 9 ms a question on one core here, ONNX Runtime about 3 ms,
``bench/bench_retrieval.py`` prints both). The graph is exported from the loaded sentence-transformers
model itself (transformer, mean pooling, normalisation) in float32, so its vectors match the ones
the index was built with; every load checks that on a probe sentence before the graph is used, and
anything wrong (no onnxruntime, an export error, a damaged file, a mismatch) falls back to torch
with one warning instead of failing a question.

The exported file lives under ``$ASKDB_HOME/models``, named by a fingerprint of the model folder and
the exporting library versions, written to a temporary file and renamed.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from askdb.files import atomic_path

PROBE = "小红书上粉丝最多的5个达人是谁? Which singers are older than 40?"
TOLERANCE = 1e-4  # largest difference per component from torch's vector that is accepted
# The int8 graph is not torch's numbers: its probe vector must be this close (cosine) to torch's.
# Measured on the 31 overhead questions: 0.984 at worst, 0.990 on average.
INT8_MIN_COSINE = 0.97
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


MAX_BATCH = 16  # questions run together at most; past 8 a question costs no less (bench_retrieval.py)


class _Pending:
    """One question waiting for its vector."""

    __slots__ = ("error", "text", "vector")

    def __init__(self, text: str) -> None:
        self.text = text
        self.vector: np.ndarray | None = None
        self.error: BaseException | None = None


class OnnxQueryEncoder:
    """Questions through an exported float32 graph; ``encode`` returns a (1, dim) unit vector.

    Questions that arrive while the graph is busy run together as one padded batch when it is
    free: on one core a question costs about 7 ms alone and 4 ms in a batch of eight, so a busy
    server answers more questions for the same CPU. A question that finds the graph idle runs
    at once, so nothing waits when there is no crowd. The vectors are the same either way (the
    mask keeps padding out of the mean; tested to 1e-6).
    """

    def __init__(
        self, session: Any, tokenizer: Any, max_length: int, lock: Any, max_batch: int = MAX_BATCH
    ) -> None:
        self.session = session
        # 1 for the int8 graph: its activations are quantised over the whole batch, so a text's
        # vector would depend on the texts it ran with (measured: 0.003 apart per component).
        self.max_batch = max_batch
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.lock = lock  # the embedder's tokenizer lock
        self.inputs = [i.name for i in session.get_inputs()]
        self._waiting: list[_Pending] = []
        self._waiting_lock = threading.Lock()
        self._run_lock = threading.Lock()  # one batch in the graph at a time
        self.batches = 0  # runs of the graph, for tests and benchmarks
        self.questions = 0

    def encode(self, text: str) -> np.ndarray:
        """Thread-safe; the calling thread may run other threads' questions along with its own."""
        pending = _Pending(text)
        with self._waiting_lock:
            self._waiting.append(pending)
        with self._run_lock:
            while pending.vector is None and pending.error is None:
                with self._waiting_lock:
                    batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
                self._run(batch)
        if pending.error is not None:
            raise pending.error
        return pending.vector

    def encode_batch(self, texts: list[str]) -> np.ndarray:
        """Several texts in one run of the graph, (len(texts), dim)."""
        with self.lock:
            batch = self.tokenizer(
                texts, return_tensors="np", truncation=True, max_length=self.max_length, padding=True
            )
        feed = {name: np.asarray(batch[name], dtype=np.int64) for name in self.inputs}
        return np.ascontiguousarray(self.session.run(None, feed)[0], dtype=np.float32)

    def _run(self, batch: list[_Pending]) -> None:
        try:
            vectors = self.encode_batch([p.text for p in batch])
        except BaseException as exc:  # noqa: BLE001 - every question of the batch hears why, then it is raised
            for p in batch:
                p.error = exc
            return
        self.batches += 1
        self.questions += len(batch)
        for p, vector in zip(batch, vectors):
            p.vector = vector[None, :]


def open_encoder(
    model: Any,
    model_path: str,
    folder: Path,
    torch_encode: Any,
    *,
    lock: Any,
    device: str = "cpu",
    quantized: bool = False,
) -> OnnxQueryEncoder | None:
    """The ONNX encoder for a loaded sentence-transformers model, exported on first use; None: use torch.

    ``quantized``: the int8 graph (``quantize``) instead, checked by cosine to torch's vector.
    """
    try:
        import onnxruntime  # noqa: F401 - a missing runtime is the common reason to stay on torch
    except ImportError:
        return None
    source = folder / f"query-encoder-{fingerprint(model_path)}.onnx"
    path = source.with_name(f"{source.stem}-int8.onnx") if quantized else source
    expected = torch_encode(PROBE)
    problem = None
    for fresh in (not path.is_file(), True):  # a cached file that fails is exported again, once
        try:
            if fresh and quantized:
                export(model_path, source, device=device)
                quantize(source, path)
            elif fresh:
                export(model_path, path, device=device)
            encoder = _load(path, model, lock, max_batch=1 if quantized else MAX_BATCH)
            problem = _disagreement(encoder.encode(PROBE), expected, quantized)
            if problem is None:
                return encoder
        except Exception as exc:  # noqa: BLE001 - any failure here only costs speed, never an answer
            problem = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        path.unlink(missing_ok=True)
        if fresh:
            break
    if quantized:  # the caller cannot fall back (its index holds int8 vectors): it raises with this
        raise RuntimeError(f"no int8 ONNX encoder ({problem}); ONNX file: {path}")
    warnings.warn(f"askdb: question embeddings stay on torch ({problem}); ONNX file: {path}", stacklevel=2)
    return None


def _disagreement(vector: np.ndarray, expected: np.ndarray, quantized: bool) -> str | None:
    """Why a graph's probe vector is not accepted, or None."""
    if quantized:
        cosine = float(vector[0] @ expected[0])
        return None if cosine >= INT8_MIN_COSINE else f"its vector's cosine to torch's is {cosine:.3f}"
    difference = float(np.max(np.abs(vector - expected)))
    return None if difference <= TOLERANCE else f"its vector differs from torch's by {difference:.2g}"


def quantize(source: Path, path: Path) -> None:
    """Dynamic int8 weights for every MatMul, per output channel, atomically.

    The variant kept after measuring (bench_retrieval.py recall with index and questions both on it):
    per-tensor weights over all ops reached only 0.91 cosine to torch; per-channel MatMuls 0.98.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with atomic_path(path, suffix=".onnx") as tmp:
        quantize_dynamic(
            str(source),
            str(tmp),
            weight_type=QuantType.QUInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
        )


def fingerprint(model_path: str) -> str:
    """Changes when the model's files or the exporting libraries change."""
    digest = hashlib.sha256(model_path.encode())
    root = Path(model_path)
    if root.is_dir():
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            stat = file.stat()
            digest.update(f"{file.relative_to(root)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    for package in ("torch", "transformers", "sentence-transformers", "onnxruntime"):
        try:
            digest.update(f"{package}={metadata.version(package)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(package.encode())
    return digest.hexdigest()[:16]


def export(model_path: str, path: Path, *, device: str = "cpu") -> None:
    """Export transformer + mean pooling + normalisation as one float32 graph, atomically.

    The export traces a copy loaded for it: tracing leaves state behind in the module it runs
    (measured: the traced copy's own vectors moved by 0.05), and the live model must stay exact.
    """
    import torch
    from sentence_transformers import SentenceTransformer

    from askdb.rag.pooling import mean_pooled_unit

    model = SentenceTransformer(model_path, device=device)

    class _Pooled(torch.nn.Module):
        def __init__(self, transformer: Any) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            return mean_pooled_unit(hidden, attention_mask)  # the torch path's pooling, traced

    sample = model.tokenizer([PROBE], return_tensors="pt")
    names = [n for n in _INPUTS if n in sample]
    with atomic_path(path, suffix=".onnx") as tmp, warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(
            _Pooled(model[0].auto_model.eval()),
            tuple(sample[n] for n in names),
            str(tmp),
            input_names=names,
            output_names=["embedding"],
            opset_version=17,
            dynamo=False,
            dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "embedding": {0: "batch"}},
        )


def _load(path: Path, model: Any, lock: Any, *, max_batch: int = MAX_BATCH) -> OnnxQueryEncoder:
    import onnxruntime as ort

    options = ort.SessionOptions()
    # One thread, for the reason torch gets one for queries: two cores shared with a server and a model.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return OnnxQueryEncoder(session, model.tokenizer, model.max_seq_length, lock, max_batch)
