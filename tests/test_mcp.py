"""The MCP server through the real ``mcp`` client: in process, over stdio against ``python -m askdb mcp``,
and over streamable HTTP against ``askdb serve``'s app on loopback, with the fake Ollama server as the model."""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import os
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from askdb.assistant import Assistant
from askdb.llm.ollama_backend import OllamaLLM
from askdb.runtime.service import AssistantService
from askdb.serving.api import create_app
from askdb.serving.conversations import ConversationStore
from askdb.serving.mcp import build_server
from askdb.settings import Settings
from askdb.testing import FakeOllamaServer, FakeReply
from tests.live import uvicorn_thread

SQL = "SELECT platform, COUNT(*) AS n FROM ads_account GROUP BY platform"
ANALYSIS = "- 小红书的达人最多"
SLOW = "慢慢统计各平台的达人数"
HOSTILE = {
    "DROP TABLE ads_account": "[query_only]",
    "SELECT SLEEP(5)": "[functions]",
    "SELECT 1; DELETE FROM ads_account": "[single_statement]",
    "SELECT fanz FROM ads_account": "did you mean `fans`?",
}
TOOLS = {"ask", "run_sql", "check_sql", "list_tables", "describe_table", "retrieve"}


def reply(messages: list[dict]) -> FakeReply:
    text = str(messages)
    if "数据分析师" in text:
        return FakeReply(ANALYSIS)
    return FakeReply(f"```sql\n{SQL}\n```", delay=1.5 if SLOW in text else 0.0)


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeOllamaServer]:
    with FakeOllamaServer(reply) as server:
        yield server


def make_service(parts: dict, url: str, settings: Settings) -> AssistantService:
    llm = OllamaLLM("fake-model", host=url, timeout_s=10, num_ctx=4096)
    return AssistantService(settings, assistant=Assistant(llm=llm, **parts))


