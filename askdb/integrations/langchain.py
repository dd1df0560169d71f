"""askdb as LangChain parts: a retriever of schema context, tools that answer through the guard, a toolkit.

Needs ``pip install 'askdb[langchain]'``. Every part drives an ``AssistantService`` (the one the
HTTP API uses): questions and SQL pass the guard and the read-only runner and land in the audit
log under the caller ``langchain``. An askdb error reaches the agent as a ``ToolException`` with
the error's Chinese lead, problem and fix (``AskdbError.person_line``).

    from askdb.integrations.langchain import AskdbRetriever, AskdbToolkit

    tools = AskdbToolkit.from_settings().get_tools()   # ask, run_sql, list_tables, describe_table
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

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

require("langchain_core", extra="langchain")

from langchain_core.callbacks import (  # noqa: E402  (after the check that names the extra)
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document  # noqa: E402
from langchain_core.retrievers import BaseRetriever  # noqa: E402
from langchain_core.tools import BaseTool, BaseToolkit, ToolException  # noqa: E402
from pydantic import BaseModel, ConfigDict, Field  # noqa: E402

if TYPE_CHECKING:
    from askdb.assistant import Assistant
    from askdb.settings import Settings

CALLER = "langchain"  # who asked, in the audit log
T = TypeVar("T")


def _tool_call(work: Callable[[], T]) -> T:
    """Run ``work``; an askdb error becomes the ToolException an agent reads (its text is the fix)."""
    return tool_call(work, ToolException)


# -- retriever -------------------------------------------------------------------------------------
class AskdbRetriever(BaseRetriever):
    """The schema context askdb would show its SQL model: tables' DDL, column values, notes, examples.

    Each ``Document`` has ``metadata["kind"]`` (table, value, note, example), ``["score"]`` (relative:
    the best of each kind is 1.0) and ``["title"]``, plus the kind's own keys (``table``, ``sql`` ...).
    ``k`` documents at most, best first; ``invoke(query, k=N)`` overrides it for one call.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    service: Any = Field(description="the askdb.runtime.service.AssistantService to retrieve with")
    k: int = Field(default=4, ge=1, le=100)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kwargs: Any) -> AskdbRetriever:
        """A retriever over the database and index the ``ASKDB_*`` settings name (built on first use)."""
        return cls(service=service_for(settings=settings), **kwargs)

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        records = retrieval_records(self.service, query, k or self.k)
        return [
            Document(
                page_content=r["content"],
                metadata={**r["metadata"], "score": r["score"], "title": r["title"]},
            )
            for r in records
        ]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        return await asyncio.to_thread(
            self._get_relevant_documents, query, run_manager=run_manager.get_sync(), k=k
        )


# -- tools -----------------------------------------------------------------------------------------
class QuestionInput(BaseModel):
    question: str = Field(description="one question about the data, in Chinese or English", min_length=1)


class SqlInput(BaseModel):
    sql: str = Field(description="one read-only SELECT statement (MySQL dialect)", min_length=1)


class TableInput(BaseModel):
    table: str = Field(description="a table name as list_tables gives it", min_length=1)


class NoInput(BaseModel):
    pass


class _AskdbTool(BaseTool):
    """A tool over an AssistantService: content for the model, the plain values as the artifact."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    service: Any = Field(exclude=True, description="the askdb.runtime.service.AssistantService")
    caller: str = CALLER
    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    # The agent reads the error (its fix included) as the tool's reply instead of the run failing.
    handle_tool_error: bool | str | Callable[[ToolException], str] | None = True

    async def _arun(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.pop("run_manager", None)
        return await asyncio.to_thread(self._run, *args, **kwargs)


class AskTool(_AskdbTool):
    name: str = "ask"
    description: str = (
        "Answer a question about the ads database: askdb writes one checked read-only SQL "
        "statement, runs it and returns the SQL, the result table and a short analysis."
    )
    args_schema: type[BaseModel] = QuestionInput

    def _run(self, question: str, **_: Any) -> tuple[str, dict[str, Any]]:
        answer = _tool_call(lambda: self.service.ask(question, caller=self.caller))
        return answer_text(answer), answer.to_dict(trace=False)


class RunSqlTool(_AskdbTool):
    name: str = "run_sql"
    description: str = (
        "Run one read-only SELECT over the ads database. The guard checks it (one statement, "
        "known tables and columns, a LIMIT) before the read-only runner executes it; a refusal "
        "says what was wrong and the closest names."
    )
    args_schema: type[BaseModel] = SqlInput

    def _run(self, sql: str, **_: Any) -> tuple[str, dict[str, Any]]:
        result = _tool_call(lambda: self.service.run_sql(sql, caller=self.caller))
        return result_text(result), result.to_dict()


class ListTablesTool(_AskdbTool):
    name: str = "list_tables"
    description: str = "List the tables of the ads database with their Chinese comments."
    args_schema: type[BaseModel] = NoInput

    def _run(self, **_: Any) -> tuple[str, list[dict[str, str]]]:
        tables = _tool_call(lambda: table_list(self.service))
        return table_list_text(tables), tables


class DescribeTableTool(_AskdbTool):
    name: str = "describe_table"
    description: str = "One table's columns, types, comments and keys, as compact MySQL DDL."
    args_schema: type[BaseModel] = TableInput

    def _run(self, table: str, **_: Any) -> tuple[str, dict[str, str]]:
        ddl = _tool_call(lambda: describe(self.service, table))
        return ddl, {"table": table, "ddl": ddl}


TOOLS: tuple[type[_AskdbTool], ...] = (AskTool, RunSqlTool, ListTablesTool, DescribeTableTool)


class AskdbToolkit(BaseToolkit):
    """askdb's four tools over one service: ``ask``, ``run_sql``, ``list_tables``, ``describe_table``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    service: Any = Field(description="the askdb.runtime.service.AssistantService the tools share")

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> AskdbToolkit:
        """The toolkit over the database and model the ``ASKDB_*`` settings name (built on first use)."""
        return cls(service=service_for(settings=settings))

    @classmethod
    def from_assistant(cls, assistant: Assistant, settings: Settings | None = None) -> AskdbToolkit:
        """The toolkit over an assistant built in Python (its parts passed in)."""
        return cls(service=service_for(assistant=assistant, settings=settings))

    def get_tools(self) -> list[BaseTool]:
        """The four tools, sharing this toolkit's service."""
        return [tool(service=self.service) for tool in TOOLS]
