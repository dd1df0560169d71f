"""Small helpers the backends share: optional imports with install hints, message conversion."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import ModuleType
from typing import TypeVar

from askdb.errors import ConfigError
from askdb.llm.base import Message

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
