"""Small helpers the backends share: optional imports with install hints, message conversion."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import ModuleType
from typing import Any, TypeVar

from askdb.errors import ConfigError
from askdb.llm.base import Message, ModelStatus

T = TypeVar("T")


def _missing(module: str, install: str, backend: str) -> ConfigError:
    return ConfigError(
        f"the {backend} backend needs the Python package {module!r}, which is not installed",
        hint=f"pip install {install}",
        backend=backend,
    )


def check_installed(module: str, *, install: str, backend: str) -> None:
    """Fail early (at create time) with the install command, without importing a heavy package."""
    if importlib.util.find_spec(module) is None:
        raise _missing(module, install, backend)


def import_sdk(module: str, *, install: str, backend: str) -> ModuleType:
    """Import a backend's SDK where it is first used; a missing one names the exact install command."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise _missing(module, install, backend) from None


def as_dicts(messages: Sequence[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def reopened_if_stale(
    open_stream: Callable[[], Iterable[T]], stale: Callable[[BaseException], bool]
) -> Iterator[T]:
    """The stream, opened once more when the first try broke before its first item on a dead connection.

    A pooled keep-alive connection that the server (or the network) closed meanwhile fails the
    next request that reuses it: "Server disconnected without sending a response", a reset, or
    EBADF. No token has reached the caller then, so asking again on a fresh connection is safe;
    a server that is down (refused connect) or slow (timeout) is not retried.
    """
    started = False
    try:
        for item in open_stream():
            started = True
            yield item
    except Exception as exc:
        if started or not stale(exc):
            raise
        yield from open_stream()


def stale_connection(exc: BaseException) -> bool:
    """An HTTP client error of a reused connection that died: nothing was sent back on it.

    The ollama client raises httpx's errors; openai's SDK now runs on httpx2 and wraps them in
    APIConnectionError, so both libraries' classes are recognised, directly or as the cause.
    """
    kinds = []
    for module in ("httpx", "httpx2"):
        try:
            client = importlib.import_module(module)
        except ImportError:
            continue
        kinds += [client.RemoteProtocolError, client.ReadError, client.WriteError]
    return any(isinstance(error, tuple(kinds)) for error in (exc, exc.__cause__) if error is not None)


def probe_server(
    url: str,
    *,
    model: str,
    served: Callable[[Any], list[str]],
    start: str,
    timeout_s: float,
    headers: Mapping[str, str] | None = None,
) -> ModelStatus:
    """GET a server's model list at ``url``; ready when ``model`` (or ``model:latest``) is on it.

    ``served`` reads the names from the decoded JSON body; ``start`` (Chinese, for the chat's
    banner) says how to start the server or get the model. Never raises for a server that is
    down, answers an error status, or sends something else than expected.
    """
    import httpx

    try:
        response = httpx.get(url, timeout=timeout_s, headers=dict(headers or {}))
        response.raise_for_status()
        names = served(response.json())
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        return ModelStatus(
            False,
            f"无法连接模型服务 `{url}`({type(exc).__name__})。{start}。"
            "在此之前,已验证示例中的问题和“运行 SQL”仍可使用。",
        )
    if model not in names and f"{model}:latest" not in names:
        return ModelStatus(
            False, f"模型服务在运行,但没有模型 `{model}`(已有:{', '.join(names) or '无'})。{start}。"
        )
    return ModelStatus(True)
