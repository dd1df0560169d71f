"""Any OpenAI-compatible chat server (vLLM, DeepSeek's API, llama.cpp's server) via the ``openai`` client.

Reasoning models served by vLLM send their thinking in ``delta.reasoning`` (newer vLLM) or
``delta.reasoning_content`` (older vLLM, DeepSeek's API); neither is part of the OpenAI schema,
so they arrive as extra fields on the client's pydantic models.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from askdb.errors import (
    LLMAuthError,
    LLMError,
    LLMServerError,
    LLMTimeout,
    LLMUnavailable,
    ModelNotFound,
)
from askdb.llm._common import as_dicts, import_sdk, probe_server, reopened_if_stale, stale_connection
from askdb.llm.base import LLM, Chunk, Message, ModelStatus, Usage

if TYPE_CHECKING:
    from askdb.settings import Settings

INSTALL = "'openai>=3.54'"
# vLLM started without --api-key accepts any key, but the client refuses to send none.
NO_KEY = "EMPTY"
REASONING_FIELDS = ("reasoning", "reasoning_content")


def _sdk() -> Any:
    return import_sdk("openai", install=INSTALL, backend="openai")


class OpenAICompatibleLLM(LLM):
    """A model behind ``/v1/chat/completions``; default base URL is vLLM's http://127.0.0.1:8000/v1."""

    name = "openai"
    supports_reasoning = True

    def __init__(self, model: str, *, base_url: str, api_key: str | None, timeout_s: float) -> None:
        super().__init__(model)
        self.base_url = base_url
        self.api_key = api_key
        self.timeout_s = timeout_s

    @classmethod
    def from_settings(cls, settings: Settings, *, model: str) -> OpenAICompatibleLLM:
        return cls(
            model,
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key,
            timeout_s=settings.llm_timeout_s,
        )

    def probe(self, timeout_s: float = 2.0) -> ModelStatus:
        """Ask ``/models`` whether the server runs and serves the model; says how to start it if not."""
        return probe_server(
            self.base_url.rstrip("/") + "/models",
            model=self.model,
            served=lambda body: [m["id"] for m in body["data"]],
            start=f"启动兼容 OpenAI 的服务,例如 `vllm serve {self.model}`(或设置 ASKDB_OPENAI_BASE_URL)",
            timeout_s=timeout_s,
            headers={"Authorization": f"Bearer {self.api_key}"} if self.api_key else {},
        )

    @functools.cached_property
    def _client(self) -> Any:
        # One client per backend (thread-safe): building one loads the CA bundle, about 26 ms of
        # CPU per call here, and reuse keeps connections alive.
        # No retries: the client's default (2, with backoff) would triple the time a caller waits
        # past ASKDB_LLM_TIMEOUT_S; the workflow decides itself whether to try again.
        return _sdk().OpenAI(
            base_url=self.base_url,
            api_key=self.api_key or NO_KEY,
            timeout=self.timeout_s,
            max_retries=0,
        )

    def stream(
        self, messages: Sequence[Message], *, temperature: float = 0.1, max_tokens: int | None = None
    ) -> Iterator[Chunk]:
        """Yield reasoning and content deltas; the final usage chunk becomes the last Chunk's usage.

        A server that streams no usage although asked (llama-cpp-python's) gets one made here:
        the prompt's size unknown (None), the reply counted as one token per delta.
        """
        extra = {} if max_tokens is None else {"max_tokens": max_tokens}
        client = self._client

        def events() -> Iterator[Any]:
            with client.chat.completions.create(
                model=self.model,
                messages=as_dicts(messages),
                temperature=temperature,
                stream=True,
                stream_options={"include_usage": True},
                **extra,
            ) as response:
                yield from response

        deltas, usage_seen = 0, False
        try:
            for event in reopened_if_stale(events, stale_connection):
                for chunk in _chunks(event):
                    deltas += bool(chunk.content or chunk.reasoning)
                    usage_seen = usage_seen or chunk.usage is not None
                    yield chunk
        except Exception as exc:
            raise self._translate(exc, client) from exc
        if not usage_seen:
            yield Chunk(usage=Usage(None, deltas))

    def _translate(self, exc: Exception, client: Any) -> Exception:
        openai = _sdk()
        if isinstance(exc, openai.APITimeoutError):  # before APIConnectionError: it is a subclass
            return LLMTimeout(
                f"{self.base_url} sent nothing for {self.timeout_s:g} s (model {self.model})",
                hint="raise ASKDB_LLM_TIMEOUT_S, or check the server's load",
                timeout_s=self.timeout_s,
            )
        if isinstance(exc, openai.APIConnectionError):
            return LLMUnavailable(
                f"cannot connect to an OpenAI-compatible server at {self.base_url}",
                hint="is the server running (`vllm serve MODEL`)? otherwise fix ASKDB_OPENAI_BASE_URL",
                base_url=self.base_url,
            )
        if isinstance(exc, openai.APIStatusError):
            return self._status_error(exc, client)
        if isinstance(exc, openai.APIError):  # an error event inside the stream
            return LLMServerError(f"{self.base_url} broke off the reply: {exc}", hint="see the server's log")
        return exc

    def _status_error(self, exc: Any, client: Any) -> Exception:
        status, detail = exc.status_code, _error_message(exc)
        if status in (401, 403):
            return LLMAuthError(
                f"{self.base_url} refused the API key ({status}): {detail}",
                hint="set ASKDB_OPENAI_API_KEY to the key the server expects (vLLM: its --api-key)",
                status=status,
            )
        if status == 404:
            return self._not_found(detail, client)
        if status >= 500:
            return LLMServerError(
                f"{self.base_url} failed ({status}): {detail}", hint="see the server's log", status=status
            )
        return LLMError(f"{self.base_url} refused the request ({status}): {detail}", status=status)

    def _not_found(self, detail: str, client: Any) -> Exception:
        served = _served_models(client)
        if served is None:  # /models is missing too: the URL points at something else
            return LLMUnavailable(
                f"{self.base_url} has no chat completions endpoint ({detail})",
                hint="fix ASKDB_OPENAI_BASE_URL; it usually ends in /v1",
                base_url=self.base_url,
            )
        listed = ", ".join(served) or "none"
        return ModelNotFound(
            f"{self.base_url} does not serve model {self.model!r} (serves: {listed})",
            hint="set ASKDB_LLM_MODEL to a served name, or start the server with it (`vllm serve MODEL`)",
            model=self.model,
            served=served,
        )


def _chunks(event: Any) -> Iterator[Chunk]:
    for choice in event.choices or ():
        delta = choice.delta
        content, reasoning = (delta.content or "", _reasoning(delta)) if delta is not None else ("", "")
        finish = getattr(choice, "finish_reason", None)
        if content or reasoning or finish:
            yield Chunk(content=content, reasoning=reasoning, finish_reason=finish)
    if event.usage is not None:
        yield Chunk(usage=Usage(event.usage.prompt_tokens, event.usage.completion_tokens))


def _reasoning(delta: Any) -> str:
    extra = getattr(delta, "model_extra", None) or {}
    for field in REASONING_FIELDS:
        value = getattr(delta, field, None) or extra.get(field)
        if value:
            return str(value)
    return ""


def _error_message(exc: Any) -> str:
    body = exc.body
    if isinstance(body, dict):
        body = body.get("error", body)
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    return str(body or exc.message)


def _served_models(client: Any) -> list[str] | None:
    try:
        return [m.id for m in client.models.list()]
    except Exception:  # noqa: BLE001 - the list only improves the message
        return None
