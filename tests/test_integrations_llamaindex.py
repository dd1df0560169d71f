"""askdb inside LlamaIndex: the retriever's scored nodes, the query engine's Response (SQL engine
metadata keys, streaming), the function tools through the guard, a LlamaIndex LLM as askdb's backend."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

pytest.importorskip("llama_index.core")

from llama_index.core.base.llms.types import ChatMessage, ChatResponse
from llama_index.core.llms import MockLLM

from askdb.assistant import Assistant
from askdb.integrations import llamaindex as li
from askdb.llm.base import Message
from askdb.llm.llamaindex_backend import LlamaIndexLLM
from askdb.runtime.service import AssistantService
from askdb.testing.scripted import ScriptedFakeLLM

TOP_NOTES = "SELECT `desc`, account, star FROM ads_summary ORDER BY star DESC LIMIT 5"
ANALYSIS = "- 点赞最多的笔记遥遥领先"


def reply(messages: Sequence[Message]) -> str:
    return ANALYSIS if any("数据分析师" in m.content for m in messages) else f"```sql\n{TOP_NOTES}\n```"


@pytest.fixture
def service(demo_retrieval_parts, settings) -> AssistantService:
    assistant = Assistant(llm=ScriptedFakeLLM([reply] * 50), clarify=False, **demo_retrieval_parts)
    return AssistantService(settings, assistant=assistant)


def test_the_retriever_gives_scored_nodes_of_each_kind(service):
    nodes = li.AskdbRetriever(service, k=20).retrieve("小红书点赞最多的笔记")
    assert {"table", "value", "note"} <= {n.node.metadata["kind"] for n in nodes}
    assert (
        all(0 <= n.score <= 1 for n in nodes) and len(li.AskdbRetriever(service, k=3).retrieve("笔记")) == 3
    )


async def test_async_retrieve_and_query(service):
    nodes = await li.AskdbRetriever(service, k=2).aretrieve("笔记")
    response = await li.AskdbQueryEngine(service).aquery("点赞最多的5篇笔记")
    assert len(nodes) == 2 and response.metadata["sql_query"] == TOP_NOTES


test_async_retrieve_and_query = pytest.mark.asyncio(test_async_retrieve_and_query)


def test_the_query_engine_answers_with_the_sql_engines_metadata(service):
    response = li.AskdbQueryEngine(service).query("点赞最多的5篇笔记")
    meta = response.metadata
    assert meta["sql_query"] == TOP_NOTES and meta["col_keys"] == ["desc", "account", "star"]
    assert len(meta["result"]) == 5 and ANALYSIS in response.response


def test_the_query_engine_streams_table_then_analysis(service):
    response = li.AskdbQueryEngine(service, streaming=True).query("点赞最多的5篇笔记")
    text = "".join(response.response_gen)
    assert text.index("|") < text.index(ANALYSIS) and response.metadata["sql_query"] == TOP_NOTES


def test_tools_go_through_the_guard(service):
    tools = {t.metadata.name: t for t in li.askdb_tools(service)}
    assert set(tools) == {"ask", "run_sql", "list_tables", "describe_table"}
    assert "ads_summary" in tools["list_tables"].call().content
    assert "LIMIT" in tools["run_sql"].call(sql="SELECT platform FROM ads_account").content
    with pytest.raises(li.AskdbToolError, match="guard refused"):  # agents show the text to the model
        tools["run_sql"].call(sql="DROP TABLE ads_order")
    assert tools["ask"].call(question="点赞最多的5篇笔记").content.startswith(f"SQL: {TOP_NOTES}")


class ThinkingMock(MockLLM):
    """Streams a fixed reply with its reasoning in ``thinking_delta``."""

    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any):
        yield ChatResponse(
            message=ChatMessage(role="assistant", content=""),
            delta="",
            additional_kwargs={"thinking_delta": "想"},
        )
        for piece in ("SELECT ", "1"):
            yield ChatResponse(message=ChatMessage(role="assistant", content=piece), delta=piece)


def test_a_llamaindex_llm_streams_as_askdbs_backend():
    chunks = list(LlamaIndexLLM(ThinkingMock()).stream([Message("user", "q")]))
    assert "".join(c.content for c in chunks) == "SELECT 1" and "".join(c.reasoning for c in chunks) == "想"
    assert chunks[-1].finish_reason == "stop"


def mock_llm() -> MockLLM:
    return MockLLM(max_tokens=4)


def test_the_backend_is_built_from_settings_by_factory_name(monkeypatch):
    from askdb.llm.registry import create_llm
    from askdb.settings import Settings

    monkeypatch.setenv("ASKDB_LLM_BACKEND", "llamaindex")
    monkeypatch.setenv("ASKDB_LLM_MODEL", f"{__name__}:mock_llm")
    llm = create_llm(Settings())
    assert isinstance(llm, LlamaIndexLLM) and llm.complete([Message("user", "q")]).content
