"""The question-embedding cache: a repeat skips the model and gets the very vector a fresh embedding gives."""

from __future__ import annotations

import numpy as np
import pytest

from askdb.rag.embed import QueryCache, normalise_question


@pytest.fixture
def counted(embedder, monkeypatch: pytest.MonkeyPatch) -> tuple[object, list[str]]:
    """The session embedder with an empty cache of two and a record of what reaches the model."""
    calls: list[str] = []
    real = embedder._encode_query

    def spy(model, text):
        calls.append(text)
        return real(model, text)

    monkeypatch.setattr(embedder, "query_cache", QueryCache(2))
    monkeypatch.setattr(embedder, "_encode_query", spy)
    return embedder, calls


def test_a_repeated_question_skips_the_model_and_gets_the_same_vector(counted) -> None:
    embedder, calls = counted
    first = embedder.encode(["小红书上粉丝最多的5个达人是谁?"])
    again = embedder.encode(["小红书上粉丝最多的5个达人是谁?"])
    assert calls == ["小红书上粉丝最多的5个达人是谁?"]
    assert np.array_equal(first, again) and again.shape == (1, 384)
    assert (embedder.query_cache.hits, embedder.query_cache.misses) == (1, 1)


def test_spellings_that_normalise_alike_share_one_entry(counted) -> None:
    embedder, calls = counted
    vectors = [embedder.encode([q]) for q in ("各品牌的 ROI?", "  各品牌的 ＲＯＩ？ ", "各品牌的\t\nROI?")]
    assert calls == ["各品牌的 ROI?"]
    assert all(np.array_equal(vectors[0], v) for v in vectors)


def test_cached_vectors_equal_uncached_ones(counted, uncached) -> None:
    embedder, _ = counted
    for text in ("How many singers do we have?", "How many   singers do we have?"):
        embedder.encode([text])
        np.testing.assert_array_equal(embedder.encode([text]), uncached.encode([text]))


@pytest.fixture
def uncached(embedder, monkeypatch: pytest.MonkeyPatch):
    """Another view of the session model with the cache off, to compare against."""
    from askdb.rag.embed import SentenceTransformerEmbedder

    other = SentenceTransformerEmbedder(onnx_dir=embedder.onnx_dir, query_cache=0)
    other._model, other._onnx = embedder._model, embedder._onnx  # the same loaded model, no second load
    return other


def test_the_least_recently_used_question_is_dropped(counted) -> None:
    embedder, calls = counted
    for q in ("一", "二", "一", "三", "一", "二"):  # size 2: 三 pushes out 二, then 二 comes back
        embedder.encode([q])
    assert calls == ["一", "二", "三", "二"] and len(embedder.query_cache) == 2


def test_writing_into_a_returned_vector_leaves_the_cache_alone(counted) -> None:
    embedder, _ = counted
    vector = embedder.encode(["各平台的花费"])
    kept = vector.copy()
    vector *= 0
    assert np.array_equal(embedder.encode(["各平台的花费"]), kept)


def test_index_batches_and_a_disabled_cache_always_reach_the_model(counted, monkeypatch) -> None:
    embedder, calls = counted
    embedder.encode(["表一", "表二"])
    assert len(embedder.query_cache) == 0, "documents are not questions: batches bypass the cache"
    monkeypatch.setattr(embedder, "query_cache", QueryCache(0))
    embedder.encode(["各平台的花费"])
    embedder.encode(["各平台的花费"])
    assert calls == ["各平台的花费", "各平台的花费"] and len(embedder.query_cache) == 0


def test_normalise_question() -> None:
    assert normalise_question("  ＴＯＰ５\u3000 达人\n是谁？ ") == "TOP5 达人 是谁?"