def fingerprint(path: Path) -> tuple[str, int]:
    """The file's hash and its row count of ads_account: a refused statement changes neither."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT COUNT(*) FROM ads_account").fetchone()[0]
    return hashlib.sha256(path.read_bytes()).hexdigest(), rows


def text(result: Any) -> str:
    return "\n".join(block.text for block in result.content)


async def check_hostile_sql(client: Client) -> None:
    for sql, why in HOSTILE.items():
        result = await client.call_tool("run_sql", {"sql": sql})
        assert result.is_error and why in text(result), (sql, text(result))
        assert "Traceback" not in text(result)


async def check_schema_tools(client: Client) -> None:
    tools = (await client.list_tools()).tools
    assert {t.name for t in tools} == TOOLS
    assert all(t.annotations and t.annotations.read_only_hint for t in tools)
    listed = await client.call_tool("list_tables", {})
    assert "ads_account: 达人账号表" in text(listed)
    assert "ads_account" in {t["name"] for t in listed.structured_content["tables"]}
    described = await client.call_tool("describe_table", {"table": "ads_account"})
    assert "fans" in [c["name"] for c in described.structured_content["columns"]]
    assert "粉丝数" in text(described)
    unknown = await client.call_tool("describe_table", {"table": "ads_acount"})
    assert unknown.is_error and "did you mean `ads_account`?" in text(unknown)
    schema = await client.read_resource("askdb://schema")
    assert "CREATE TABLE `ads_summary`" in schema.contents[0].text
    one = await client.read_resource("askdb://schema/ads_account")
    assert (
        one.contents[0].text.startswith("CREATE TABLE `ads_account`")
        and "ads_summary" not in one.contents[0].text.split("COMMENT")[0]
    )


# -- in process ---------------------------------------------------------------------------------------------
@pytest.fixture
def server(demo_retrieval_parts, fake_llm, settings, tmp_path):
    service = make_service(demo_retrieval_parts, fake_llm.url, settings)
    return build_server(service, ConversationStore(tmp_path / "conversations.db"))


def test_tools_resources_and_errors_in_process(server, small_demo):
    before = fingerprint(small_demo[0])

    async def main() -> None:
        async with Client(server) as client:
            await check_schema_tools(client)
            await check_hostile_sql(client)
            ran = await client.call_tool("run_sql", {"sql": SQL})
            assert not ran.is_error and ran.structured_content["sql"].endswith("LIMIT 10")
            assert ran.structured_content["columns"] == ["platform", "n"] and "| 小红书" in text(ran)
            checked = await client.call_tool("check_sql", {"sql": "SELECT SLEEP(5)"})
            assert not checked.is_error and checked.structured_content["ok"] is False
            assert checked.structured_content["violations"][0]["rule"] == "functions"
            found = await client.call_tool("retrieve", {"question": "各平台的达人数", "k": 2})
            assert len(found.structured_content["tables"]) >= 1 and text(found)
            too_many = await client.call_tool("retrieve", {"question": "达人", "k": 500})
            assert too_many.is_error and "between 1 and 50" in text(too_many)

    asyncio.run(main())
    assert fingerprint(small_demo[0]) == before


def test_ask_gives_sql_rows_markdown_and_continues_a_conversation(server, fake_llm):
    async def main() -> None:
        async with Client(server) as client:
            first = await client.call_tool("ask", {"question": "各平台有多少达人"})
            data = first.structured_content
            assert not first.is_error and data["outcome"] == "answered", text(first)
            assert data["sql"].startswith(SQL) and data["columns"] == ["platform", "n"]
            assert data["clarify"] is None and data["forecast"] is None
            assert ANALYSIS in data["markdown"] and SQL in text(first) and ANALYSIS in text(first)
            follow = await client.call_tool(
                "ask", {"question": "只看抖音呢", "conversation_id": data["conversation_id"]}
            )
            assert follow.structured_content["conversation_id"] == data["conversation_id"]

    asyncio.run(main())
    sql_prompts = [str(r.json["messages"]) for r in fake_llm.requests if "只看抖音呢" in str(r.json)]
    assert "各平台有多少达人" in sql_prompts[0]  # the earlier turn went along with the follow-up


def test_a_model_that_is_down_is_a_tool_error_with_the_fix(demo_retrieval_parts, settings, tmp_path):
    with FakeOllamaServer() as down:
        url = down.url
    service = make_service(demo_retrieval_parts, url, settings)
    server = build_server(service, ConversationStore(tmp_path / "c.db"))

    async def main() -> str:
        async with Client(server) as client:
            result = await client.call_tool("ask", {"question": "各平台有多少达人"})
            assert result.is_error
            return text(result)

    message = asyncio.run(main())
    assert "ollama" in message.lower() and "Traceback" not in message


def test_without_the_mcp_package_the_error_names_the_extra(monkeypatch):
    from click.testing import CliRunner

    from askdb.cli import main
    from askdb.errors import ConfigError

    monkeypatch.setitem(sys.modules, "mcp", None)
    monkeypatch.setitem(sys.modules, "mcp.server", None)
    monkeypatch.delitem(sys.modules, "askdb.serving.mcp")
    with pytest.raises(ConfigError) as raised:
        importlib.import_module("askdb.serving.mcp")
    assert raised.value.hint == "pip install 'askdb[mcp]'"
    result = CliRunner().invoke(main, ["mcp"])
    assert result.exit_code != 0 and "pip install 'askdb[mcp]'" in result.output
    monkeypatch.delitem(sys.modules, "askdb.serving.mcp", raising=False)


# -- stdio: ``python -m askdb mcp`` in a subprocess -----------------------------------------------------------
def test_stdio_subprocess(small_demo, fake_llm, shared_models_dir, tmp_path):
    path = small_demo[0]
    before = fingerprint(path)
    env = {
        "ASKDB_HOME": str(tmp_path / "home"),
        "ASKDB_DB_URL": f"sqlite:///{path}",
        "ASKDB_MODELS_DIR": str(shared_models_dir),
        "ASKDB_OLLAMA_HOST": fake_llm.url,
        "ASKDB_LLM_MODEL": "fake-model",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    params = StdioServerParameters(command=sys.executable, args=["-m", "askdb", "mcp"], env=env)
    stray: list[Any] = []

    async def handler(message: Any) -> None:
        if isinstance(message, Exception):  # a line on stdout that is no JSON-RPC message
            stray.append(message)

    async def main() -> None:
        async with Client(params, message_handler=handler, read_timeout_seconds=120) as client:
            await check_schema_tools(client)
            await check_hostile_sql(client)
            answer = await client.call_tool("ask", {"question": "各平台有多少达人"})
            assert answer.structured_content["outcome"] == "answered", text(answer)
            assert answer.structured_content["rows"] and ANALYSIS in text(answer)

    asyncio.run(main())
    assert stray == []
    assert fingerprint(path) == before


def readme_example() -> str:
    """The Python block of the README's "## MCP server" section."""
    readme = Path(__file__).resolve().parents[1] / "README.md"
    section = readme.read_text(encoding="utf-8").split("\n## MCP server\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_example_runs(small_demo, shared_models_dir, tmp_path, monkeypatch, capsys):
    # The example passes no environment: the server finds its settings in the .env of its folder.
    (tmp_path / ".env").write_text(
        f"ASKDB_HOME={tmp_path / 'home'}\nASKDB_DB_URL=sqlite:///{small_demo[0]}\n"
        f"ASKDB_MODELS_DIR={shared_models_dir}\n"
    )
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}:{os.environ['PATH']}")  # where `askdb` is
    exec(compile(readme_example(), "README.md", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert "ads_account: 达人账号表" in out and "['小红书', 15]" in out
    assert "True" in out and "[query_only]" in out


# -- streamable HTTP: /mcp on ``askdb serve``'s app -----------------------------------------------------------
@pytest.fixture
def live_api(demo_retrieval_parts, fake_llm, settings) -> Iterator[str]:
    settings = settings.model_copy(update={"api_keys": {"ide": "key-ide"}})
    with uvicorn_thread(
        create_app(service=make_service(demo_retrieval_parts, fake_llm.url, settings))
    ) as url:
        yield url + "/mcp"


def keyed(url: str, key: str = "key-ide") -> Client:
    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {key}"}, timeout=httpx2.Timeout(30, read=120)
    )
    return Client(streamable_http_client(url, http_client=http))


def test_http_needs_the_api_key(live_api):
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    missing = httpx2.post(live_api, json=ping)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "missing_api_key"
    wrong = httpx2.post(live_api, json=ping, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"

    async def main() -> None:
        async with keyed(live_api) as client:
            await check_schema_tools(client)

    asyncio.run(main())


def test_http_tools_and_a_client_that_leaves_mid_call(live_api, small_demo):
    before = fingerprint(small_demo[0])

    async def leave_mid_call() -> None:
        async with keyed(live_api) as client:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.5):
                    await client.call_tool("ask", {"question": SLOW})

    async def main() -> None:
        await leave_mid_call()
        async with keyed(live_api) as client:
            await check_hostile_sql(client)  # while the left call still waits for the model
            await asyncio.sleep(1.5)  # and once its answer has found no one to take it
            answer = await client.call_tool("ask", {"question": "各平台有多少达人"})
            assert answer.structured_content["outcome"] == "answered" and answer.structured_content["rows"]

    asyncio.run(main())
    assert fingerprint(small_demo[0]) == before


def test_one_app_started_twice_serves_mcp_both_times(demo_retrieval_parts, fake_llm, settings):
    """A session manager runs once; the app makes a fresh one per start (a test client, then a fuzzer)."""
    app = create_app(service=make_service(demo_retrieval_parts, fake_llm.url, settings))

    async def tools(url: str) -> list[str]:
        http = httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=120))  # no keys set: loopback only
        async with Client(streamable_http_client(url, http_client=http)) as client:
            return sorted(t.name for t in (await client.list_tools()).tools)

    for _ in range(2):
        with uvicorn_thread(app) as url:
            assert "run_sql" in asyncio.run(tools(url + "/mcp"))
