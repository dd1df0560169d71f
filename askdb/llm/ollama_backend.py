"""Ollama through the official ``ollama`` client, streamed.

``llm_timeout_s`` bounds every wait on the server (connecting, the first token, the gap between
two tokens), not the whole reply: a long reasoning stream that keeps flowing is not cut off,
a server that goes quiet is.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from askdb.errors import LLMError, LLMServerError, LLMTimeout, LLMUnavailable, ModelNotFound
from askdb.llm._common import as_dicts, import_sdk, probe_server, reopened_if_stale, stale_connection
from askdb.llm.base import LLM, Chunk, Message, ModelStatus, Usage

if TYPE_CHECKING:
    from askdb.settings import Settings

INSTALL = "'ollama>=0.6'"


def _sdk() -> Any:
    return import_sdk("ollama", install=INSTALL, backend="ollama")


class OllamaLLM(LLM):
    """A model served by Ollama (``ollama serve``), default at http://127.0.0.1:11434."""

    name = "ollama"
    supports_reasoning = True

    def __init__(
        self, model: str, *, host: str, timeout_s: float, num_ctx: int, think: bool | None = None
    ) -> None:
        super().__init__(model)
        self.host = host
        self.timeout_s = timeout_s
        self.num_ctx = num_ctx
        self.think = think

    def context_window(self) -> int:
        """The ``num_ctx`` every request sends: Ollama serves that window whatever the Modelfile says."""
        return self.num_ctx

    @classmethod
    def from_settings(cls, settings: Settings, *, model: str) -> OllamaLLM:
        return cls(
            model,
            host=settings.ollama_host,
            timeout_s=settings.llm_timeout_s,
            num_ctx=settings.llm_num_ctx,
            think=settings.llm_think,
        )

    def _request(
        self, messages: Sequence[Message], temperature: float, max_tokens: int | None
    ) -> dict[str, Any]:
        # num_ctx is always sent: Ollama's own default (2048 on older servers) silently truncates
        # the long schema prompts, which shows up as wrong SQL rather than an error.
        options: dict[str, Any] = {"num_ctx": self.num_ctx, "temperature": temperature}
        if max_tokens is not None:
            options["num_predict"] = max_tokens
        request: dict[str, Any] = {
            "model": self.model,
            "messages": as_dicts(messages),
            "stream": True,
            "options": options,
        }
        if self.think is not None:
            request["think"] = self.think
        return request

    def stream(
        self, messages: Sequence[Message], *, temperature: float = 0.1, max_tokens: int | None = None
    ) -> Iterator[Chunk]:
        """Yield thinking and content as Ollama streams them; the last chunk carries the token counts."""
        request = self._request(messages, temperature, max_tokens)
        client = self._client
        try:
            for part in reopened_if_stale(lambda: client.chat(**request), stale_connection):
                yield _chunk(part)
        except Exception as exc:
            raise self._translate(exc, client) from exc

    def probe(self, timeout_s: float = 2.0) -> ModelStatus:
        """Ask ``/api/tags`` whether Ollama runs and has the model; says how to start it if not."""
        return probe_server(
            self.host.rstrip("/") + "/api/tags",
            model=self.model,
            served=lambda body: [m["name"] for m in body["models"]],
            start=f"启动 Ollama:`ollama serve`,再 `ollama pull {self.model}`(或设置 ASKDB_OLLAMA_HOST)",
            timeout_s=timeout_s,
        )

    @functools.cached_property
    def _client(self) -> Any:
        # One client per backend (thread-safe): building one loads the CA bundle, about 26 ms of
        # CPU per call here, and reuse keeps connections alive.
        return _sdk().Client(host=self.host, timeout=self.timeout_s)

    def _translate(self, exc: Exception, client: Any) -> Exception:
        import httpx

        ollama = _sdk()
        if isinstance(exc, httpx.TimeoutException):
            return LLMTimeout(
                f"Ollama at {self.host} sent nothing for {self.timeout_s:g} s (model {self.model})",
                hint="raise ASKDB_LLM_TIMEOUT_S, or use a smaller model; the first call also loads the model",
                timeout_s=self.timeout_s,
            )
        if isinstance(exc, (ConnectionError, httpx.ConnectError)):
            return LLMUnavailable(
                f"cannot connect to Ollama at {self.host}",
                hint="start it with `ollama serve` (or set ASKDB_OLLAMA_HOST)",
                host=self.host,
            )
        if isinstance(exc, ollama.ResponseError):
            return self._response_error(exc, client)
        if isinstance(exc, httpx.HTTPError):
            return LLMServerError(
                f"Ollama at {self.host} broke off the reply: {exc}", hint="check `ollama serve`'s log"
            )
        return exc

    def _response_error(self, exc: Any, client: Any) -> Exception:
        if exc.status_code == 404 and "not found" in str(exc.error).lower():
            return ModelNotFound(
                f"Ollama at {self.host} has no model {self.model!r}{_installed_models(client)}",
                hint=f"run `ollama pull {self.model}` (or set ASKDB_LLM_MODEL to an installed model)",
                model=self.model,
            )
        if exc.status_code >= 500 or exc.status_code == -1:  # -1: an error line inside the stream
            return LLMServerError(
                f"Ollama failed on model {self.model!r}: {exc.error}",
                hint="see `ollama serve`'s log; out of memory often means lowering ASKDB_LLM_NUM_CTX",
                status=exc.status_code,
            )
        return LLMError(
            f"Ollama refused the request ({exc.status_code}): {exc.error}", status=exc.status_code
        )


def _chunk(part: Any) -> Chunk:
    message = part.message
    usage, finish = None, None
    if part.done:
        usage = Usage(prompt_tokens=part.prompt_eval_count, completion_tokens=part.eval_count)
        finish = getattr(part, "done_reason", None)  # "stop", or "length" at num_predict
    return Chunk(
        content=message.content or "", reasoning=message.thinking or "", usage=usage, finish_reason=finish
    )


def _installed_models(client: Any) -> str:
    """'; installed: a, b' when the server can say so cheaply; nothing when it cannot."""
    try:
        names = [m.model for m in client.list().models if m.model]
    except Exception:  # noqa: BLE001 - only a nicety for the message
        return ""
    return f"; installed: {', '.join(names)}" if names else "; no models are installed"
