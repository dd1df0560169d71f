"""What the fake LLM servers share: scripted replies, request records, and a loopback HTTP server.

Standard library only, so the fakes run wherever the tests run.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass(frozen=True)
class FakeError:
    """An HTTP error the fake answers with; ``body`` replaces the protocol's usual error JSON."""

    status: int
    message: str = "fake server error"
    body: str | dict | None = None


@dataclass(frozen=True)
class FakeReply:
    """One scripted answer: text, optional reasoning, a delay before the first byte, or an error."""

    content: str = ""
    reasoning: str = ""
    delay: float = 0.0
    error: FakeError | None = None
    prompt_tokens: int | None = None  # reported usage; estimated from the text when None
    completion_tokens: int | None = None
    # Close the connection without a response: what a client sees when a server drops a
    # keep-alive connection just as the client reuses it.
    disconnect: bool = False
    cut: bool = False  # the server stopped it at max_tokens (finish reason "length")


ReplyLike = FakeReply | str
Script = Iterable[ReplyLike] | Callable[[list[dict]], ReplyLike]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    json: Any = field(default=None)


def pieces(text: str, size: int = 6) -> list[str]:
    """Text cut into small pieces, so clients must put a streamed reply back together."""
    return [text[i : i + size] for i in range(0, len(text), size)]


def estimate_tokens(text: str) -> int:
    return max(1, len(text) // 3) if text else 0


class ReplyScript:
    """The next reply for a request: from a queue, or from a function of the request's messages."""

    def __init__(self, replies: Script) -> None:
        self._fn = replies if callable(replies) else None
        self._queue: deque[ReplyLike] = deque(() if callable(replies) else replies)
        self._lock = threading.Lock()

    def next(self, messages: list[dict]) -> FakeReply:
        if self._fn is not None:
            reply = self._fn(messages)
        else:
            with self._lock:
                if not self._queue:
                    return FakeReply(error=FakeError(500, "fake server: no scripted replies left"))
                reply = self._queue.popleft()
        return FakeReply(content=reply) if isinstance(reply, str) else reply


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streaming, as the real servers do
    # Ollama (Go) and vLLM (uvicorn) send with TCP_NODELAY; without it a reused connection waits
    # ~40 ms per reply on Nagle plus delayed ACK, which no real server would charge.
    disable_nagle_algorithm = True
    fake: FakeHTTPServer  # set on the subclass each server makes

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read srv.requests, not a log on stderr

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client gave up (e.g. its timeout): nothing to answer

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return b"".join(self._read_chunks())
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _read_chunks(self) -> Iterator[bytes]:
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            yield self.rfile.read(size)
            self.rfile.readline()
        self.rfile.readline()

    def _dispatch(self) -> None:
        body = self._read_body() if self.command in ("POST", "PUT", "DELETE") else b""
        try:
            parsed = json.loads(body) if body else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            parsed = None
        headers = {k.lower(): v for k, v in self.headers.items()}  # HTTP names are case-insensitive
        request = RecordedRequest(self.command, self.path, headers, body, parsed)
        self.fake._record(request)
        self.fake.route(self, request)

    do_GET = do_POST = do_HEAD = do_DELETE = _dispatch

    # -- writing answers ------------------------------------------------------------------
    def drop(self) -> None:
        """Hang up without a byte of response."""
        import socket

        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def send_json(self, status: int, payload: Any, *, head_only: bool = False) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head_only:
            self.wfile.write(data)

    def send_raw(self, status: int, body: str | dict, content_type: str = "application/json") -> None:
        data = (json.dumps(body) if isinstance(body, dict) else body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_stream(self, content_type: str, parts: Iterable[bytes]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for part in parts:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class FakeHTTPServer:
    """A threaded HTTP server on 127.0.0.1 at a free port, run in the background while in ``with``."""

    def __init__(self, replies: Script = (), *, models: Sequence[str] = ("fake-model",)) -> None:
        self.script = ReplyScript(replies)
        self.models = list(models)
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> Self:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False  # a handler still sleeping out a delay must not hold up stop()
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake server is not running; use it in a `with` block")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- helpers for the protocol subclasses ---------------------------------------------------
    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def wait(self, seconds: float) -> None:
        """Sleep out a scripted delay, waking early when the server stops."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The recorded requests whose path (without query) is ``path``."""
        return [r for r in self.requests if r.path.split("?")[0] == path]

    def route(self, handler: _Handler, request: RecordedRequest) -> None:
        raise NotImplementedError
