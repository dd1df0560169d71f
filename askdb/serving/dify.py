"""``POST /retrieval``: Dify's External Knowledge API over our retriever. Tables' DDL, notes,
verified examples and column values come back as scored records; refusals take the API's own
shape (``{error_code, error_msg}``), not ours."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from askdb.runtime.service import AssistantService
from askdb.serving.deps import DifyCaller, Question, Service
from askdb.serving.errors import DifyError
from askdb.serving.wire import jsonable

KNOWLEDGE_ID = "askdb"  # the one knowledge base /retrieval serves

router = APIRouter()


class RetrievalSetting(BaseModel):
    model_config = ConfigDict(extra="allow")

    top_k: int = Field(ge=1, le=100)
    score_threshold: float = Field(default=0.0, ge=0.0, le=1.0)


class RetrievalRequest(BaseModel):
    """Dify's External Knowledge API request."""

    model_config = ConfigDict(extra="allow")

    knowledge_id: str = Field(max_length=200)
    query: Question
    retrieval_setting: RetrievalSetting
    metadata_condition: dict[str, Any] | None = None


@router.post(
    "/retrieval",
    tags=["dify"],
    responses={403: {"description": "error_code 1001 or 1002"}, 404: {"description": "error_code 2001"}},
)
async def retrieval(body: RetrievalRequest, who: DifyCaller, service: Service) -> dict[str, Any]:
    """Dify's External Knowledge API: tables' DDL, notes, verified examples and column values, with scores."""
    if body.knowledge_id != KNOWLEDGE_ID:
        raise DifyError(
            404,
            2001,
            f"The knowledge does not exist: {body.knowledge_id!r} (this service has {KNOWLEDGE_ID!r})",
        )
    setting = body.retrieval_setting
    records = await run_in_threadpool(retrieval_records, service, body.query, setting.top_k)
    kept = [r for r in records if r["score"] >= setting.score_threshold][: setting.top_k]
    return {"records": kept}


def retrieval_records(service: AssistantService, query: str, top_k: int) -> list[dict[str, Any]]:
    """Records for Dify, best first. Scores are relative: the best of each kind is 1.0, a value found verbatim is 1.0."""
    from dataclasses import replace

    from askdb.schemas.catalog import compact_ddl

    assistant = service.assistant
    found = assistant.retriever.retrieve(query, max(top_k, 5))
    records: list[dict[str, Any]] = []
    best = max((t.score for t in found.tables), default=0) or 1
    for hit in found.tables:
        table = assistant.catalog.table(hit.name)
        if table is None:
            continue
        shown = replace(
            table, columns=tuple(c for c in table.columns if not hit.columns or c.name in hit.columns)
        )
        records.append(
            _record(
                compact_ddl(shown),
                hit.score / best,
                f"table {hit.name}",
                kind="table",
                table=hit.name,
                via=hit.via,
            )
        )
    for value in found.values:
        records.append(
            _record(
                f"{value.table}.{value.column} = '{value.value}'",
                1.0,
                f"value {value.table}.{value.column}",
                kind="value",
                table=value.table,
                column=value.column,
            )
        )
    best = max((n.score for n in found.notes), default=0) or 1
    records += [
        _record(n.text, n.score / best, f"note {n.name}", kind="note", name=n.name) for n in found.notes
    ]
    best = max((e.score for e in found.examples), default=0) or 1
    records += [
        _record(
            f"-- {e.question}\n{e.sql};",
            e.score / best,
            f"example {e.question}",
            kind="example",
            question=e.question,
            sql=e.sql,
        )
        for e in found.examples
    ]
    return sorted(records, key=lambda r: -r["score"])


def _record(content: str, score: float, title: str, **metadata: Any) -> dict[str, Any]:
    return {
        "content": content,
        "score": round(min(max(score, 0.0), 1.0), 4),
        "title": title,
        "metadata": jsonable(metadata),
    }
