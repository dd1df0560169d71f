"""askdb inside LangChain: the retriever, the four tools and the toolkit pass langchain-tests'
standard suites; errors reach the agent as ToolException text; LangChain chat models run as askdb
backends; the agent example answers a two-step question; the README example runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("langchain_tests")

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import ToolException
from langchain_tests.integration_tests import RetrieversIntegrationTests, ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

from askdb.assistant import Assistant
from askdb.integrations import langchain as lc
from askdb.llm.base import Message
from askdb.llm.langchain_backend import LangChainLLM
from askdb.runtime.service import AssistantService
from askdb.testing.scripted import ScriptedFakeLLM

TOP_NOTES = "SELECT `desc`, account, star FROM ads_summary ORDER BY star DESC LIMIT 5"
ANALYSIS = "- 点赞最多的笔记遥遥领先"


def reply(messages: Sequence[Message]) -> str:
    """SQL prompts get TOP_NOTES, the analyst's prompt gets ANALYSIS."""
    return ANALYSIS if any("数据分析师" in m.content for m in messages) else f"```sql\n{TOP_NOTES}\n```"


def make_service(parts: dict[str, Any], settings) -> AssistantService:
    assistant = Assistant(llm=ScriptedFakeLLM([reply] * 200), clarify=False, **parts)
    return AssistantService(settings, assistant=assistant)


# The suites' async tests carry no mark: they expect asyncio_mode=auto. Marking their classes keeps the
# project's strict mode; the sync tests of a marked class only draw pytest-asyncio's warning, silenced.
ASYNC_SUITE = [
    pytest.mark.asyncio,
    pytest.mark.filterwarnings("ignore:.*is marked with '@pytest.mark.asyncio' but it is not an async"),
]


class _WithService:
    """The suites read their parts from properties; the fixture puts a service where they can see it."""

    service: AssistantService

    @pytest.fixture(autouse=True)
    def _service(self, demo_retrieval_parts, settings):
        type(self).service = make_service(demo_retrieval_parts, settings)


# -- standard suites ---------------------------------------------------------------------------------
TOOL_EXAMPLES = {
    "ask": {"question": "点赞最多的5篇笔记"},
    "run_sql": {"sql": "SELECT platform, COUNT(*) AS n FROM ads_account GROUP BY platform"},
    "list_tables": {},
    "describe_table": {"table": "ads_summary"},
}


@pytest.fixture(params=list(TOOL_EXAMPLES))
def tool_name(request) -> str:
    return request.param


class _ToolSuite(_WithService):
    @pytest.fixture(autouse=True)
    def _tool_name(self, tool_name):
        type(self).name = tool_name

    @property
    def tool_constructor(self):
        return next(t for t in lc.TOOLS if t.model_fields["name"].default == self.name)

    @property
    def tool_constructor_params(self) -> dict:
        return {"service": self.service}

    @property
    def tool_invoke_params_example(self) -> dict:
        return TOOL_EXAMPLES[self.name]


class TestToolsUnit(_ToolSuite, ToolsUnitTests):
    pass


class TestToolsIntegration(_ToolSuite, ToolsIntegrationTests):
    pytestmark = ASYNC_SUITE


class TestRetrieverIntegration(_WithService, RetrieversIntegrationTests):
    pytestmark = ASYNC_SUITE

    @property
    def retriever_constructor(self) -> type[lc.AskdbRetriever]:
        return lc.AskdbRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"service": self.service}

    @property
    def retriever_query_example(self) -> str:
        return "小红书上点赞最多的笔记"


# -- errors the agent reads --------------------------------------------------------------------------
def test_a_refused_statement_is_a_tool_error_with_the_guards_words(demo_retrieval_parts, settings):
    tools = {
        t.name: t for t in lc.AskdbToolkit(service=make_service(demo_retrieval_parts, settings)).get_tools()
    }
    call = {"name": "run_sql", "args": {"sql": "DROP TABLE ads_order"}, "id": "1", "type": "tool_call"}
    message = tools["run_sql"].invoke(call)
    assert message.status == "error" and "SQL" in message.content and "guard refused" in message.content
    unknown = tools["describe_table"].invoke(
        {**call, "name": "describe_table", "args": {"table": "ads_sumary"}}
    )
    assert unknown.status == "error" and "did you mean ads_summary" in unknown.content
    with pytest.raises(ToolException, match="guard refused"):
        lc.RunSqlTool(service=tools["run_sql"].service, handle_tool_error=False).invoke(
            {"sql": "DELETE FROM ads_order"}
        )


