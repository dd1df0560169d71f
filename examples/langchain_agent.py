"""A LangChain agent that answers through askdb's tools: every SQL it runs passes askdb's guard.

    python examples/langchain_agent.py "哪个平台的达人最多?那个平台点赞最多的笔记是哪篇?"

Give ``run_agent`` any chat model that can call tools (``ChatOpenAI``, ``ChatOllama`` ...); run as
a script, it asks the question through the ``ask`` tool with askdb's configured model. The loop is LangChain's plain
tool-calling loop: the model asks for tools, each call's ``ToolMessage`` goes back, until it answers.
"""

from __future__ import annotations

import sys
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from askdb.integrations.langchain import AskdbToolkit

SYSTEM = (
    "你是数据分析助手。用 list_tables、describe_table 了解表结构,用 run_sql 运行只读 SELECT,"
    "或用 ask 直接提问;问题要分几步时,逐步调用工具,最后用中文回答。"
)


def run_agent(model: Any, toolkit: AskdbToolkit, question: str, *, max_steps: int = 8) -> list[BaseMessage]:
    """The conversation of one agent run, the final answer last."""
    tools = {tool.name: tool for tool in toolkit.get_tools()}
    bound = model.bind_tools(list(tools.values()))
    messages: list[BaseMessage] = [SystemMessage(SYSTEM), HumanMessage(question)]
    for _ in range(max_steps):
        reply = bound.invoke(messages)
        messages.append(reply)
        if not isinstance(reply, AIMessage) or not reply.tool_calls:
            return messages
        messages += [tools[call["name"]].invoke(call) for call in reply.tool_calls]
    raise RuntimeError(f"no answer after {max_steps} steps")


if __name__ == "__main__":
    toolkit = AskdbToolkit.from_settings()
    ask = next(t for t in toolkit.get_tools() if t.name == "ask")
    print(ask.invoke({"question": sys.argv[1] if len(sys.argv) > 1 else "各平台的达人数量"}))
