"""The question path through ONNX Runtime: same vectors as torch, and every failure falls back to torch."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from askdb.rag import onnx_query
from askdb.rag.embed import SentenceTransformerEmbedder, resolve_model
from askdb.rag.service import embedder_for
from askdb.settings import Settings

QUESTIONS = ["小红书上粉丝最多的5个达人是谁?", "How many singers do we have?", "各品牌的ROI", "美妆 " * 300]


@pytest.fixture(scope="module")
def torch_only() -> SentenceTransformerEmbedder:
    model = SentenceTransformerEmbedder()
    model.encode(["load"])
    return model


@pytest.mark.parametrize("text", QUESTIONS)
def test_onnx_vectors_equal_torch_vectors(embedder, torch_only, text: str) -> None:
    assert embedder.runtime == "onnxruntime" and torch_only.runtime == "torch"
    fast, reference = embedder.encode([text]), torch_only.encode([text])
    assert fast.shape == reference.shape == (1, 384) and fast.dtype == np.float32
    assert np.max(np.abs(fast - reference)) < 1e-5


def test_the_export_is_written_once_and_reused(tmp_path: Path) -> None:
    first = SentenceTransformerEmbedder(onnx_dir=tmp_path)
    first.encode(["第一次"])
    files = list(tmp_path.glob("query-encoder-*.onnx"))
    assert len(files) == 1 and first.runtime == "onnxruntime"
    stamp = files[0].stat().st_mtime_ns
    second = SentenceTransformerEmbedder(onnx_dir=tmp_path)
    second.encode(["第二次"])
    assert second.runtime == "onnxruntime" and files[0].stat().st_mtime_ns == stamp
    assert not list(tmp_path.glob(".export-*")), "no temporary file is left behind"


def test_a_damaged_export_is_replaced(tmp_path: Path, torch_only) -> None:
    path = tmp_path / f"query-encoder-{onnx_query.fingerprint(resolve_model(torch_only.name))}.onnx"
    path.write_bytes(b"not an onnx graph")
    embedder = SentenceTransformerEmbedder(onnx_dir=tmp_path)
    vector = embedder.encode(["损坏的文件"])
    assert embedder.runtime == "onnxruntime"
    assert path.read_bytes() != b"not an onnx graph"
    assert np.max(np.abs(vector - torch_only.encode(["损坏的文件"]))) < 1e-5


def test_a_graph_that_disagrees_with_torch_is_not_used(tmp_path: Path, torch_only, monkeypatch) -> None:
    monkeypatch.setattr(onnx_query, "TOLERANCE", -1.0)  # nothing can pass: as if the export were wrong
    embedder = SentenceTransformerEmbedder(onnx_dir=tmp_path)
    with pytest.warns(UserWarning, match="stay on torch.*differs from torch"):
        vector = embedder.encode(["不一致"])
    assert embedder.runtime == "torch"
    assert np.max(np.abs(vector - torch_only.encode(["不一致"]))) < 1e-6
    assert not list(tmp_path.glob("*.onnx")), "the rejected graph is removed"


def test_without_onnxruntime_questions_stay_on_torch(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    embedder = SentenceTransformerEmbedder(onnx_dir=tmp_path)
    embedder.encode(["没有 onnxruntime"])
    assert embedder.runtime == "torch" and not list(tmp_path.iterdir())


def test_settings_choose_the_runtime_and_the_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("ASKDB_MODELS_DIR")
    assert embedder_for(Settings(home=tmp_path)).onnx_dir == tmp_path / "models"
    assert embedder_for(Settings(home=tmp_path, models_dir=tmp_path / "m")).onnx_dir == tmp_path / "m"
    assert embedder_for(Settings(home=tmp_path, embedding_runtime="torch")).onnx_dir is None


def test_one_embedder_serves_many_threads_at_once(embedder, torch_only) -> None:
    """A server shares one embedder: questions and small batches (a 👍'd example) arrive together.

    Without the tokenizer lock this raised from the tokenizer, whose padding and truncation
    settings one call changes under another (measured: fails at once with 16 threads).
    """
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"第{i}个问题: 各平台达人的平均粉丝数 {'词 ' * (i % 40)}" for i in range(160)]
    jobs = [texts[i : i + 1] if i % 2 else texts[i : i + 2] for i in range(len(texts) - 1)]
    with ThreadPoolExecutor(16) as pool:
        vectors = list(pool.map(embedder.encode, jobs))
    for job, vector in zip(jobs[:40], vectors[:40]):
        assert np.max(np.abs(vector - torch_only.encode(job))) < 1e-5, job


def _queued(encoder, texts: list[str]) -> list:
    """Start one thread per text while the graph is held busy, so all of them queue; then let go."""
    import threading
    import time

    results: list = [None] * len(texts)

    def ask(i: int) -> None:
        try:
            results[i] = encoder.encode(texts[i])
        except Exception as exc:  # noqa: BLE001 - the test looks at what each caller got
            results[i] = exc

    with encoder._run_lock:
        threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(texts))]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while len(encoder._waiting) < len(texts) and time.monotonic() < deadline:
            time.sleep(0.005)
    for t in threads:
        t.join(30)
    return results


def test_questions_that_arrive_together_run_as_one_batch_with_the_same_vectors(embedder, torch_only) -> None:
    encoder = embedder._onnx
    texts = QUESTIONS + [f"第{i}个问题: 各平台达人的平均粉丝数" for i in range(6)]  # lengths 5 to 512 tokens
    before = (encoder.batches, encoder.questions)
    vectors = _queued(encoder, texts)
    assert (encoder.batches - before[0], encoder.questions - before[1]) == (1, len(texts))
    for text, vector in zip(texts, vectors):
        assert vector.shape == (1, 384)
        assert np.max(np.abs(vector - torch_only.encode([text]))) < 1e-5, text


def test_a_failed_batch_fails_each_of_its_questions_and_the_next_runs(embedder, monkeypatch) -> None:
    encoder = embedder._onnx
    good = encoder.session

    class Broken:
        def run(self, *args, **kwargs):
            raise RuntimeError("graph failed")

    monkeypatch.setattr(encoder, "session", Broken())
    results = _queued(encoder, ["一", "二", "三"])
    assert all(isinstance(r, RuntimeError) and "graph failed" in str(r) for r in results)
    monkeypatch.setattr(encoder, "session", good)
    assert encoder.encode("四").shape == (1, 384)


def test_a_question_embedded_on_torch_leaves_the_process_thread_count_alone(torch_only) -> None:
    # torch's thread count is the whole process's: a fine-tune's data stage embeds questions and then
    # trains in the same process, which ran on one core when a query left it at 1.
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        torch_only.encode(["抖音上有多少个达人?"])
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
