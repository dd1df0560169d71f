"""The assistant as an OpenAI-compatible model: ``POST /v1/chat/completions`` (whole, or streamed as
``chat.completion.chunk`` objects) and ``GET /v1/models``, for Dify, Open WebUI or any OpenAI client.

The last user message is the question; earlier user turns, with the SQL our replies showed, are
the conversation's history, so the client keeps the conversation and the server keeps nothing.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from askdb import errors as E
from askdb.events import (
    AnalysisDelta,
    Answer,
    Clarify,
    Event,
    Finished,
    ForecastReady,
    Notice,
    ReasoningDelta,
    SqlReady,
    TableReady,
    Turn,
)
from askdb.serving.deps import MAX_QUESTION_CHARS, Caller, Service
from askdb.serving.errors import ERROR_RESPONSES, ApiError, askdb_error_body
from askdb.serving.wire import SSE_HEADERS, drain, primed, sse

MODEL_ID = "askdb"  # the one model /v1/models lists

router = APIRouter()


# -- request bodies ----------------------------------------------------------------------------------------
class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[TextPart] | None = None

    @property
    def text(self) -> str:
        """The message's text, its text parts joined."""
        if isinstance(self.content, list):
            return "".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """What OpenAI clients send; sampling fields are accepted and ignored (the assistant sets its own)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = Field(default=None, max_length=200)


# -- routes ------------------------------------------------------------------------------------------------
@router.get("/v1/models", tags=["openai"])
async def models(who: Caller) -> dict[str, Any]:
    """The assistant, listed as one OpenAI-compatible model."""
    return {
        "object": "list",
        "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "askdb"}],
    }


@router.post("/v1/chat/completions", tags=["openai"], responses=ERROR_RESPONSES)
async def chat_completions(body: ChatCompletionRequest, who: Caller, service: Service) -> Any:
    """The assistant as a chat model: the last user message is the question, earlier turns are history."""
    if body.model != MODEL_ID:
        raise ApiError(
            404,
            "model_not_found",
            f"the model `{body.model}` does not exist; use `{MODEL_ID}`",
            param="model",
        )
    question, history = chat_history(body.messages)
    name = f"{who}:{body.user}" if body.user else who
    if not body.stream:
        answer = await run_in_threadpool(service.ask, question, caller=name, history=history)
        return JSONResponse(completion(answer))
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    events = service.stream(question, caller=name, history=history)
    first = await primed(events)
    return StreamingResponse(
        completion_stream(first, events, include_usage), media_type="text/event-stream", headers=SSE_HEADERS
    )


# -- replies -----------------------------------------------------------------------------------------------
def chat_history(messages: list[ChatMessage]) -> tuple[str, list[Turn]]:
    """The last user message is the question; earlier user turns, with the SQL our replies showed, are history."""
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    if not users:
        raise ApiError(400, "no_user_message", "messages holds no user message to answer", param="messages")
    last = users[-1]
    question = messages[last].text.strip()
    if not question:
        raise ApiError(400, "empty_question", "the last user message is empty", param="messages")
    if len(question) > MAX_QUESTION_CHARS:
        raise ApiError(
            422,
            "question_too_long",
            f"the question is longer than {MAX_QUESTION_CHARS} characters",
            param="messages",
        )
    turns = []
    for i in users[:-1]:
        reply = next((m.text for m in messages[i + 1 : last] if m.role == "assistant"), "")
        found = re.search(r"```sql\s*\n(.*?)```", reply, re.DOTALL)
        turns.append(Turn(messages[i].text.strip(), found.group(1).strip() if found else None))
    return question, turns[-5:]


def reply_markdown(answer: Answer) -> str:
    """What an OpenAI client shows: the SQL that ran, then the answer markdown (table, analysis), then every notice."""
    parts = [f"```sql\n{answer.sql}\n```"] if answer.sql else []
    parts.append(answer.markdown if answer.outcome != "declined" else answer.analysis)
    parts.extend(f"> {n.text}" for n in answer.notices)
    return "\n\n".join(p for p in parts if p)


def usage(answer: Answer) -> dict[str, int]:
    """The tokens every model call of the answer used, as OpenAI counts them."""
    prompt = sum((s.tokens.prompt_tokens or 0) for s in answer.trace if s.tokens)
    completion = sum((s.tokens.completion_tokens or 0) for s in answer.trace if s.tokens)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def completion(answer: Answer) -> dict[str, Any]:
    """The answer as one ``chat.completion`` object."""
    message: dict[str, Any] = {"role": "assistant", "content": reply_markdown(answer)}
    if answer.reasoning:
        message["reasoning_content"] = answer.reasoning
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL_ID,
        "system_fingerprint": None,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
        "usage": usage(answer),
    }


class StreamedReply:
    """One streamed reply: its ``chat.completion.chunk`` objects, and what it has shown so far."""

    def __init__(self) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.sql = (
            ""  # the statement that ran last: shown with the table, a failed run is repaired, not retracted
        )
        self.shown = False  # the SQL (and the table, if any) went out
        self.reasoned = False  # reasoning streamed as it came
        self.answer: Answer | None = None

    def chunk(
        self,
        delta: dict[str, Any],
        finish: str | None = None,
        usage: dict | None = None,
        choices: bool = True,
    ) -> dict[str, Any]:
        """A ``chat.completion.chunk`` of this reply."""
        body: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": MODEL_ID,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
            if choices
            else [],
        }
        if usage is not None:
            body["usage"] = usage
        return body

    def deltas(self, event: Event) -> Iterator[dict[str, str]]:
        """The reply as deltas: reasoning as reasoning_content; the SQL once it ran; the table; the analysis."""
        match event:
            case ReasoningDelta(text=text):
                self.reasoned = True
                yield {"reasoning_content": text}
            case SqlReady(sql=sql):
                self.sql = sql
            case TableReady(markdown=markdown):
                self.shown = True
                yield {"content": f"```sql\n{self.sql}\n```\n\n{markdown}\n\n"}
            case ForecastReady(markdown=markdown):
                yield {"content": f"{markdown}\n\n"}
            case Clarify():
                self.shown = True
                options = "\n".join(f"{i}. {o['label']}" for i, o in enumerate(event.options, 1))
                yield {"content": f"**需要确认:** {event.question}\n\n{options}"}
            case AnalysisDelta(text=text):
                if not self.shown and self.sql:  # an empty result has no table event
                    self.shown = True
                    yield {"content": f"```sql\n{self.sql}\n```\n\n"}
                yield {"content": text}
            case Notice(text=text):
                yield {"content": f"\n\n> {text}"}
            case Finished(answer=answer):
                self.answer = answer
                if answer.reasoning and not self.reasoned:  # <think> inside the reply is split out at its end
                    yield {"reasoning_content": answer.reasoning}
                if answer.outcome == "declined":
                    yield {"content": answer.analysis}


async def completion_stream(
    first: list[Event], events: Iterator[Event], include_usage: bool
) -> AsyncIterator[bytes]:
    """The reply as server-sent ``chat.completion.chunk`` objects, ending in ``[DONE]``."""
    reply = StreamedReply()
    yield sse(reply.chunk({"role": "assistant", "content": ""}))
    try:
        async for event in drain(first, events):
            for delta in reply.deltas(event):
                yield sse(reply.chunk(delta))
    except E.AskdbError as exc:  # after the first byte the status is sent: say it the way OpenAI streams do
        yield sse(askdb_error_body(exc, details=False))
        yield sse("[DONE]")
        return
    yield sse(reply.chunk({}, finish="stop"))
    if include_usage and reply.answer is not None:
        yield sse(reply.chunk({}, usage=usage(reply.answer), choices=False))
    yield sse("[DONE]")
