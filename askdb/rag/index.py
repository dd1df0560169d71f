"""The two searchable indexes over a list of documents: dense vectors in FAISS and BM25 over tokens.

BM25 is kept as one sparse matrix of precomputed term weights, so scoring a question is a sum of a
few matrix columns: rank-bm25 loops over every document in Python per query term, which costs tens
of milliseconds at ten thousand tables.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import faiss
import numpy as np
from scipy import sparse

from askdb.rag.documents import Document
from askdb.rag.text import tokenize

# Below this many vectors an exact search costs well under a millisecond; above it HNSW is faster
# and its recall (ef_search 128) is indistinguishable in our measurements.
EXACT_LIMIT = 20_000


class DenseIndex:
    """Inner-product search over unit vectors: exact (flat) when small, HNSW when large."""

    def __init__(self, index: faiss.Index) -> None:
        self.index = index

    @classmethod
    def build(cls, vectors: np.ndarray, *, exact_limit: int = EXACT_LIMIT) -> DenseIndex:
        dim = vectors.shape[1]
        if len(vectors) <= exact_limit:
            index: faiss.Index = faiss.IndexFlatIP(dim)
        else:
            index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = 128
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index)

    @property
    def kind(self) -> str:
        return "hnsw" if isinstance(self.index, faiss.IndexHNSWFlat) else "flat"

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def search(self, query: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(document ids, scores), best first; at most ``n``."""
        n = min(n, len(self))
        if n == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores, ids = self.index.search(query.reshape(1, -1).astype(np.float32), n)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def to_bytes(self) -> bytes:
        return faiss.serialize_index(self.index).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> DenseIndex:
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        if isinstance(index, faiss.IndexHNSWFlat):
            index.hnsw.efSearch = 128  # not part of the serialised state
        return cls(index)


class Bm25Index:
    """Okapi BM25 with weights precomputed into a (terms x documents) CSR matrix."""

    def __init__(self, vocabulary: dict[str, int], weights: sparse.csr_matrix) -> None:
        self.vocabulary = vocabulary
        self.weights = weights
        self._idf: np.ndarray | None = None

    @classmethod
    def build(cls, texts: Sequence[str], *, k1: float = 1.2, b: float = 0.75) -> Bm25Index:
        vocabulary: dict[str, int] = {}
        rows, cols, counts = [], [], []
        lengths = np.zeros(len(texts), dtype=np.float64)
        for doc, text in enumerate(texts):
            tokens = tokenize(text)
            lengths[doc] = len(tokens)
            tf: dict[int, int] = {}
            for token in tokens:
                term = vocabulary.setdefault(token, len(vocabulary))
                tf[term] = tf.get(term, 0) + 1
            rows.extend(tf)
            cols.extend([doc] * len(tf))
            counts.extend(tf.values())
        tf_matrix = sparse.csr_matrix(
            (np.array(counts, dtype=np.float64), (rows, cols)), shape=(len(vocabulary), len(texts))
        )
        df = np.diff(tf_matrix.indptr).astype(np.float64)
        n = max(len(texts), 1)
        idf = np.log1p((n - df + 0.5) / (df + 0.5))  # the +1 inside the log keeps common terms positive
        avg = lengths.mean() if len(texts) else 1.0
        coo = tf_matrix.tocoo()
        tf = coo.data
        norm = k1 * (1 - b + b * lengths[coo.col] / max(avg, 1e-9))
        data = idf[coo.row] * tf * (k1 + 1) / (tf + norm)
        weights = sparse.csr_matrix((data.astype(np.float32), (coo.row, coo.col)), shape=tf_matrix.shape)
        return cls(vocabulary, weights)

    def __len__(self) -> int:
        return int(self.weights.shape[1])

    def term_ids(self, tokens: Sequence[str]) -> list[int]:
        return [i for t in dict.fromkeys(tokens) if (i := self.vocabulary.get(t)) is not None]

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every document for these query tokens (zeros where nothing matches)."""
        ids = self.term_ids(tokens)
        if not ids:
            return np.zeros(len(self), dtype=np.float32)
        return np.asarray(self.weights[ids].sum(axis=0)).ravel()

    def idf(self, token: str) -> float:
        """How rare a token is across documents (0 if unknown): weights questions' words for columns."""
        term = self.vocabulary.get(token)
        return float(self._idfs()[term]) if term is not None else 0.0

    def max_idf(self) -> float:
        """The IDF of a word found in one document only: the scale that thresholds on IDF are relative to."""
        idfs = self._idfs()
        return float(idfs.max()) if len(idfs) else 0.0

    def _idfs(self) -> np.ndarray:
        if self._idf is None:
            df = np.diff(self.weights.indptr).astype(np.float64)
            self._idf = np.log1p((len(self) - df + 0.5) / (df + 0.5))
        return self._idf

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        terms = np.array(sorted(self.vocabulary, key=self.vocabulary.__getitem__), dtype=object)
        np.savez(
            buffer,
            data=self.weights.data,
            indices=self.weights.indices,
            indptr=self.weights.indptr,
            shape=np.array(self.weights.shape),
            terms=np.array(terms.tolist(), dtype=str),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Bm25Index:
        arrays = np.load(io.BytesIO(data), allow_pickle=False)
        weights = sparse.csr_matrix(
            (arrays["data"], arrays["indices"], arrays["indptr"]), shape=tuple(arrays["shape"])
        )
        vocabulary = {str(t): i for i, t in enumerate(arrays["terms"])}
        return cls(vocabulary, weights)


def top_n(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` largest positive scores, best first."""
    positive = np.flatnonzero(scores > 0)
    if len(positive) > n:
        positive = positive[np.argpartition(-scores[positive], n - 1)[:n]]
    return positive[np.argsort(-scores[positive], kind="stable")]


class Collection:
    """Documents with their vectors, a dense index and a BM25 index over the same order."""

    def __init__(self, docs: list[Document], vectors: np.ndarray, dense: DenseIndex, bm25: Bm25Index) -> None:
        if not (len(docs) == len(vectors) == len(dense) == len(bm25)):
            raise ValueError("documents, vectors and indexes disagree in length")
        self.docs = docs
        self.vectors = vectors
        self.dense = dense
        self.bm25 = bm25

    @classmethod
    def build(
        cls, docs: list[Document], vectors: np.ndarray, *, exact_limit: int = EXACT_LIMIT
    ) -> Collection:
        """Index already-embedded documents (embedding is the slow part and is done by the caller)."""
        if len(docs) == 0:
            vectors = vectors.reshape(0, vectors.shape[1] if vectors.ndim == 2 else 1)
        return cls(
            docs,
            vectors,
            DenseIndex.build(vectors, exact_limit=exact_limit),
            Bm25Index.build([d.lexical for d in docs]),
        )

    def __len__(self) -> int:
        return len(self.docs)
