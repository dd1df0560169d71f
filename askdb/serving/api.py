"""``askdb serve``: the assistant over HTTP (FastAPI), with an OpenAPI schema at ``/openapi.json``.

Routes: ``POST /v1/ask`` (JSON answer, or server-sent events of the workflow with ``stream: true``);
``POST /v1/chat/completions`` and ``GET /v1/models`` (the assistant as an OpenAI-compatible model,
for Dify, Open WebUI or any OpenAI client); ``POST /retrieval`` (Dify's External Knowledge API over
our retriever); ``GET /healthz``. One assistant is built once, lazily, and shared; the blocking
work runs in a thread pool, so concurrent clients do not wait for each other. Errors become a
status and one JSON shape here, at the edge, and nowhere else.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal

try:
    from fastapi import Depends, FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, StreamingResponse
    from pydantic import BaseModel, ConfigDict, Field, StringConstraints
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as exc:  # pragma: no cover - depends on the installation
    from askdb.errors import ConfigError

    raise ConfigError(
        f"the HTTP API needs FastAPI ({exc.name} is missing)",
        hint="pip install 'askdb' again: fastapi and uvicorn are core dependencies",
    ) from None

from askdb import errors as E
from askdb.assistant import Answer, Event, Turn, final_answer
from askdb.runtime.service import AssistantService
from askdb.serving.conversations import ConversationStore

if TYPE_CHECKING:
    from askdb.settings import Settings

MODEL_ID = "askdb"  # the one model /v1/models lists
KNOWLEDGE_ID = "askdb"  # the one knowledge base /retrieval serves
MAX_BODY_BYTES = 256 * 1024  # a question, or an OpenAI chat with its history, is far smaller
MAX_QUESTION_CHARS = 4000
THREADS = 64  # more than the 40 anyio allows by default: each question holds a thread while the model writes

Question = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUESTION_CHARS)
]

# Most specific first; an error takes the status of the first class it is an instance of.
STATUS: tuple[tuple[type[E.AskdbError], int], ...] = (
    (E.LLMTimeout, 504),
    (E.QueryTimeout, 504),
    (E.LLMUnavailable, 503),
    (E.ModelNotFound, 503),
    (E.LLMError, 502),
    (E.QueryError, 502),
    (E.DatabaseError, 502),
    (E.NoAnswer, 422),
    (E.SqlRejected, 422),
    (E.ConfigError, 400),
    (E.IndexCorrupt, 503),
    (E.SchemaError, 503),
    (E.AskdbError, 400),
)


def status_for(exc: E.AskdbError) -> int:
    return next(status for cls, status in STATUS if isinstance(exc, cls))


# -- JSON ---------------------------------------------------------------------------------------------
def jsonable(value: Any) -> Any:
    """Plain JSON values: Decimal -> number, dates -> ISO text, numpy scalars -> Python, NaN -> null."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, Decimal):
        return (
            jsonable(int(value) if value == value.to_integral_value() else float(value))
            if value.is_finite()
            else None
        )
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return jsonable(value.item())
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return None if str(value) == "NaT" else value.isoformat()
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return jsonable(value.to_dict())
    return str(value)


def answer_json(answer: Answer, *, trace: bool = True) -> dict[str, Any]:
    return jsonable(answer.to_dict(trace=trace))


def event_json(event: Event) -> dict[str, Any]:
    if event.kind == "answer":
        return answer_json(event.data["answer"])
    if event.kind == "step":
        return jsonable(event.data["step"].to_dict())
    return jsonable(event.data)


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


# -- request bodies -------------------------------------------------------------------------------------
class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: Question
    conversation_id: str | None = Field(
        default=None, max_length=100, description="continue a conversation; the answer returns its id"
    )
    stream: bool = Field(default=False, description="server-sent events of the workflow's steps")
    trace: bool = Field(default=True, description="include every step of the workflow in the answer")


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


