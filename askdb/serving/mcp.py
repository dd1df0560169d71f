"""The MCP server: askdb's tools and schema for any MCP client (desktop apps, IDEs, agents).

``askdb mcp`` serves it over stdio; ``askdb serve`` mounts the same server at ``/mcp`` (streamable
HTTP) behind the API's keys. Every tool goes through the shared ``AssistantService``: ``run_sql``
meets the same guard, read-only runner and row cap as ``askdb sql run``, and ``ask`` the same
workflow and conversations as ``POST /v1/ask``. Nothing here writes to the database.

Each tool returns text content (what every client shows the model) beside structured content
(which some clients drop). An askdb error becomes a ``ToolError`` with its message and fix; any
other exception reaches the client only as the SDK's "Error executing tool", never a traceback.
"""

from __future__ import annotations

try:
    from mcp.server import MCPServer
    from mcp.server.mcpserver import Context
    from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
    from mcp.types import CallToolResult, TextContent, ToolAnnotations
except ImportError as exc:  # pragma: no cover - depends on the installation
    from askdb.errors import ConfigError

    raise ConfigError(
        f"the MCP server needs the mcp package ({exc.name} is missing)",
        hint="pip install 'askdb[mcp]'",
        missing="mcp",
    ) from None

import contextlib
import functools
import json
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pydantic import BaseModel, Field

from askdb.errors import AskdbError, SchemaError

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from askdb.runtime.service import AssistantService
    from askdb.schemas.catalog import Catalog, Table
    from askdb.serving.conversations import ConversationStore

NAME = "askdb"
INSTRUCTIONS = (
    "Text-to-SQL over the ads database (Chinese questions welcome). `ask` answers a question end "
    "to end; `list_tables`, `describe_table` and `retrieve` show the schema; `check_sql` and "
    "`run_sql` take one read-only MySQL SELECT, which the guard checks before it runs."
)
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
MAX_K = 50

_F = TypeVar("_F", bound=Callable[..., Any])


# -- what the tools return (their output schemas) -------------------------------------------------------
class AskResult(BaseModel):
    conversation_id: str = Field(description="pass it back to continue the conversation")
    outcome: str = Field(description="answered | empty | clarify | ...")
    sql: str | None
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    markdown: str
    analysis: str
    clarify: dict[str, Any] | None = Field(description="outcome clarify: the question back and its options")
    forecast: dict[str, Any] | None = Field(description="when the question asked about the future")
    notice: str | None


class SqlResult(BaseModel):
    sql: str = Field(description="the statement as it ran, with the guard's LIMIT")
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool


class CheckResult(BaseModel):
    ok: bool
    sql: str
    violations: list[dict[str, str]]


class TableSummary(BaseModel):
    name: str
    comment: str
    columns: int


class TablesResult(BaseModel):
    tables: list[TableSummary]


class ColumnInfo(BaseModel):
    name: str
    type: str
    comment: str
    nullable: bool


class TableInfo(BaseModel):
    name: str
    comment: str
    columns: list[ColumnInfo]
    primary_key: list[str]
    foreign_keys: list[dict[str, Any]]
    ddl: str


# -- the server ----------------------------------------------------------------------------------------
def build_server(
    service: AssistantService,
    conversations: ConversationStore | None = None,
    *,
    callers: Mapping[str, str] | None = None,
    warm: bool = False,
) -> MCPServer:
    """The MCP server over ``service``.

    Args:
        service: the shared assistant; it is built on the first call that needs it.
        conversations: the turns ``ask`` continues by ``conversation_id`` (default: the home's file,
            the same one ``/v1/ask`` uses).
        callers: API key -> name, to name HTTP callers in the audit log; others are "mcp".
        warm: start loading the assistant when the server starts (stdio: one long session).
    """
    from askdb.serving.conversations import ConversationStore

    if conversations is None:
        conversations = ConversationStore(service.settings.home / "conversations.db")
    lifespan = (lambda _server: _warming(service)) if warm else None
    server = MCPServer(
        NAME, instructions=INSTRUCTIONS, version=_version(), log_level="WARNING", lifespan=lifespan
    )
    tools = _Tools(service, conversations, dict(callers or {}))
    for fn in (tools.ask, tools.run_sql, tools.check_sql, tools.list_tables, tools.describe_table):
        server.add_tool(fn, annotations=READ_ONLY)
    server.add_tool(tools.retrieve, annotations=READ_ONLY, structured_output=True)
    server.resource("askdb://schema", name="schema", mime_type="text/plain")(tools.schema)
    server.resource("askdb://schema/{table}", name="table", mime_type="text/plain")(tools.table_schema)
    return server


