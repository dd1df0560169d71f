"""What the LangChain and LlamaIndex adapters share: the service they drive and the texts they show.

Nothing here imports either framework; each adapter turns these plain values into its own types.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from askdb.errors import AskdbError, ConfigError, SchemaError

if TYPE_CHECKING:
    from askdb.assistant import Assistant
    from askdb.events import Answer
    from askdb.runtime.service import AssistantService
    from askdb.settings import Settings
    from askdb.sql.runner import QueryResult


T = TypeVar("T")


def tool_call(work: Callable[[], T], error: type[Exception]) -> T:
    """Run ``work``; an askdb error becomes ``error`` with the text an agent reads (the problem and the fix)."""
    try:
        return work()
    except AskdbError as exc:
        raise error(exc.person_line()) from exc


def require(module: str, *, extra: str) -> None:
    """Import ``module`` or fail with the exact ``pip install 'askdb[extra]'``."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"{module} is not installed ({exc})", hint=f"pip install 'askdb[{extra}]'", missing=module
        ) from None


def service_for(
    service: AssistantService | None = None,
    *,
    assistant: Assistant | None = None,
    settings: Settings | None = None,
) -> AssistantService:
    """The service to drive: the one given, one around ``assistant``, or one built from settings on first use."""
    from askdb.runtime.service import AssistantService
    from askdb.settings import load_settings

    if service is not None:
        return service
    return AssistantService(settings or load_settings(), assistant=assistant)


def retrieval_records(service: AssistantService, query: str, k: int) -> list[dict[str, Any]]:
    """The ``k`` best records (tables' DDL, values, notes, examples), scored as Dify's ``/retrieval`` scores them."""
    from askdb.serving.dify import retrieval_records as records

    return records(service, query, k)[:k]


def answer_text(answer: Answer) -> str:
    """An answer as an agent reads it: the SQL that ran, then the table and the analysis."""
    head = f"SQL: {answer.sql}\n\n" if answer.sql else ""
    return head + answer.markdown


def result_text(result: QueryResult) -> str:
    """Rows the runner returned, as a markdown table, saying when the row cap cut them."""
    from askdb.analyst import EMPTY_RESULT, markdown_table

    table = markdown_table(result.frame) or EMPTY_RESULT
    cut = f"\n\n(只显示前 {len(result.frame)} 行)" if result.truncated else ""
    return f"SQL: {result.sql}\n\n{table}{cut}"


def table_list(service: AssistantService) -> list[dict[str, str]]:
    """Every table the assistant may query, with its comment."""
    return [{"name": t.name, "comment": t.comment} for t in service.assistant.catalog.tables]


def table_list_text(tables: list[dict[str, str]]) -> str:
    return "\n".join(f"- {t['name']}: {t['comment']}" if t["comment"] else f"- {t['name']}" for t in tables)


def describe(service: AssistantService, name: str) -> str:
    """One table's compact DDL with comments; an unknown name is a SchemaError with the closest names."""
    from askdb.schemas.catalog import compact_ddl

    catalog = service.assistant.catalog
    table = catalog.table(name)
    if table is None:
        close = difflib.get_close_matches(name, catalog.table_names, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else "list_tables names every table"
        raise SchemaError(f"unknown table {name!r}", hint=hint, table=name, suggestions=close)
    return compact_ddl(table)