# -- errors at the edge --------------------------------------------------------------------------------
class ApiError(Exception):
    """An HTTP-level refusal (auth, unknown model, size) with its status and code."""

    def __init__(self, status: int, code: str, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param


class DifyError(Exception):
    """A refusal in the External Knowledge API's own shape: {error_code, error_msg}."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_body(
    type_: str, message: str, *, code: str | None = None, hint: str | None = None, **extra: Any
) -> dict[str, Any]:
    """One error shape for every route but /retrieval; OpenAI clients read ``error.message``."""
    return {"error": jsonable({"type": type_, "code": code, "message": message, "hint": hint, **extra})}


def _askdb_error(request: Request, exc: E.AskdbError) -> JSONResponse:
    details = {k: v for k, v in exc.to_dict().items() if k not in ("error", "message", "hint")}
    return JSONResponse(
        error_body(
            type(exc).__name__, exc.message, code=_snake(type(exc).__name__), hint=exc.hint, **details
        ),
        status_code=status_for(exc),
    )


def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(
        error_body("invalid_request_error", exc.message, code=exc.code, param=exc.param),
        status_code=exc.status,
        headers=headers,
    )


def _dify_error(request: Request, exc: DifyError) -> JSONResponse:
    return JSONResponse({"error_code": exc.code, "error_msg": exc.message}, status_code=exc.status)


def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
    first = problems[0] if problems else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"] if p != "body") or "body"
    return JSONResponse(
        error_body(
            "invalid_request_error", f"{where}: {first['msg']}", code="invalid_request", details=problems
        ),
        status_code=422,
    )


def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return JSONResponse(
        error_body("invalid_request_error", str(exc.detail), code=f"http_{exc.status_code}"),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", name).lower()


class BodyLimit:
    """Refuses request bodies over ``limit`` bytes with 413, whether or not they declare their length."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            return await self._refuse(send)
        # Read the body here (it is small by design) so that one without a length is refused too.
        chunks, seen, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.limit:
                return await self._refuse(send)
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _message(self) -> str:
        return f"the request body is larger than {self.limit // 1024} KiB; ask a shorter question"

    async def _refuse(self, send: Any) -> None:
        body = _dumps(error_body("invalid_request_error", self._message(), code="request_too_large")).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


# -- shared state --------------------------------------------------------------------------------------
def _authorizer(keys: dict[str, str], *, dify: bool) -> Any:
    by_key = {key: name for name, key in keys.items()}

    async def authorize(request: Request) -> str:  # async: a plain def would cost a thread hop per request
        """The caller's name for the audit log: the API key's name, or "api" when no keys are set."""
        if not by_key:
            return "api"
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            if dify:
                raise DifyError(
                    403, 1001, "Invalid Authorization header format. Expected 'Bearer <api-key>' format."
                )
            raise ApiError(401, "missing_api_key", "send the API key as 'Authorization: Bearer <key>'")
        name = by_key.get(token.strip())
        if name is None:
            if dify:
                raise DifyError(403, 1002, "Authorization failed")
            raise ApiError(401, "invalid_api_key", "the API key is not valid")
        return name

    return authorize


# -- streaming -----------------------------------------------------------------------------------------
_DONE = object()


def _in_conversation(
    service: AssistantService,
    conversations: ConversationStore,
    cid: str,
    question: str,
    caller: str,
    *,
    new: bool = False,
) -> Iterator[Event]:
    """The workflow's events after the conversation's earlier turns; the answer becomes a turn.

    ``new``: the id was made for this question, so there is no history to look up.
    """
    history = [] if new else conversations.history(cid)
    for event in service.stream(question, caller=caller, history=history):
        if event.kind == "answer":
            answer = event.data["answer"]
            conversations.add(cid, Turn(answer.question, answer.sql))
        yield event


async def _next(events: Iterator[Event]) -> Any:
    return await run_in_threadpool(next, events, _DONE)


async def _primed(events: Iterator[Event]) -> list[Event]:
    """Run the workflow up to its first event after retrieval, before any byte is sent.

    An unreachable model or database then fails with its own status (503, 502) instead of a
    200 whose stream breaks off.
    """
    first: list[Event] = []
    while (event := await _next(events)) is not _DONE:
        first.append(event)
        if not (event.kind == "step" and event.data["step"].name == "retrieve"):
            break
    return first


async def _drain(first: list[Event], events: Iterator[Event]) -> AsyncIterator[Event]:
    for event in first:
        yield event
    while (event := await _next(events)) is not _DONE:
        yield event


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {_dumps(data) if not isinstance(data, str) else data}\n\n".encode()


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


# -- OpenAI-compatible replies -------------------------------------------------------------------------
def _history(messages: list[ChatMessage]) -> tuple[str, list[Turn]]:
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
    """What an OpenAI client shows: the SQL that ran, then the answer markdown (table, analysis), then any notice."""
    parts = [f"```sql\n{answer.sql}\n```"] if answer.sql else []
    parts.append(answer.markdown if answer.outcome != "declined" else answer.analysis)
    if answer.notice:
        parts.append(f"> {answer.notice}")
    return "\n\n".join(p for p in parts if p)


def _usage(answer: Answer) -> dict[str, int]:
    prompt = sum((s.tokens.prompt_tokens or 0) for s in answer.trace if s.tokens)
    completion = sum((s.tokens.completion_tokens or 0) for s in answer.trace if s.tokens)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class _Chunks:
    """chat.completion.chunk objects for one streamed reply."""

    def __init__(self) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())

    def make(
        self,
        delta: dict[str, Any],
        finish: str | None = None,
        usage: dict | None = None,
        choices: bool = True,
    ) -> dict[str, Any]:
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