def _tool_errors(fn: _F) -> _F:
    """askdb's errors as ``ToolError``: the message and its fix reach the client, nothing else."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AskdbError as exc:
            raise ToolError(exc.person_line()) from None

    return wrapper  # type: ignore[return-value]


def _result(text: str, data: BaseModel | dict[str, Any]) -> CallToolResult:
    structured = data.model_dump(mode="json") if isinstance(data, BaseModel) else data
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)


class _Tools:
    """The tools and resources, as methods over one service (their docstrings are what clients read)."""

    def __init__(
        self, service: AssistantService, conversations: ConversationStore, callers: dict[str, str]
    ) -> None:
        self.service, self.conversations, self.callers = service, conversations, callers

    def _caller(self, ctx: Context | None) -> str:
        headers = ctx.headers if ctx is not None else None
        scheme, _, token = (headers or {}).get("authorization", "").partition(" ")
        return self.callers.get(token.strip(), "mcp") if scheme.lower() == "bearer" else "mcp"

    @property
    def catalog(self) -> Catalog:
        return self.service.assistant.catalog

    @_tool_errors
    def ask(
        self, question: str, ctx: Context, conversation_id: str | None = None
    ) -> Annotated[CallToolResult, AskResult]:
        """Answer a question about the ads data (Chinese or English): the SQL, its rows and a markdown answer.

        Pass the returned conversation_id to ask a follow-up. Outcome "clarify" means the question
        had two readings: ask again with one of the options' questions.
        """
        from askdb.assistant import final_answer
        from askdb.serving.ask import in_conversation
        from askdb.serving.wire import answer_json

        question = _text(question, "question")
        cid = conversation_id or uuid.uuid4().hex
        events = in_conversation(
            self.service, self.conversations, cid, question, self._caller(ctx), new=not conversation_id
        )
        answer = answer_json(final_answer(events), trace=False)
        result = AskResult(
            conversation_id=cid, **{k: answer[k] for k in AskResult.model_fields if k in answer}
        )
        text = "\n\n".join(
            p for p in (result.markdown, f"```sql\n{result.sql}\n```" if result.sql else "") if p
        )
        return _result(text or "(no answer)", result)

    @_tool_errors
    def run_sql(self, sql: str, ctx: Context) -> Annotated[CallToolResult, SqlResult]:
        """Run one read-only MySQL SELECT over the ads tables; the guard refuses anything else.

        The guard adds a LIMIT and checks every table and column name; rows are capped.
        """
        from askdb.analyst import markdown_table
        from askdb.serving.wire import jsonable

        result = self.service.run_sql(_text(sql, "sql"), caller=self._caller(ctx))
        data = SqlResult(sql=result.sql, **jsonable(result.to_dict()))
        more = " (truncated)" if result.truncated else ""
        text = f"{markdown_table(result.frame) or '(no rows)'}\n\n{len(result.frame)} rows{more}"
        return _result(text, data)

    @_tool_errors
    def check_sql(self, sql: str) -> Annotated[CallToolResult, CheckResult]:
        """Check one MySQL statement with the guard without running it: ok, the SQL as it would run, violations."""
        from askdb.sql.context import GuardContext
        from askdb.sql.guard import check

        assistant = self.service.assistant
        verdict = check(
            _text(sql, "sql"), GuardContext(catalog=assistant.catalog, row_limit=assistant.row_limit)
        )
        data = CheckResult(
            ok=verdict.ok, sql=verdict.sql, violations=[v.to_dict() for v in verdict.violations]
        )
        if verdict.ok:
            return _result(f"ok: {verdict.sql}", data)
        return _result(
            "refused:\n" + "\n".join(f"- [{v.rule}] {v.message}" for v in verdict.violations), data
        )

    @_tool_errors
    def list_tables(self) -> Annotated[CallToolResult, TablesResult]:
        """The tables of the database, each with its comment (what it holds) and its number of columns."""
        tables = [
            TableSummary(name=t.name, comment=t.comment, columns=len(t.columns)) for t in self.catalog.tables
        ]
        text = "\n".join(f"- {t.name}: {t.comment}" if t.comment else f"- {t.name}" for t in tables)
        return _result(text or "(no tables)", TablesResult(tables=tables))

    @_tool_errors
    def describe_table(self, table: str) -> Annotated[CallToolResult, TableInfo]:
        """One table's columns with their types and comments, its keys, and its DDL."""
        found = _table(self.catalog, table)
        info = TableInfo(
            name=found.name,
            comment=found.comment,
            columns=[ColumnInfo(**vars(c)) for c in found.columns],
            primary_key=list(found.primary_key),
            foreign_keys=[
                {"columns": list(f.columns), "ref_table": f.ref_table, "ref_columns": list(f.ref_columns)}
                for f in found.foreign_keys
            ],
            ddl=self.catalog.ddl([found.name]),
        )
        return _result(info.ddl, info)

    @_tool_errors
    def retrieve(self, question: str, k: int = 5) -> Annotated[CallToolResult, dict[str, Any]]:
        """What the retriever finds for a question: ranked tables, columns, notes, verified examples, values."""
        from askdb.serving.wire import jsonable

        if not 1 <= k <= MAX_K:
            raise ToolError(f"k must be between 1 and {MAX_K}, not {k}")
        result = self.service.assistant.retriever.retrieve(_text(question, "question"), k)
        data = jsonable(result.to_dict())
        data.pop("sections", None)  # ``context`` already holds them, joined
        return _result(result.context or json.dumps(data, ensure_ascii=False), data)

    def schema(self) -> str:
        """The whole schema as compact MySQL DDL with Chinese comments."""
        return self._read(lambda: self.catalog.ddl())

    def table_schema(self, table: str) -> str:
        """One table's compact MySQL DDL."""
        return self._read(lambda: self.catalog.ddl([_table(self.catalog, table).name]))

    @staticmethod
    def _read(fn: Callable[[], str]) -> str:
        try:
            return fn()
        except SchemaError as exc:
            raise ResourceNotFoundError(exc.person_line()) from None
        except AskdbError as exc:
            from mcp.server.mcpserver.exceptions import ResourceError

            raise ResourceError(exc.person_line()) from None


