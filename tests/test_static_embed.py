"""The static (model2vec) embedder measured against MiniLM: its arithmetic, its cache folder, its names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from askdb.errors import ConfigError
from askdb.rag import static_embed
from askdb.rag.embed import resolve_model
from askdb.rag.static_embed import StaticEmbedder, parse

model2vec = pytest.importorskip(
    "model2vec", reason="the static embedder is measured only where model2vec is installed"
)

TEXTS = ["How many singers do we have?", "小红书上粉丝最多的5个达人是谁?", "各品牌的ROI " * 200]


@pytest.fixture
def distils(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int | None]]:
    """Replace the 100-second distillation by a random table over MiniLM's real tokenizer; record calls."""
    from tokenizers import Tokenizer

    calls: list[tuple[str, int | None]] = []

    def fake_distil(model_path: str, folder: Path, dims: int | None) -> None:
        calls.append((model_path, dims))
        tokenizer = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
        vectors = np.random.default_rng(len(calls)).normal(size=(tokenizer.get_vocab_size(), dims or 32))
        model = model2vec.StaticModel(vectors=vectors.astype(np.float32), tokenizer=tokenizer, normalize=True)
        model.save_pretrained(folder)

    monkeypatch.setattr(static_embed, "distil", fake_distil)
    return calls


def test_vectors_are_model2vecs_own_and_unit_length(tmp_path: Path, distils) -> None:
    embedder = StaticEmbedder("model2vec:all-MiniLM-L6-v2@24", cache_dir=tmp_path)
    vectors = embedder.encode(TEXTS)
    folder = next(tmp_path.glob("model2vec-*-24-*"))
    reference = model2vec.StaticModel.from_pretrained(folder).encode(TEXTS)  # the library's own encode
    assert vectors.shape == (len(TEXTS), 24) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors, reference, atol=1e-5)
    assert np.array_equal(embedder.encode(TEXTS[:1]), vectors[:1]), "one text alone: the same vector"


def test_a_text_without_known_tokens_is_the_zero_vector(tmp_path: Path, distils) -> None:
    vectors = StaticEmbedder("model2vec:all-MiniLM-L6-v2@8", cache_dir=tmp_path).encode(["", "   "])
    assert vectors.shape == (2, 8) and not np.any(vectors) and not np.isnan(vectors).any()


def test_distilled_once_per_model_and_size_then_read_from_the_folder(tmp_path: Path, distils) -> None:
    first = StaticEmbedder("model2vec:all-MiniLM-L6-v2@16", cache_dir=tmp_path)
    again = StaticEmbedder("model2vec:all-MiniLM-L6-v2@16", cache_dir=tmp_path)
    other = StaticEmbedder("model2vec:all-MiniLM-L6-v2@full", cache_dir=tmp_path)
    assert np.array_equal(first.encode(TEXTS), again.encode(TEXTS))
    assert other.dim == 32
    assert distils == [(resolve_model("all-MiniLM-L6-v2"), 16), (resolve_model("all-MiniLM-L6-v2"), None)]
    assert (
        len({first.name, again.name, other.name}) == 2 and "@16" in first.name and "model2vec-" in first.name
    )


def test_specs_and_their_errors() -> None:
    assert parse("model2vec:all-MiniLM-L6-v2") == ("all-MiniLM-L6-v2", static_embed.DEFAULT_DIMS)
    assert parse("model2vec:/models/minilm@full") == ("/models/minilm", None)
    for bad in ("model2vec:", "model2vec:x@3", "model2vec:x@many"):
        with pytest.raises(ConfigError):
            parse(bad)


def test_a_model_name_that_is_not_a_local_folder_is_refused(tmp_path: Path, distils) -> None:
    with pytest.raises(ConfigError, match="local model folder"):
        StaticEmbedder("model2vec:BAAI/bge-small-en", cache_dir=tmp_path).encode(["x"])
    assert distils == [], "nothing is distilled, nothing reaches for a hub"


@pytest.mark.slow
def test_real_distillation_ranks_the_matching_table_first(tmp_path: Path) -> None:
    pytest.importorskip("skeletoken")
    embedder = StaticEmbedder("model2vec:all-MiniLM-L6-v2@64", cache_dir=tmp_path)
    docs = [
        "table flight: airline, flight number, source airport, destination airport",
        "table singer: singer name, country, age, song release year",
        "table ads_summary: 日期, 平台, 花费, 展现, 点击",
    ]
    vectors = embedder.encode(docs)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    scores = vectors @ embedder.encode(["How many singers are older than 40?"])[0]
    assert int(np.argmax(scores)) == 1, scores
    assert list(tmp_path.glob("model2vec-*-64-*/model.safetensors")), "kept in the models folder"
    assert not list(tmp_path.glob(".model2vec-*")), "no temporary folder left behind"
