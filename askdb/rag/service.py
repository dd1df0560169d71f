"""Wiring for callers (CLI, assistant): from settings and a database URL to a ready retriever."""

from __future__ import annotations

from askdb.rag.embed import Embedder, SentenceTransformerEmbedder
from askdb.rag.retriever import HybridRetriever, RetrievalConfig
from askdb.rag.store import IndexStore, Progress, _no_progress
from askdb.schemas.knowledge import (
    Example,
    Note,
    folder_notes,
    merged_notes,
    packaged_examples,
    packaged_notes,
)
from askdb.settings import Settings


def embedder_for(settings: Settings) -> SentenceTransformerEmbedder:
    """The configured embedding model, with questions on ONNX Runtime (float or int8) unless told torch."""
    onnx_dir = settings.models_path if settings.embedding_runtime != "torch" else None
    return SentenceTransformerEmbedder(
        settings.embedding_model, onnx_dir=onnx_dir, int8=settings.embedding_runtime == "onnx-int8"
    )


def notes_for(settings: Settings) -> tuple[Note, ...]:
    """The packaged notes and one's own, ``$ASKDB_HOME/notes/*.md`` (same header: tables, columns,
    synonyms); one of the same file name replaces the packaged note."""
    return merged_notes(packaged_notes(), folder_notes(settings.home / "notes"))


def store_for(settings: Settings) -> IndexStore:
    return IndexStore(settings.home / "index")


def open_retriever(
    settings: Settings,
    *,
    db_url: str | None = None,
    embedder: Embedder | None = None,
    rebuild: bool = False,
    config: RetrievalConfig | None = None,
    progress: Progress = _no_progress,
) -> tuple[HybridRetriever, bool]:
    """Reflect the database's catalog and load its index, building it when needed. Returns (retriever, built).

    Column values are read from the database only when the index is (re)built: a question then
    costs no query against the database.
    """
    from askdb.db import make_engine, safe_url
    from askdb.rag.values import sample_values
    from askdb.schemas.catalog import catalog_for_engine

    embedder = embedder or embedder_for(settings)
    url = db_url or settings.database_url
    engine = make_engine(url, read_only=True)
    try:
        catalog = catalog_for_engine(engine).require_tables(safe_url(url))
        index, built = store_for(settings).load_or_build(
            catalog,
            embedder,
            notes=notes_for(settings),
            examples=packaged_examples(),
            values=lambda: sample_values(engine, catalog, progress=lambda c: progress("values", 1, 0)),
            rebuild=rebuild,
            progress=progress,
        )
    finally:
        engine.dispose()
    return HybridRetriever(index, embedder, config), built


def add_example(settings: Settings, question: str, sql: str) -> Example:
    """Store a verified question-SQL pair; the next retrieval finds it without an index rebuild."""
    example = Example.create(question, sql)
    store_for(settings).add_example(example)
    return example
