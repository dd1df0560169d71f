"""The index on disk under ``$ASKDB_HOME/index``: keyed, checked, rebuilt only when it must be.

One folder per (catalog fingerprint, embedding model). Every file is written to a temporary file
and renamed into place; the manifest, which holds each file's SHA-256, is written last. A reader
that finds a file missing, truncated or not matching the manifest treats the index as absent and
rebuilds it, so an interrupted build or a damaged disk costs time, never a crash.

Examples live outside the folder (``examples.jsonl``, shared by every index of the home) with a
small cache of their vectors: adding one embeds one question, not the schema.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from askdb.errors import ConfigError, IndexCorrupt
from askdb.files import write_atomic
from askdb.rag.documents import ColumnValues, Document, example_documents, schema_documents
from askdb.rag.embed import Embedder
from askdb.rag.index import Bm25Index, Collection, DenseIndex
from askdb.rag.retriever import RagIndex
from askdb.schemas.catalog import Catalog
from askdb.schemas.knowledge import Example, Note, knowledge_fingerprint, parse_examples

FORMAT_VERSION = 3  # 2: values.json carries each time column's first and last day; 3: Chinese names in the dense text, notes carry synonyms
Progress = Callable[[str, int, int], None]  # (stage, items just done, stage total)

_FILES = ("docs.json", "vectors.npy", "dense.faiss", "bm25.npz", "values.json")


def _no_progress(_stage: str, _done: int, _total: int) -> None:
    return None


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _npy(array: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _load_npy(data: bytes) -> np.ndarray:
    import io

    return np.load(io.BytesIO(data), allow_pickle=False)


def _values_rows(values: tuple[ColumnValues, ...]) -> list[list[Any]]:
    return [[v.table, v.column, list(v.values), list(v.date_range) if v.date_range else None] for v in values]


def _values_from_rows(rows: list[list[Any]]) -> tuple[ColumnValues, ...]:
    return tuple(ColumnValues(t, c, tuple(v), tuple(r) if r else None) for t, c, v, r in rows)


def values_fingerprint(values: tuple[ColumnValues, ...]) -> str:
    blob = json.dumps(_values_rows(values), ensure_ascii=False)
    return _sha(blob.encode("utf-8"))[:16]


def build_index(
    catalog: Catalog,
    embedder: Embedder,
    *,
    notes: tuple[Note, ...] = (),
    examples: tuple[Example, ...] = (),
    values: tuple[ColumnValues, ...] = (),
    progress: Progress = _no_progress,
) -> RagIndex:
    """Embed and index every document of a catalog (the slow part: one vector per document)."""
    docs = schema_documents(catalog, notes, values)
    progress("embedding", 0, len(docs))
    vectors = embedder.encode([d.dense for d in docs], progress=lambda n: progress("embedding", n, len(docs)))
    progress("indexing", 0, 1)
    schema = Collection.build(docs, vectors)
    progress("indexing", 1, 1)
    return RagIndex(
        catalog, schema, _examples_collection(examples, catalog, embedder, {}), values, embedder.name
    )


def _question_key(question: str) -> str:
    return _sha(question.encode("utf-8"))[:20]


def _examples_collection(
    examples: tuple[Example, ...], catalog: Catalog, embedder: Embedder, cache: dict[str, np.ndarray]
) -> Collection:
    """Examples indexed from cached vectors; only questions not seen before are embedded."""
    docs = example_documents(examples, catalog)
    missing = [d.dense for d in docs if _question_key(d.dense) not in cache]
    if missing:
        for question, vector in zip(missing, embedder.encode(missing)):
            cache[_question_key(question)] = vector
    if docs:
        vectors = np.vstack([cache[_question_key(d.dense)] for d in docs]).astype(np.float32)
    else:
        vectors = embedder.encode([])
    return Collection.build(docs, vectors)


class IndexStore:
    """Reads and writes indexes under one root folder; holds no state beyond the path."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def examples_path(self) -> Path:
        return self.root / "examples.jsonl"

    def folder(self, catalog: Catalog, model: str) -> Path:
        model_key = _sha(model.encode("utf-8"))[:8]
        return self.root / f"{catalog.fingerprint()}-{model_key}"

    # -- examples added at run time -------------------------------------------------------------
    def added_examples(self) -> tuple[Example, ...]:
        if not self.examples_path.is_file():
            return ()
        return parse_examples(self.examples_path.read_text(encoding="utf-8"), source=str(self.examples_path))

    def add_example(self, example: Example) -> None:
        """Keep a verified example for every later retrieval; no index is rebuilt."""
        current = [e for e in self.added_examples() if e.question != example.question]
        lines = [json.dumps(e.to_dict(), ensure_ascii=False) for e in [*current, example]]
        write_atomic(self.examples_path, ("\n".join(lines) + "\n").encode("utf-8"))

    def _vector_cache(self, folder: Path) -> dict[str, np.ndarray]:
        path = folder / "example_vectors.npz"
        try:
            arrays = np.load(path, allow_pickle=False)
            return dict(zip((str(k) for k in arrays["keys"]), arrays["vectors"]))
        except (OSError, ValueError, KeyError):
            return {}  # absent or damaged: the few example vectors are simply embedded again

    def _save_vector_cache(self, folder: Path, cache: dict[str, np.ndarray]) -> None:
        import io

        if not cache:
            return
        buffer = io.BytesIO()
        np.savez(buffer, keys=np.array(list(cache), dtype=str), vectors=np.vstack(list(cache.values())))
        write_atomic(folder / "example_vectors.npz", buffer.getvalue())

    def examples_for(self, catalog: Catalog, embedder: Embedder, examples: tuple[Example, ...]) -> Collection:
        """Packaged plus added examples, embedding only the new ones and caching their vectors."""
        folder = self.folder(catalog, embedder.name)
        cache = self._vector_cache(folder)
        size = len(cache)
        merged = {e.question: e for e in (*examples, *self.added_examples())}
        collection = _examples_collection(tuple(merged.values()), catalog, embedder, cache)
        if len(cache) != size and folder.is_dir():
            self._save_vector_cache(folder, cache)
        return collection

    # -- the schema index -----------------------------------------------------------------------
    def save(self, index: RagIndex, *, notes_key: str) -> Path:
        """Write every file, then the manifest that vouches for them."""
        folder = self.folder(index.catalog, index.model)
        payloads = {
            "docs.json": json.dumps([d.to_dict() for d in index.schema.docs], ensure_ascii=False).encode(
                "utf-8"
            ),
            "vectors.npy": _npy(index.schema.vectors),
            "dense.faiss": index.schema.dense.to_bytes(),
            "bm25.npz": index.schema.bm25.to_bytes(),
            "values.json": json.dumps(_values_rows(index.values), ensure_ascii=False).encode("utf-8"),
        }
        for name, data in payloads.items():
            write_atomic(folder / name, data)
        manifest = {
            "format": FORMAT_VERSION,
            "catalog": index.catalog.fingerprint(),
            "model": index.model,
            "notes": notes_key,
            "values": values_fingerprint(index.values),
            "documents": len(index.schema),
            "dense": index.schema.dense.kind,
            "files": {name: _sha(data) for name, data in payloads.items()},
        }
        write_atomic(folder / "manifest.json", json.dumps(manifest, indent=2).encode("utf-8"))
        return folder

    def manifest(self, catalog: Catalog, model: str) -> dict[str, Any] | None:
        path = self.folder(catalog, model) / "manifest.json"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise IndexCorrupt(
                f"unreadable index manifest {path}: {exc}", hint="run `askdb index` to rebuild"
            ) from None

    def is_current(self, catalog: Catalog, model: str, *, notes_key: str) -> bool:
        """Whether a complete index exists for exactly this catalog, model, notes and format."""
        manifest = self.manifest(catalog, model)
        return (
            bool(manifest)
            and manifest.get("format") == FORMAT_VERSION
            and manifest.get("catalog") == catalog.fingerprint()
            and manifest.get("model") == model
            and manifest.get("notes") == notes_key
        )

    def load(self, catalog: Catalog, embedder: Embedder, *, examples: tuple[Example, ...] = ()) -> RagIndex:
        """Read an index, verifying every file against the manifest; IndexCorrupt if anything is off."""
        folder = self.folder(catalog, embedder.name)
        manifest = self.manifest(catalog, embedder.name)
        if manifest is None:
            raise IndexCorrupt(f"no index at {folder}", hint="run `askdb index`")
        data = {}
        for name in _FILES:
            try:
                data[name] = (folder / name).read_bytes()
            except OSError as exc:
                raise IndexCorrupt(
                    f"index file {folder / name} unreadable: {exc.strerror}",
                    hint="run `askdb index` to rebuild",
                ) from None
            if _sha(data[name]) != manifest.get("files", {}).get(name):
                raise IndexCorrupt(
                    f"index file {folder / name} does not match its manifest",
                    hint="run `askdb index` to rebuild",
                )
        try:
            docs = [Document.from_dict(d) for d in json.loads(data["docs.json"])]
            schema = Collection(
                docs,
                _load_npy(data["vectors.npy"]),
                DenseIndex.from_bytes(data["dense.faiss"]),
                Bm25Index.from_bytes(data["bm25.npz"]),
            )
            values = _values_from_rows(json.loads(data["values.json"]))
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            # Checksums match but the content is wrong: written by an incompatible version.
            raise IndexCorrupt(
                f"index at {folder} cannot be read: {exc}", hint="run `askdb index` to rebuild"
            ) from None
        return RagIndex(
            catalog, schema, self.examples_for(catalog, embedder, examples), values, embedder.name
        )

    def load_or_build(
        self,
        catalog: Catalog,
        embedder: Embedder,
        *,
        notes: tuple[Note, ...] = (),
        examples: tuple[Example, ...] = (),
        values: Callable[[], tuple[ColumnValues, ...]] | None = None,
        rebuild: bool = False,
        progress: Progress = _no_progress,
    ) -> tuple[RagIndex, bool]:
        """The current index, built (and saved) when absent, stale or damaged. Returns (index, built)."""
        notes_key = knowledge_fingerprint(notes, ())
        sampled: tuple[ColumnValues, ...] | None = None
        if rebuild and values is not None:
            sampled = values()
        try:
            current = self.is_current(catalog, embedder.name, notes_key=notes_key)
            if current and not rebuild:
                return self.load(catalog, embedder, examples=examples), False
            if current and sampled is not None:
                manifest = self.manifest(catalog, embedder.name) or {}
                if manifest.get("values") == values_fingerprint(sampled):
                    return self.load(catalog, embedder, examples=examples), False
        except IndexCorrupt:
            pass  # rebuilt below: a damaged index is only a slower start
        if sampled is None:
            sampled = values() if values is not None else ()
        index = build_index(catalog, embedder, notes=notes, values=sampled, progress=progress)
        try:
            self.save(index, notes_key=notes_key)
        except OSError as exc:
            raise ConfigError(
                f"cannot write the index under {self.root}: {exc.strerror}",
                hint="set ASKDB_HOME to a folder you can write to",
            ) from None
        index.examples = self.examples_for(catalog, embedder, examples)
        return index, True
