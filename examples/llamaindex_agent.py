"""A LlamaIndex agent that answers through askdb's tools: every SQL it runs passes askdb's guard.

    python examples/llamaindex_agent.py "哪个平台的达人最多?"

Give ``run_agent`` any LlamaIndex ``FunctionCallingLLM`` (``OpenAI``, ``Ollama`` ...); run as a
script, it asks the question through the ``ask`` tool with askdb's configured model. The loop is
LlamaIndex's plain function-calling loop: ``chat_with_tools``, each tool's output back as a tool
message, until the model answers without calling one.
"""

from __future__ import annotations

import sys
from typing import Any

from llama_index.core.llms import ChatMessage, MessageRole

from askdb.integrations.llamaindex import askdb_tools

SYSTEM = (
    "你是数据分析助手。用 list_tables、describe_table 了解表结构,用 run_sql 运行只读 SELECT,"
    "或用 ask 直接提问;问题要分几步时,逐步调用工具,最后用中文回答。"
)


def run_agent(llm: Any, tools: list[Any], question: str, *, max_steps: int = 8) -> list[ChatMessage]:
    """The conversation of one agent run, the final answer last."""
    by_name = {tool.metadata.name: tool for tool in tools}
    history = [ChatMessage(role=MessageRole.SYSTEM, content=SYSTEM)]
    message = question
    for _ in range(max_steps):
        response = llm.chat_with_tools(tools, user_msg=message, chat_history=history)
        if message is not None:
            history.append(ChatMessage(role=MessageRole.USER, content=message))
            message = None
        history.append(response.message)
        calls = llm.get_tool_calls_from_response(response, error_on_no_tool_call=False)
        if not calls:
            return history
        for call in calls:
            output = by_name[call.tool_name].call(**call.tool_kwargs)
            history.append(
                ChatMessage(
                    role=MessageRole.TOOL,
                    content=str(output),
                    additional_kwargs={"tool_call_id": call.tool_id, "name": call.tool_name},
                )
            )
    raise RuntimeError(f"no answer after {max_steps} steps")


if __name__ == "__main__":
    ask = next(t for t in askdb_tools() if t.metadata.name == "ask")
    print(ask.call(question=sys.argv[1] if len(sys.argv) > 1 else "各平台的达人数量"))
