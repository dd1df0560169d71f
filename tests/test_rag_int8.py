"""ASKDB_EMBEDDING_RUNTIME=onnx-int8: documents and questions through one int8 graph, its own index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from askdb.errors import ConfigError
from askdb.rag.embed import SentenceTransformerEmbedder
from askdb.rag.service import embedder_for
from askdb.rag.store import IndexStore
from askdb.schemas.catalog import packaged_catalog
from askdb.settings import Settings

pytest.importorskip("onnxruntime.quantization")

DOCS = [
    "table flight: airline, flight number, source airport, destination airport",
    "table singer: singer name, country, age, song release year",
    "表 ads_summary: 日期, 平台, 花费, 展现, 点击",
]


@pytest.fixture(scope="module")
def int8(shared_models_dir: Path) -> SentenceTransformerEmbedder:
    model = SentenceTransformerEmbedder(onnx_dir=shared_models_dir, int8=True, query_cache=0)
    model.encode(["load"])
    return model


def test_questions_and_documents_share_the_graph_and_are_unit_vectors(int8, embedder) -> None:
    assert int8.runtime == "onnxruntime-int8"
    docs = int8.encode(DOCS)  # the index path
    alone = np.vstack([int8.encode([d]) for d in DOCS])  # the question path, one at a time
    np.testing.assert_allclose(docs, alone, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    cosine = np.sum(docs * embedder.encode(DOCS), axis=1)  # near the float model, not equal to it
    assert cosine.min() > 0.95 and np.abs(docs - embedder.encode(DOCS)).max() > 1e-4


def test_its_similarity_ranks_the_matching_table_first(int8) -> None:
    scores = int8.encode(DOCS) @ int8.encode(["How many singers are older than 40?"])[0]
    assert int(np.argmax(scores)) == 1, scores
    scores = int8.encode(DOCS) @ int8.encode(["各平台上个月的花费"])[0]
    assert int(np.argmax(scores)) == 2, scores


def test_the_setting_selects_it_and_its_index_is_not_the_float_ones(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ASKDB_EMBEDDING_RUNTIME", "onnx-int8")
    chosen = embedder_for(Settings())
    assert chosen.int8 and chosen.model == "all-MiniLM-L6-v2" and "int8" in chosen.name
    store, catalog = IndexStore(tmp_path), packaged_catalog()
    float_model = SentenceTransformerEmbedder()
    assert store.folder(catalog, chosen.name) != store.folder(catalog, float_model.name)


def test_the_int8_file_is_made_once_and_reused(int8, shared_models_dir: Path) -> None:
    files = list(shared_models_dir.glob("query-encoder-*-int8.onnx"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    again = SentenceTransformerEmbedder(onnx_dir=shared_models_dir, int8=True)
    again.encode(["再来一次"])
    assert files[0].stat().st_mtime_ns == stamp


def test_without_an_onnx_folder_it_refuses_instead_of_mixing_in_torch_vectors() -> None:
    with pytest.raises(ConfigError, match="int8"):
        SentenceTransformerEmbedder(int8=True).encode(["没有 ONNX 目录"])
