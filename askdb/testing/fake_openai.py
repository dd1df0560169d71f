"""A fake OpenAI-compatible server (as vLLM serves it): ``/v1/chat/completions`` and ``/v1/models``.

Use it with the unmodified ``openai`` client::

    with FakeOpenAIServer(replies=[FakeReply("SELECT 1", reasoning="...")], models=["m"]) as srv:
        OpenAI(base_url=srv.url + "/v1", api_key="EMPTY").chat.completions.create(...)

Reasoning goes out in ``delta.reasoning`` as newer vLLM sends it, or in ``delta.reasoning_content``
(older vLLM, DeepSeek's API) with ``reasoning_field="reasoning_content"``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Literal

from askdb.testing._fake_http import (
    FakeError,
    FakeHTTPServer,
    FakeReply,
    RecordedRequest,
    Script,
    _Handler,
    estimate_tokens,
    pieces,
)

_ERROR_TYPES = {
    400: "BadRequestError",
    401: "AuthenticationError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    429: "RateLimitError",
}


def _error_body(status: int, message: str) -> dict:
    kind = _ERROR_TYPES.get(status, "InternalServerError" if status >= 500 else "BadRequestError")
    return {"error": {"message": message, "type": kind, "param": None, "code": status}}


class FakeOpenAIServer(FakeHTTPServer):
    """Speaks the OpenAI chat-completions protocol with vLLM's extensions; ``api_key`` makes it check keys."""

    def __init__(
        self,
        replies: Script = (),
        *,
        models: list[str] | tuple[str, ...] = ("fake-model",),
        reasoning_field: Literal["reasoning", "reasoning_content"] = "reasoning",
        api_key: str | None = None,
        stream_usage: bool = True,
    ) -> None:
        super().__init__(replies, models=models)
        self.reasoning_field = reasoning_field
        self.api_key = api_key
        # False: like llama-cpp-python's server, which ignores stream_options and streams no usage.
        self.stream_usage = stream_usage

    def route(self, handler: _Handler, request: RecordedRequest) -> None:
        path = request.path.split("?")[0]
        if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return handler.send_json(401, _error_body(401, "Unauthorized"))
        if (request.method, path) == ("GET", "/v1/models"):
            return self._models(handler)
        if (request.method, path) == ("POST", "/v1/chat/completions"):
            return self._chat(handler, request)
        handler.send_json(404, {"detail": "Not Found"})  # what vLLM's FastAPI app answers

    def _models(self, handler: _Handler) -> None:
        data = [
            {
                "id": m,
                "object": "model",
                "created": int(time.time()),
                "owned_by": "vllm",
                "root": m,
                "parent": None,
                "max_model_len": 4096,
            }
            for m in self.models
        ]
        handler.send_json(200, {"object": "list", "data": data})

    def _chat(self, handler: _Handler, request: RecordedRequest) -> None:
        body = request.json or {}
        model = body.get("model", "")
        if model not in self.models:
            return handler.send_json(404, _error_body(404, f"The model `{model}` does not exist."))
        messages = body.get("messages") or []
        reply = self.script.next(messages)
        self.wait(reply.delay)
        if reply.disconnect:
            return handler.drop()
        if reply.error is not None:
            return self._error(handler, reply.error)
        reply = _cut(reply, body.get("max_tokens") or body.get("max_completion_tokens"))
        usage = _usage(reply, messages)
        if not body.get("stream"):
            return handler.send_json(200, self._completion(model, reply, usage))
        with_usage = self.stream_usage and bool((body.get("stream_options") or {}).get("include_usage"))
        events = self._events(model, reply, usage if with_usage else None)
        handler.send_stream("text/event-stream; charset=utf-8", _sse(events))

    @staticmethod
    def _error(handler: _Handler, error: FakeError) -> None:
        handler.send_raw(
            error.status, error.body if error.body is not None else _error_body(error.status, error.message)
        )

    # -- answers ----------------------------------------------------------------------------------
    def _completion(self, model: str, reply: FakeReply, usage: dict) -> dict:
        message = {"role": "assistant", "content": reply.content, "tool_calls": []}
        if reply.reasoning:
            message[self.reasoning_field] = reply.reasoning
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": _finish(reply)}
        return _envelope(model, "chat.completion") | {"choices": [choice], "usage": usage}

    def _events(self, model: str, reply: FakeReply, usage: dict | None) -> Iterator[dict]:
        envelope = _envelope(model, "chat.completion.chunk")
        extra = {"usage": None} if usage is not None else {}  # vLLM sends usage: null until the end

        def event(delta: dict, finish: str | None = None) -> dict:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return envelope | {"choices": [choice]} | extra

        yield event({"role": "assistant", "content": ""})
        for piece in pieces(reply.reasoning):
            yield event({self.reasoning_field: piece})
        for piece in pieces(reply.content):
            yield event({"content": piece})
        # The finish reason comes alone, on an empty delta, as OpenAI and llama.cpp's server send it.
        yield event({}, _finish(reply))
        if usage is not None:
            yield envelope | {"choices": [], "usage": usage}


def _envelope(model: str, kind: str) -> dict:
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": kind, "created": int(time.time()), "model": model}


def _cut(reply: FakeReply, max_tokens: int | None) -> FakeReply:
    """The reply as a server cuts it at ``max_tokens`` (one streamed piece is one token)."""
    reasoning, content = pieces(reply.reasoning), pieces(reply.content)
    if not max_tokens or len(reasoning) + len(content) <= max_tokens:
        return reply
    kept = reasoning[:max_tokens]
    return replace(
        reply, reasoning="".join(kept), content="".join(content[: max_tokens - len(kept)]), cut=True
    )


def _finish(reply: FakeReply) -> str:
    return "length" if reply.cut else "stop"


def _usage(reply: FakeReply, messages: list[dict]) -> dict:
    prompt = reply.prompt_tokens
    if prompt is None:
        prompt = estimate_tokens("".join(str(m.get("content", "")) for m in messages))
    completion = reply.completion_tokens
    if completion is None:
        completion = len(pieces(reply.reasoning)) + len(pieces(reply.content))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _sse(events: Iterator[dict]) -> Iterator[bytes]:
    for item in events:
        yield b"data: " + json.dumps(item, ensure_ascii=False).encode() + b"\n\n"
    yield b"data: [DONE]\n\n"
