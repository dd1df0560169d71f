"""``askdb serve``: the assistant over HTTP (FastAPI), with an OpenAPI schema at ``/openapi.json``.

Routes: ``POST /v1/ask`` (JSON answer, or server-sent events of the workflow with ``stream: true``);
``POST /v1/chat/completions`` and ``GET /v1/models`` (the assistant as an OpenAI-compatible model,
for Dify, Open WebUI or any OpenAI client); ``POST /retrieval`` (Dify's External Knowledge API over
our retriever); ``GET /healthz``.

This module only gathers the names people import: each surface lives in its own module
(``ask``, ``openai_facade``, ``dify``), the app's wiring in ``app``, errors in ``errors``, and
JSON and server-sent events in ``wire``. ``askdb serve --workers N`` names
``askdb.serving.api:app_from_environment``.
"""

from __future__ import annotations

from askdb.serving.app import MAX_BODY_BYTES, THREADS, BodyLimit, app_from_environment, create_app
from askdb.serving.ask import AskRequest
from askdb.serving.deps import MAX_QUESTION_CHARS, Question
from askdb.serving.dify import KNOWLEDGE_ID, RetrievalRequest, RetrievalSetting, retrieval_records
from askdb.serving.errors import (
    ERROR_RESPONSES,
    STATUS,
    ApiError,
    DifyError,
    error_body,
    status_for,
)
from askdb.serving.openai_facade import (
    MODEL_ID,
    ChatCompletionRequest,
    ChatMessage,
    StreamOptions,
    TextPart,
    reply_markdown,
)
from askdb.serving.wire import SSE_HEADERS, answer_json, event_json, jsonable

__all__ = [
    "ERROR_RESPONSES",
    "KNOWLEDGE_ID",
    "MAX_BODY_BYTES",
    "MAX_QUESTION_CHARS",
    "MODEL_ID",
    "SSE_HEADERS",
    "STATUS",
    "THREADS",
    "ApiError",
    "AskRequest",
    "BodyLimit",
    "ChatCompletionRequest",
    "ChatMessage",
    "DifyError",
    "Question",
    "RetrievalRequest",
    "RetrievalSetting",
    "StreamOptions",
    "TextPart",
    "answer_json",
    "app_from_environment",
    "create_app",
    "error_body",
    "event_json",
    "jsonable",
    "reply_markdown",
    "retrieval_records",
    "status_for",
]