def _openai_deltas(event: Event, state: dict[str, Any]) -> Iterator[dict[str, str]]:
    """The reply as deltas: reasoning as reasoning_content; the SQL once it ran; the table; the analysis."""
    kind = event.kind
    if kind == "reasoning":
        state["reasoned"] = True
        yield {"reasoning_content": event.data["text"]}
    elif kind == "sql":
        state["sql"] = event.data["sql"]  # shown once it has run: a failed run is repaired, not retracted
    elif kind == "table":
        state["shown"] = True
        yield {"content": f"```sql\n{state.get('sql', '')}\n```\n\n{event.data['markdown']}\n\n"}
    elif kind == "analysis":
        if not state.get("shown") and state.get("sql"):  # an empty result has no table event
            state["shown"] = True
            yield {"content": f"```sql\n{state['sql']}\n```\n\n"}
        yield {"content": event.data["text"]}
    elif kind == "notice":
        yield {"content": f"\n\n> {event.data['text']}"}
    elif kind == "answer":
        answer = event.data["answer"]
        if answer.reasoning and not state.get("reasoned"):  # <think> inside the reply is split out at its end
            yield {"reasoning_content": answer.reasoning}
        if answer.outcome == "declined":
            yield {"content": answer.analysis}


# -- the app -------------------------------------------------------------------------------------------
def app_from_environment() -> FastAPI:
    """The app as each ``askdb serve --workers N`` process builds it: settings from ``ASKDB_*``."""
    return create_app(warm=True)