def test_the_retriever_gives_every_kind_with_scores(demo_retrieval_parts, settings):
    docs = lc.AskdbRetriever(service=make_service(demo_retrieval_parts, settings), k=20).invoke(
        "小红书点赞最多的笔记"
    )
    kinds = {d.metadata["kind"] for d in docs}
    assert {"table", "value", "note"} <= kinds and all(0 <= d.metadata["score"] <= 1 for d in docs)
    assert docs == sorted(docs, key=lambda d: -d.metadata["score"])


# -- a LangChain chat model as askdb's backend -------------------------------------------------------
def fake_chat_model() -> GenericFakeChatModel:
    """The factory ``ASKDB_LLM_MODEL`` names in the settings test."""
    return GenericFakeChatModel(messages=iter([f"```sql\n{TOP_NOTES}\n```", ANALYSIS]))


def test_a_langchain_model_answers_a_question_through_the_workflow(demo_retrieval_parts):
    llm = LangChainLLM(
        GenericFakeChatModel(
            messages=iter(
                [
                    AIMessage(
                        f"```sql\n{TOP_NOTES}\n```", additional_kwargs={"reasoning_content": "找 star 字段"}
                    ),
                    ANALYSIS,
                ]
            )
        )
    )
    answer = Assistant(llm=llm, clarify=False, **demo_retrieval_parts).ask("点赞最多的5篇笔记")
    assert answer.sql == TOP_NOTES and len(answer.frame) == 5 and answer.analysis == ANALYSIS
    assert answer.reasoning.startswith("找 star 字段") or "找 star 字段" in str(answer.trace)


def test_streaming_splits_text_from_reasoning_blocks():
    model = GenericFakeChatModel(
        messages=iter([AIMessage("SELECT 1", additional_kwargs={"reasoning_content": "想一想"})])
    )
    chunks = list(LangChainLLM(model).stream([Message("user", "hi")]))
    assert (
        "".join(c.content for c in chunks) == "SELECT 1" and "".join(c.reasoning for c in chunks) == "想一想"
    )
    assert len([c for c in chunks if c.content]) >= 2 and chunks[-1].finish_reason == "stop"


def test_the_backend_is_built_from_settings_by_factory_name(monkeypatch):
    from askdb.errors import ConfigError
    from askdb.llm.registry import create_llm
    from askdb.settings import Settings

    monkeypatch.setenv("ASKDB_LLM_BACKEND", "langchain")
    monkeypatch.setenv("ASKDB_LLM_MODEL", f"{__name__}:fake_chat_model")
    llm = create_llm(Settings())
    assert isinstance(llm, LangChainLLM) and llm.complete([Message("user", "q")]).content.startswith("```sql")
    with pytest.raises(ConfigError, match=r"package\.module:factory"):
        create_llm(Settings(), model="qwen2.5")


def test_model_errors_become_llm_errors():
    from askdb.errors import LLMError

    with pytest.raises(LLMError, match=r"LangChain model .* failed"):
        LangChainLLM(GenericFakeChatModel(messages=iter([]))).complete([Message("user", "q")])


# -- the agent example --------------------------------------------------------------------------------
class ScriptedToolModel(GenericFakeChatModel):
    """A scripted model that 'calls tools': each reply is the next AIMessage, tool calls included."""

    def bind_tools(self, tools, **kwargs):
        return self


def test_the_agent_example_answers_a_two_step_question(demo_retrieval_parts, settings):
    from examples.langchain_agent import run_agent

    top = "SELECT platform, COUNT(*) AS n FROM ads_account GROUP BY platform ORDER BY n DESC LIMIT 1"
    model = ScriptedToolModel(
        messages=iter(
            [
                AIMessage("", tool_calls=[{"name": "run_sql", "args": {"sql": top}, "id": "a"}]),
                AIMessage(
                    "", tool_calls=[{"name": "ask", "args": {"question": "点赞最多的5篇笔记"}, "id": "b"}]
                ),
                AIMessage("达人最多的平台已查出,点赞最多的笔记见上表。"),
            ]
        )
    )
    service = make_service(demo_retrieval_parts, settings)
    messages = run_agent(model, lc.AskdbToolkit(service=service), "哪个平台达人最多?点赞最多的笔记是哪些?")
    tool_replies = [m for m in messages if isinstance(m, ToolMessage)]
    assert [m.name for m in tool_replies] == ["run_sql", "ask"] and all(
        m.status == "success" for m in tool_replies
    )
    assert "LIMIT 1" in tool_replies[0].content and tool_replies[1].artifact["sql"] == TOP_NOTES
    assert isinstance(messages[-1], AIMessage) and not messages[-1].tool_calls
    assert [r.caller for r in service.log.tail(2)] == ["langchain", "langchain"]
