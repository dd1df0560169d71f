"""A fake Ollama server: the real ``/api`` wire protocol on loopback, answering with scripted replies.

Use it with the unmodified ``ollama`` client::

    with FakeOllamaServer(replies=["SELECT 1"], models=["deepseek-r1:7b"]) as srv:
        ollama.Client(host=srv.url).chat(model="deepseek-r1:7b", messages=[...])

Reasoning follows the request's ``think``: true sends it in ``message.thinking``, false drops it,
and unset puts it inline as ``<think>...</think>`` at the start of the content, the way
reasoning models' raw output looks when nothing separates it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

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

VERSION = "0.12.6"  # what GET /api/version reports
_DIGEST = "0" * 64


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class FakeOllamaServer(FakeHTTPServer):
    """Speaks Ollama's HTTP API: chat (NDJSON stream or one JSON), tags, show, version, blobs, create."""

    def __init__(
        self, replies: Script = (), *, models: list[str] | tuple[str, ...] = ("fake-model",)
    ) -> None:
        super().__init__(replies, models=models)
        self.blobs: dict[str, bytes] = {}  # "sha256:<hex>" -> bytes uploaded through /api/blobs

    def route(self, handler: _Handler, request: RecordedRequest) -> None:
        path = request.path.split("?")[0]
        routes = {
            ("POST", "/api/chat"): self._chat,
            ("GET", "/api/tags"): self._tags,
            ("POST", "/api/show"): self._show,
            ("GET", "/api/version"): lambda h, r: h.send_json(200, {"version": VERSION}),
            ("POST", "/api/create"): self._create,
        }
        if path.startswith("/api/blobs/"):
            return self._blob(handler, request, path.removeprefix("/api/blobs/"))
        action = routes.get((request.method, path))
        if action is None:
            return handler.send_raw(404, "404 page not found", "text/plain")
        return action(handler, request)

    # -- chat ---------------------------------------------------------------------------------
    def _chat(self, handler: _Handler, request: RecordedRequest) -> None:
        body = request.json or {}
        model = body.get("model", "")
        if model not in self.models:
            return handler.send_json(404, {"error": f"model '{model}' not found"})
        messages = body.get("messages") or []
        reply = self.script.next(messages)
        self.wait(reply.delay)
        if reply.disconnect:
            return handler.drop()
        if reply.error is not None:
            return self._error(handler, reply.error)
        num_predict = (body.get("options") or {}).get("num_predict")
        lines = self._chat_lines(model, reply, body.get("think"), messages, num_predict)
        if body.get("stream", True):
            return handler.send_stream(
                "application/x-ndjson", (json.dumps(x).encode() + b"\n" for x in lines)
            )
        return handler.send_json(200, _merge(list(lines)))

    def _chat_lines(
        self, model: str, reply: FakeReply, think: Any, messages: list[dict], num_predict: int | None = None
    ) -> Iterator[dict]:
        content, thinking = reply.content, reply.reasoning
        if think is None and thinking:
            content, thinking = f"<think>\n{thinking}\n</think>\n\n{content}", ""
        elif think is False:
            thinking = ""
        thought, said = pieces(thinking), pieces(content)
        done_reason = "stop"
        if num_predict and len(thought) + len(said) > num_predict:  # one piece is one token
            thought = thought[:num_predict]
            said, done_reason = said[: num_predict - len(thought)], "length"
            thinking, content = "".join(thought), "".join(said)
        for piece in thought:
            yield self._line(model, "", piece)
        for piece in said:
            yield self._line(model, piece, None)
        prompt = "".join(str(m.get("content", "")) for m in messages)
        final = self._line(model, "", None) | {"done": True, "done_reason": done_reason}
        yield (
            final
            | _durations()
            | {
                "prompt_eval_count": reply.prompt_tokens
                if reply.prompt_tokens is not None
                else estimate_tokens(prompt),
                "eval_count": reply.completion_tokens
                if reply.completion_tokens is not None
                else len(pieces(thinking)) + len(pieces(content)),
            }
        )

    @staticmethod
    def _line(model: str, content: str, thinking: str | None) -> dict:
        message = {"role": "assistant", "content": content}
        if thinking is not None:
            message["thinking"] = thinking
        return {"model": model, "created_at": _now(), "message": message, "done": False}

    @staticmethod
    def _error(handler: _Handler, error: FakeError) -> None:
        handler.send_raw(error.status, error.body if error.body is not None else {"error": error.message})

    # -- model listing --------------------------------------------------------------------------
    def _model_entry(self, name: str) -> dict:
        return {
            "name": name,
            "model": name,
            "modified_at": _now(),
            "size": 4_683_087_332,
            "digest": hashlib.sha256(name.encode()).hexdigest(),
            "details": {
                "parent_model": "",
                "format": "gguf",
                "family": "qwen2",
                "families": ["qwen2"],
                "parameter_size": "7.6B",
                "quantization_level": "Q4_K_M",
            },
        }

    def _tags(self, handler: _Handler, request: RecordedRequest) -> None:
        handler.send_json(200, {"models": [self._model_entry(m) for m in self.models]})

    def _show(self, handler: _Handler, request: RecordedRequest) -> None:
        name = (request.json or {}).get("model") or (request.json or {}).get("name", "")
        if name not in self.models:
            return handler.send_json(404, {"error": f"model '{name}' not found"})
        entry = self._model_entry(name)
        handler.send_json(
            200,
            {
                "modelfile": f"FROM {name}\nPARAMETER num_ctx 4096\n",
                "parameters": "num_ctx 4096",
                "template": "{{ .Prompt }}",
                "details": entry["details"],
                "modified_at": entry["modified_at"],
                "model_info": {"general.architecture": "qwen2", "qwen2.context_length": 131072},
                "capabilities": ["completion", "thinking"],
            },
        )

    # -- blobs and create (for deploying fine-tuned models) --------------------------------------
    def _blob(self, handler: _Handler, request: RecordedRequest, digest: str) -> None:
        if request.method == "HEAD":
            return handler.send_json(200 if digest in self.blobs else 404, {}, head_only=True)
        if request.method != "POST":
            return handler.send_raw(405, "405 method not allowed", "text/plain")
        actual = "sha256:" + hashlib.sha256(request.body).hexdigest()
        if actual != digest:
            return handler.send_json(400, {"error": f"digest mismatch, expected {digest!r}, got {actual!r}"})
        self.blobs[digest] = request.body
        handler.send_raw(201, "", "text/plain")

    def _create(self, handler: _Handler, request: RecordedRequest) -> None:
        body = request.json or {}
        missing = [d for d in (body.get("files") or {}).values() if d not in self.blobs]
        if missing:
            return handler.send_json(400, {"error": f"missing blob {missing[0]}"})
        if not body.get("model"):
            return handler.send_json(400, {"error": "model is required"})
        if body["model"] not in self.models:
            self.models.append(body["model"])
        statuses = ["gathering model components"]
        statuses += [f"using existing layer {d}" for d in (body.get("files") or {}).values()]
        statuses += ["writing manifest", "success"]
        if body.get("stream", True):
            return handler.send_stream(
                "application/x-ndjson", (json.dumps({"status": s}).encode() + b"\n" for s in statuses)
            )
        handler.send_json(200, {"status": "success"})


def _durations() -> dict[str, int]:
    # Nanoseconds, as Ollama reports them; the fake spends next to none.
    return {
        "total_duration": 1_000_000,
        "load_duration": 500_000,
        "prompt_eval_duration": 200_000,
        "eval_duration": 300_000,
    }


def _merge(lines: list[dict]) -> dict:
    """The non-streaming answer: the final line, with the whole message put back together."""
    final = dict(lines[-1])
    content = "".join(x["message"]["content"] for x in lines)
    thinking = "".join(x["message"].get("thinking") or "" for x in lines)
    final["message"] = {"role": "assistant", "content": content} | (
        {"thinking": thinking} if thinking else {}
    )
    return final