def create_app(
    settings: Settings | None = None,
    *,
    service: AssistantService | None = None,
    warm: bool = False,
    conversations: ConversationStore | None = None,
) -> FastAPI:
    """The HTTP API over one shared assistant (``service``, or one built from ``settings`` on first use).

    ``warm`` starts building the assistant in the background at startup, so the first question
    does not wait for the index to load.
    """
    from askdb.settings import load_settings

    if service is None:
        service = AssistantService(settings or load_settings())
    settings = service.settings
    if conversations is None:
        conversations = ConversationStore(settings.home / "conversations.db")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        import anyio.to_thread

        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = max(limiter.total_tokens, THREADS)
        if warm:
            threading.Thread(target=_warm, args=(service,), daemon=True, name="askdb-warm").start()
        yield

    app = FastAPI(
        title="askdb",
        version=_version(),
        lifespan=lifespan,
        description="Text-to-SQL over the ads database: checked MySQL, result rows, a short analysis.",
    )
    app.state.service = service
    app.state.conversations = conversations
    app.add_exception_handler(E.AskdbError, _askdb_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(DifyError, _dify_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)

    caller = Depends(_authorizer(settings.api_keys, dify=False))
    dify_caller = Depends(_authorizer(settings.api_keys, dify=True))

    @app.get("/healthz", tags=["meta"])
    async def healthz() -> dict[str, Any]:
        """Liveness, and whether the assistant is loaded yet."""
        from askdb.db import safe_url

        return {
            "status": "ok",
            "assistant": "ready" if service.built else "loading",
            "pid": os.getpid(),
            "backend": settings.llm_backend,
            "model": settings.llm_model,
            "database": safe_url(settings.database_url),
        }

    @app.post("/v1/ask", tags=["askdb"], responses=_ERRORS)
    async def ask(body: AskRequest, who: str = caller) -> Any:
        """Answer one question: SQL, rows, markdown and analysis; ``stream: true`` gives server-sent events."""
        cid = body.conversation_id or uuid.uuid4().hex
        events = _in_conversation(
            service, conversations, cid, body.question, who, new=not body.conversation_id
        )
        if not body.stream:
            answer = await run_in_threadpool(final_answer, events)  # one thread hop for the whole question
            # Already plain JSON values: a JSONResponse skips FastAPI's second walk over them.
            return JSONResponse({"conversation_id": cid, **answer_json(answer, trace=body.trace)})
        first = await _primed(events)

        async def sse() -> AsyncIterator[bytes]:
            try:
                async for event in _drain(first, events):
                    data = event_json(event)
                    if event.kind == "answer":
                        data = {"conversation_id": cid, **data}
                    yield _sse(data, event.kind)
            except E.AskdbError as exc:
                yield _sse({**exc.to_dict(), "status": status_for(exc)}, "error")

        return StreamingResponse(sse(), media_type="text/event-stream", headers=SSE_HEADERS)

    @app.get("/v1/models", tags=["openai"])
    async def models(who: str = caller) -> dict[str, Any]:
        """The assistant, listed as one OpenAI-compatible model."""
        return {
            "object": "list",
            "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "askdb"}],
        }

    @app.post("/v1/chat/completions", tags=["openai"], responses=_ERRORS)
    async def chat_completions(body: ChatCompletionRequest, who: str = caller) -> Any:
        """The assistant as a chat model: the last user message is the question, earlier turns are history."""
        if body.model != MODEL_ID:
            raise ApiError(
                404,
                "model_not_found",
                f"the model `{body.model}` does not exist; use `{MODEL_ID}`",
                param="model",
            )
        question, history = _history(body.messages)
        name = f"{who}:{body.user}" if body.user else who
        if not body.stream:
            answer = await run_in_threadpool(service.ask, question, caller=name, history=history)
            return JSONResponse(_completion(answer))
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        events = service.stream(question, caller=name, history=history)
        first = await _primed(events)
        return StreamingResponse(
            _openai_stream(first, events, include_usage), media_type="text/event-stream", headers=SSE_HEADERS
        )

    @app.post(
        "/retrieval",
        tags=["dify"],
        responses={403: {"description": "error_code 1001 or 1002"}, 404: {"description": "error_code 2001"}},
    )
    async def retrieval(body: RetrievalRequest, who: str = dify_caller) -> dict[str, Any]:
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

    return app


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "bad input or a configuration problem"},
    401: {"description": "missing or wrong API key"},
    413: {"description": "request body too large"},
    422: {"description": "invalid body, or no acceptable SQL"},
    502: {"description": "the model or the database failed"},
    503: {"description": "the model cannot be reached"},
    504: {"description": "the model or the database took too long"},
}


def _warm(service: AssistantService) -> None:
    import contextlib

    with contextlib.suppress(Exception):  # the first request meets the same error, with its status
        _ = service.assistant


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("askdb")
    except PackageNotFoundError:  # pragma: no cover
        return "0"


def _completion(answer: Answer) -> dict[str, Any]:
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
        "usage": _usage(answer),
    }


async def _openai_stream(
    first: list[Event], events: Iterator[Event], include_usage: bool
) -> AsyncIterator[bytes]:
    chunks, state = _Chunks(), {}
    yield _sse(chunks.make({"role": "assistant", "content": ""}))
    answer: Answer | None = None
    try:
        async for event in _drain(first, events):
            for delta in _openai_deltas(event, state):
                yield _sse(chunks.make(delta))
            if event.kind == "answer":
                answer = event.data["answer"]
    except E.AskdbError as exc:  # after the first byte the status is sent: say it the way OpenAI streams do
        yield _sse(
            error_body(type(exc).__name__, exc.message, code=_snake(type(exc).__name__), hint=exc.hint)
        )
        yield _sse("[DONE]")
        return
    yield _sse(chunks.make({}, finish="stop"))
    if include_usage and answer is not None:
        yield _sse(chunks.make({}, usage=_usage(answer), choices=False))
    yield _sse("[DONE]")


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
