"""``POST /v1/ask``: one question, answered as JSON, or as server-sent events of the workflow
(``stream: true``), in a conversation that follow-up questions continue by its id."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from askdb import errors as E
from askdb.assistant import final_answer
from askdb.events import Event, Finished, Turn
from askdb.runtime.service import AssistantService
from askdb.serving.conversations import ConversationStore
from askdb.serving.deps import Caller, Conversations, Question, Service
from askdb.serving.errors import ERROR_RESPONSES, status_for
from askdb.serving.wire import SSE_HEADERS, answer_json, drain, event_json, primed, sse

router = APIRouter()


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: Question
    conversation_id: str | None = Field(
        default=None, max_length=100, description="continue a conversation; the answer returns its id"
    )
    stream: bool = Field(default=False, description="server-sent events of the workflow's steps")
    trace: bool = Field(default=True, description="include every step of the workflow in the answer")
    limit: int | None = Field(
        default=None,
        ge=1,
        description="rows to return at most for this question, up to ASKDB_MAX_ROWS (default: ASKDB_ROW_LIMIT)",
    )
    clarify: bool = Field(
        default=True,
        description="ask one question back (a 'clarify' event, outcome 'clarify') when the question has two "
        "readings; false: answer as asked (send a chosen option's question with false)",
    )


@router.post("/v1/ask", tags=["askdb"], responses=ERROR_RESPONSES)
async def ask(body: AskRequest, who: Caller, service: Service, conversations: Conversations) -> Any:
    """Answer one question: SQL, rows, markdown and analysis; ``stream: true`` gives server-sent events."""
    cid = body.conversation_id or uuid.uuid4().hex
    events = in_conversation(
        service,
        conversations,
        cid,
        body.question,
        who,
        new=not body.conversation_id,
        row_limit=body.limit,
        clarify=body.clarify,
    )
    if not body.stream:
        answer = await run_in_threadpool(final_answer, events)  # one thread hop for the whole question
        # Already plain JSON values: a JSONResponse skips FastAPI's second walk over them.
        return JSONResponse({"conversation_id": cid, **answer_json(answer, trace=body.trace)})
    first = await primed(events)
    return StreamingResponse(
        ask_stream(first, events, cid), media_type="text/event-stream", headers=SSE_HEADERS
    )


def in_conversation(
    service: AssistantService,
    conversations: ConversationStore,
    cid: str,
    question: str,
    caller: str,
    *,
    new: bool = False,
    row_limit: int | None = None,
    clarify: bool = True,
) -> Iterator[Event]:
    """The workflow's events after the conversation's earlier turns; the answer becomes a turn.

    ``new``: the id was made for this question, so there is no history to look up; ``row_limit``:
    this question's row limit (``None``: the configured one).
    """
    history = [] if new else conversations.history(cid)
    for event in service.stream(
        question, caller=caller, history=history, row_limit=row_limit, clarify=clarify
    ):
        if isinstance(event, Finished) and event.answer.outcome != "clarify":  # a question back is no turn
            conversations.add(cid, Turn(event.answer.question, event.answer.sql))
        yield event


async def ask_stream(first: list[Event], events: Iterator[Event], cid: str) -> AsyncIterator[bytes]:
    """The events as server-sent events named by their kind; an error after the first byte is an ``error`` event."""
    try:
        async for event in drain(first, events):
            data = event_json(event)
            if isinstance(event, Finished):
                data = {"conversation_id": cid, **data}
            yield sse(data, event.kind)
    except E.AskdbError as exc:
        yield sse({**exc.to_dict(), "status": status_for(exc)}, "error")
