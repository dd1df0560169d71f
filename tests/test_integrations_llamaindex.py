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


def test_the_agent_example_answers_a_two_step_question(service):
    """examples/llamaindex_agent.py over LlamaIndex's own function-calling mock: run_sql, then ask."""
    from llama_index.core.base.llms.types import ToolCallBlock
    from llama_index.core.llms.mock import MockFunctionCallingLLM

    from examples.llamaindex_agent import run_agent

    top = "SELECT platform, COUNT(*) AS n FROM ads_account GROUP BY platform ORDER BY n DESC LIMIT 1"
    steps = iter(
        [
            ChatMessage(
                role="assistant",
                blocks=[ToolCallBlock(tool_call_id="a", tool_name="run_sql", tool_kwargs={"sql": top})],
            ),
            ChatMessage(
                role="assistant",
                blocks=[
                    ToolCallBlock(
                        tool_call_id="b", tool_name="ask", tool_kwargs={"question": "点赞最多的5篇笔记"}
                    )
                ],
            ),
            ChatMessage(role="assistant", content="达人最多的平台已查出,点赞最多的笔记见上表。"),
        ]
    )
    seen: list[list[str]] = []

    def scripted(messages, **kwargs):
        seen.append([m.role.value for m in messages])
        return next(steps)

    llm = MockFunctionCallingLLM(response_generator=scripted)
    history = run_agent(llm, li.askdb_tools(service), "哪个平台达人最多?点赞最多的笔记是哪些?")
    tools = [m for m in history if m.role == "tool"]
    assert [m.additional_kwargs["name"] for m in tools] == ["run_sql", "ask"]
    assert "LIMIT 1" in tools[0].content and TOP_NOTES in tools[1].content  # the guarded SQL that ran
    assert history[-1].content.startswith("达人最多的平台") and len(seen) == 3
    assert seen[-1].count("tool") == 2  # the model saw both tool outputs before it answered
    assert [r.caller for r in service.log.tail(2)] == ["llamaindex", "llamaindex"]
