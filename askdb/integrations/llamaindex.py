"""askdb as LlamaIndex parts: a retriever of schema context, a query engine that answers, function tools.

Needs ``pip install 'askdb[llamaindex]'``. Every part drives an ``AssistantService`` (the one the
HTTP API uses): questions and SQL pass the guard and the read-only runner and land in the audit
log under the caller ``llamaindex``. The query engine's ``Response.metadata`` has the keys
LlamaIndex's own SQL engines use (``sql_query``, ``result``, ``col_keys``) plus ``answer``.

    from askdb.integrations.llamaindex import AskdbQueryEngine, askdb_tools

    engine = AskdbQueryEngine.from_settings()
    print(engine.query("各平台的达人数量").metadata["sql_query"])
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from askdb.integrations._common import (
    answer_text,
    describe,
    require,
    result_text,
    retrieval_records,
    service_for,
    table_list,
    table_list_text,
    tool_call,
)

require("llama_index.core", extra="llamaindex")

from llama_index.core.base.base_query_engine import BaseQueryEngine  # noqa: E402
from llama_index.core.base.base_retriever import BaseRetriever  # noqa: E402
from llama_index.core.base.response.schema import Response, StreamingResponse  # noqa: E402
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode  # noqa: E402
from llama_index.core.tools import FunctionTool  # noqa: E402

if TYPE_CHECKING:
    from askdb.events import Answer
    from askdb.runtime.service import AssistantService
    from askdb.settings import Settings

CALLER = "llamaindex"  # who asked, in the audit log
T = TypeVar("T")


class AskdbToolError(Exception):
    """An askdb error as an agent reads it: the Chinese lead, the exact problem and the fix."""


def _tool_call(work: Callable[[], T]) -> T:
    """Run ``work``; an askdb error becomes the AskdbToolError an agent reads (its text is the fix)."""
    return tool_call(work, AskdbToolError)


class AskdbRetriever(BaseRetriever):
    """Tables' DDL, column values, notes and verified examples as scored nodes (``metadata["kind"]``)."""

    def __init__(self, service: AssistantService, *, k: int = 4, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.service = service
        self.k = k

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kwargs: Any) -> AskdbRetriever:
        return cls(service_for(settings=settings), **kwargs)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        records = retrieval_records(self.service, query_bundle.query_str, self.k)
        return [
            NodeWithScore(
                node=TextNode(text=r["content"], metadata={**r["metadata"], "title": r["title"]}),
                score=r["score"],
            )
            for r in records
        ]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return await asyncio.to_thread(self._retrieve, query_bundle)


def _metadata(answer: Answer) -> dict[str, Any]:
    data = answer.to_dict(trace=False)
    return {"sql_query": answer.sql, "result": data["rows"], "col_keys": data["columns"], "answer": data}


class AskdbQueryEngine(BaseQueryEngine):
    """Answers a question with askdb's workflow; ``streaming=True`` streams the table, then the analysis."""

    def __init__(self, service: AssistantService, *, streaming: bool = False, **kwargs: Any) -> None:
        super().__init__(callback_manager=kwargs.pop("callback_manager", None))
        self.service = service
        self.streaming = streaming

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kwargs: Any) -> AskdbQueryEngine:
        return cls(service_for(settings=settings), **kwargs)

    def _get_prompt_modules(self) -> dict[str, Any]:
        return {}  # askdb's prompts are its own data files, not LlamaIndex prompt templates

    def _query(self, query_bundle: QueryBundle) -> Response | StreamingResponse:
        if self.streaming:
            metadata: dict[str, Any] = {}
            return StreamingResponse(self._pieces(query_bundle.query_str, metadata), metadata=metadata)
        answer = self.service.ask(query_bundle.query_str, caller=CALLER)
        return Response(answer.markdown, metadata=_metadata(answer))

    async def _aquery(self, query_bundle: QueryBundle) -> Response | StreamingResponse:
        return await asyncio.to_thread(self._query, query_bundle)

    def _pieces(self, question: str, metadata: dict[str, Any]) -> Iterator[str]:
        from askdb.events import AnalysisDelta, Finished, TableReady

        for event in self.service.stream(question, caller=CALLER):
            if isinstance(event, TableReady) and event.markdown:
                yield event.markdown + "\n\n"
            elif isinstance(event, AnalysisDelta):
                yield event.text
            elif isinstance(event, Finished):
                metadata.update(_metadata(event.answer))


def askdb_tools(
    service: AssistantService | None = None, *, settings: Settings | None = None
) -> list[FunctionTool]:
    """``ask``, ``run_sql``, ``list_tables`` and ``describe_table`` as FunctionTools over one service."""
    service = service_for(service, settings=settings)

    def ask(question: str) -> str:
        """Answer a question about the ads database: the checked SQL that ran, the result table, an analysis."""
        return answer_text(_tool_call(lambda: service.ask(question, caller=CALLER)))

    def run_sql(sql: str) -> str:
        """Run one read-only SELECT (MySQL); the guard checks it first and says what is wrong if it refuses."""
        return result_text(_tool_call(lambda: service.run_sql(sql, caller=CALLER)))

    def list_tables() -> str:
        """List the tables of the ads database with their Chinese comments."""
        return table_list_text(_tool_call(lambda: table_list(service)))

    def describe_table(table: str) -> str:
        """One table's columns, types, comments and keys, as compact MySQL DDL."""
        return _tool_call(lambda: describe(service, table))

    return [FunctionTool.from_defaults(fn=fn) for fn in (ask, run_sql, list_tables, describe_table)]
