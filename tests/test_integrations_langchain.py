"""askdb inside LangChain: the retriever, the four tools and the toolkit pass langchain-tests'
standard suites; errors reach the agent as ToolException text; LangChain chat models run as askdb
backends; the agent example answers a two-step question; the README example runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("langchain_tests")

from langchain_tests.integration_tests import RetrieversIntegrationTests, ToolsIntegrationTests
from langchain_tests.unit_tests import ToolsUnitTests

from askdb.assistant import Assistant
from askdb.integrations import langchain as lc
from askdb.llm.base import Message
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
