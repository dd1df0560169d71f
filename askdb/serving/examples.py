"""``/v1/examples``: the verified question-SQL examples, listed, added through the guard, removed.

An example added or removed here counts from the server's next question on: the running
retriever reloads its examples (the schema index is kept). Another process (the CLI, a second
worker) sees the change when it next opens its retriever.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from starlette.concurrency import run_in_threadpool

from askdb.rag.examples.book import Added, ExampleBook, ExampleExists, ExampleNotFound, PackagedExample
from askdb.runtime.service import AssistantService
from askdb.serving.deps import Caller, Question, Service
from askdb.serving.errors import ERROR_RESPONSES, ApiError

router = APIRouter()

MAX_SQL_CHARS = 20_000
Sql = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_SQL_CHARS)]
RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    404: {"description": "no added example has that question or id"},
    409: {"description": "an example for the question is already there, or it is packaged"},
}


class ExampleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: Question
    sql: Sql = Field(description="one read-only SELECT; the guard checks it as `askdb sql check` does")
    replace: bool = Field(
        default=False, description="replace the example already there for the same question"
    )


def _book(service: AssistantService) -> ExampleBook:
    from askdb.rag.service import store_for
    from askdb.schemas.knowledge import packaged_examples

    return ExampleBook(store_for(service.settings), packaged_examples())


@router.get("/v1/examples", tags=["examples"], responses=RESPONSES)
async def list_examples(who: Caller, service: Service) -> dict[str, Any]:
    """Every verified example: id, question, SQL, tables and whether it is packaged or added."""
    listed = await run_in_threadpool(lambda: _book(service).list())
    return {"examples": [x.to_dict() for x in listed]}


@router.post("/v1/examples", tags=["examples"], status_code=201, responses=RESPONSES)
async def add_example(body: ExampleRequest, who: Caller, service: Service) -> dict[str, Any]:
    """Store a verified example once the guard accepts its SQL (422 with the violations if not)."""
    return (await run_in_threadpool(_add, service, body)).to_dict()


@router.delete("/v1/examples/{question_or_id}", tags=["examples"], responses=RESPONSES)
async def remove_example(question_or_id: str, who: Caller, service: Service) -> dict[str, Any]:
    """Remove an added example by its id or question; packaged examples cannot be removed (409)."""
    return {"removed": (await run_in_threadpool(_remove, service, question_or_id)).to_dict()}


def _add(service: AssistantService, body: ExampleRequest) -> Added:
    from askdb.sql.context import GuardContext

    assistant = service.assistant  # its catalog and LIMIT are the ones every question is guarded with
    context = GuardContext(catalog=assistant.catalog, row_limit=assistant.row_limit)
    try:
        added = _book(service).add(body.question, body.sql, context, replace=body.replace)
    except ExampleExists as exc:
        raise ApiError(409, "example_exists", exc.one_line(), param="question") from None
    service.refresh_examples()
    return added


def _remove(service: AssistantService, question_or_id: str):
    try:
        removed = _book(service).remove(question_or_id)
    except ExampleNotFound as exc:
        raise ApiError(404, "example_not_found", exc.one_line()) from None
    except PackagedExample as exc:
        raise ApiError(409, "packaged_example", exc.one_line()) from None
    service.refresh_examples()
    return removed