def _table(catalog: Catalog, name: str) -> Table:
    from askdb.sql.rules.names import did_you_mean

    found = catalog.table(name)
    if found is None:
        raise SchemaError(
            f"unknown table `{name}`{did_you_mean(name, catalog.table_names)}",
            hint="list_tables lists the tables",
        )
    return found


def _text(value: str, what: str) -> str:
    if not value.strip():
        raise ToolError(f"{what} is empty")
    return value


# -- streamable HTTP inside ``askdb serve`` ---------------------------------------------------------------
class KeyedEndpoint:
    """The MCP endpoint behind the API keys: a missing or wrong key is a 401 like the other routes'."""

    def __init__(self, app: ASGIApp, callers: Mapping[str, str]) -> None:
        self.app, self.callers = app, callers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.callers and (refusal := self._refusal(scope)) is not None:
            from starlette.responses import JSONResponse

            from askdb.serving.errors import error_body

            code, message = refusal
            body = error_body("invalid_request_error", message, code=code)
            response = JSONResponse(body, status_code=401, headers={"WWW-Authenticate": "Bearer"})
            return await response(scope, receive, send)
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> tuple[str, str] | None:
        raw = dict(scope.get("headers") or ()).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = raw.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "missing_api_key", "send the API key as 'Authorization: Bearer <key>'"
        if token.strip() not in self.callers:
            return "invalid_api_key", "the API key is not valid"
        return None


class _Restartable:
    """The SDK's streamable-HTTP app, made again for each run of the host app's lifespan.

    A session manager runs once per instance, and one FastAPI app may be started more than once (a
    test client, then a fuzzer, in one process), so each start gets a fresh app and session manager.
    """

    def __init__(self, server: MCPServer, security: Any) -> None:
        self.server, self.security = server, security
        self.app = self._build()
        self.runs = 0

    def _build(self) -> ASGIApp:
        return self.server.streamable_http_app(streamable_http_path="/mcp", transport_security=self.security)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    @contextlib.asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        if self.runs:
            self.app = self._build()
        self.runs += 1
        async with self.server.session_manager.run():
            yield


def http_endpoint(server: MCPServer, callers: Mapping[str, str]) -> tuple[ASGIApp, Callable[[], Any]]:
    """The ASGI app that answers ``/mcp`` and the context manager that its app's lifespan must enter.

    With API keys set, any Host may call (the keys guard it); with none, only loopback names, as
    the SDK does for a local server: a web page cannot reach it through DNS rebinding.
    """
    from mcp.server.transport_security import TransportSecuritySettings

    security = TransportSecuritySettings(enable_dns_rebinding_protection=False) if callers else None
    restartable = _Restartable(server, security)
    return KeyedEndpoint(restartable, callers), restartable.run


def mount(app: Any, service: AssistantService, conversations: ConversationStore) -> Callable[[], Any]:
    """Add ``/mcp`` to the FastAPI ``app``; returns what its lifespan must enter (the session manager)."""
    from starlette.routing import Route

    callers = app.state.callers
    server = build_server(service, conversations, callers={k: f"mcp:{v}" for k, v in callers.items()})
    endpoint, run = http_endpoint(server, callers)
    app.router.routes.append(Route("/mcp", endpoint=endpoint, include_in_schema=False))
    return run


# -- stdio --------------------------------------------------------------------------------------------------
def serve_stdio(service: AssistantService) -> None:
    """Serve over this process's stdin and stdout; the assistant starts loading at once, in the background."""
    build_server(service, warm=True).run()


@contextlib.asynccontextmanager
async def _warming(service: AssistantService) -> AsyncIterator[dict[str, Any]]:
    """Load the assistant in the background (index, model client) so the first call does not wait for it.

    It runs in the server's lifespan: under stdio the SDK has pointed fd 1 at stderr by then, so
    nothing the loading prints can reach the wire.
    """

    def load() -> None:
        with contextlib.suppress(Exception):  # the first tool call meets the same error, as a ToolError
            _ = service.assistant

    threading.Thread(target=load, daemon=True, name="askdb-mcp-warm").start()
    yield {}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("askdb")
    except PackageNotFoundError:  # pragma: no cover
        return "0"
