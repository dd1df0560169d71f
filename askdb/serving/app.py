"""The FastAPI app of ``askdb serve``: the routers of each surface, the API keys, the body limit,
``GET /healthz`` and the startup that warms the assistant. The routes live in ``ask``,
``openai_facade`` and ``dify``; errors become statuses in ``errors``.

One assistant is built once, lazily, and shared; the blocking work runs in a thread pool, so
concurrent clients do not wait for each other.
"""

from __future__ import annotations

try:
    import fastapi  # noqa: F401 - checked first, so a missing FastAPI is a ConfigError with its fix
except ImportError as exc:  # pragma: no cover - depends on the installation
    from askdb.errors import ConfigError

    raise ConfigError(
        f"the HTTP API needs FastAPI ({exc.name} is missing)",
        hint="pip install 'askdb' again: fastapi and uvicorn are core dependencies",
    ) from None

import os
import threading
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI

from askdb.llm.base import ModelStatus
from askdb.runtime.service import AssistantService
from askdb.serving import ask, dify, examples, openai_facade
from askdb.serving.conversations import ConversationStore
from askdb.serving.deps import Service
from askdb.serving.errors import add_error_handlers, error_body
from askdb.serving.wire import dumps

if TYPE_CHECKING:
    from askdb.settings import Settings

MAX_BODY_BYTES = 256 * 1024  # a question, or an OpenAI chat with its history, is far smaller
THREADS = 64  # more than the 40 anyio allows by default: each question holds a thread while the model writes


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
    if conversations is None:
        conversations = ConversationStore(service.settings.home / "conversations.db")
    app = FastAPI(
        title="askdb",
        version=_version(),
        lifespan=lifespan,
        description="Text-to-SQL over the ads database: checked MySQL, result rows, a short analysis.",
    )
    app.state.service = service
    app.state.conversations = conversations
    app.state.callers = {key: name for name, key in service.settings.api_keys.items()}
    app.state.warm = warm
    add_error_handlers(app)
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    app.add_api_route("/healthz", healthz, methods=["GET"], tags=["meta"])
    for surface in (ask, openai_facade, dify, examples):
        app.include_router(surface.router)
    app.state.mcp_sessions = _mount_mcp(app, service, conversations)
    return app


def _mount_mcp(app: FastAPI, service: AssistantService, conversations: ConversationStore) -> Any:
    """``/mcp`` (streamable HTTP) when the ``mcp`` extra is installed; what the lifespan must run, or None."""
    from importlib.util import find_spec

    if find_spec("mcp") is None:
        return None  # /mcp is then a 404; ``askdb mcp`` names the extra to install
    from askdb.serving.mcp import mount

    return mount(app, service, conversations)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Room for ``THREADS`` questions at once; with ``warm``, the assistant starts loading now."""
    import anyio.to_thread

    limiter = anyio.to_thread.current_default_thread_limiter()
    limiter.total_tokens = max(limiter.total_tokens, THREADS)
    if app.state.warm:
        threading.Thread(target=_warm, args=(app.state.service,), daemon=True, name="askdb-warm").start()
    async with AsyncExitStack() as stack:
        if app.state.mcp_sessions is not None:  # the mounted MCP server's session manager
            await stack.enter_async_context(app.state.mcp_sessions())
        yield


async def healthz(service: Service) -> dict[str, Any]:
    """Liveness, whether the assistant is loaded yet, and, apart from both, whether its model answers."""
    import anyio.to_thread

    from askdb.db import safe_url

    settings = service.settings
    model = await anyio.to_thread.run_sync(_model_status, service)
    return {
        "status": "ok",
        "assistant": "ready" if service.built else "loading",
        # the server is alive and may answer from verified examples even while the model is down
        "llm": {"reachable": model.ok, "message": model.message or None},
        "pid": os.getpid(),
        "backend": settings.llm_backend,
        "model": settings.llm_model,
        "database": safe_url(settings.database_url),
    }


_MODEL_STATUS_TTL_S = 5.0
_model_seen: dict[int, tuple[float, ModelStatus]] = {}


def _model_status(service: AssistantService) -> ModelStatus:
    """The model the assistant asks (the settings' one until it is built), probed at most every 5 s:
    a load balancer polling /healthz must not turn into a stream of requests to the model server."""
    from askdb.runtime.service import probe_model

    now = time.monotonic()
    seen = _model_seen.get(id(service))
    if seen is not None and now - seen[0] < _MODEL_STATUS_TTL_S:
        return seen[1]
    status = (
        service.assistant.llm.probe(1.0) if service.built else probe_model(service.settings, timeout_s=1.0)
    )
    _model_seen[id(service)] = (now, status)
    return status


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
        body = dumps(error_body("invalid_request_error", self._message(), code="request_too_large")).encode()
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
