"""The Gradio chat, launched for real: driven through ``gradio_client`` and in headless Chromium.

The model is the fake Ollama server on loopback; retrieval, guard and runner are real, over the
small demo database.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("gradio")

from askdb.assistant import Assistant
from askdb.llm.ollama_backend import OllamaLLM
from askdb.rag.retriever import HybridRetriever
from askdb.runtime.service import AssistantService
from askdb.settings import Settings
from askdb.testing import FakeOllamaServer
from tests.live import free_port

ROOT = Path(__file__).resolve().parents[1]
SQL = "SELECT platform, COUNT(*) AS n FROM ads_account GROUP BY platform"
ANALYSIS = "小红书的达人最多,远多于其他平台"


def reply(messages: list[dict]) -> str:
    if any("数据分析师" in m["content"] for m in messages):
        return f"- {ANALYSIS}"
    return f"<think>按平台分组,统计达人数量</think>\n```sql\n{SQL}\n```"


@pytest.fixture(scope="module")
def chat_url(demo_retrieval_parts, tmp_path_factory) -> Iterator[tuple[str, Settings]]:
    from askdb.ui.app import launch

    home = tmp_path_factory.mktemp("ui-home")
    settings = Settings(home=home, llm_model="fake-model")
    parts = dict(demo_retrieval_parts)
    original = parts["retriever"]
    parts["retriever"] = HybridRetriever(
        original.index, original.embedder
    )  # a 👍 must not leak to other tests
    with FakeOllamaServer(reply) as server:
        settings = settings.model_copy(update={"ollama_host": server.url})
        llm = OllamaLLM("fake-model", host=server.url, timeout_s=10, num_ctx=4096)
        service = AssistantService(settings, assistant=Assistant(llm=llm, **parts))
        port = free_port()
        demo = launch(settings, port=port, block=False, service=service)
        try:
            yield f"http://127.0.0.1:{port}/", settings, service
        finally:
            demo.close()


def _text(message: dict) -> str:
    content = message["content"]
    return "".join(part.get("text", "") for part in content) if isinstance(content, list) else str(content)


def test_chat_through_gradio_client(chat_url):
    from gradio_client import Client

    url, settings, _ = chat_url
    client = Client(url, verbose=False)
    chat, _, table, csv, bar, line, _trace, *_ = client.predict("各平台的达人数量", api_name="/ask")
    texts = [_text(m) for m in chat]
    thought = next(m for m in chat if (m.get("metadata") or {}).get("title", "").startswith("🧠"))
    assert _text(thought) == "按平台分组,统计达人数量" and thought["metadata"]["status"] == "done"
    body = next(t for t in texts if "```sql" in t)
    assert SQL in body and "| 所在平台" in body and ANALYSIS in body
    assert any("retrieve" in t and "ads_account" in t for t in texts)  # the trace, collapsed
    assert table["value"]["headers"] == ["所在平台", "n"] and table["visible"]  # `platform` under its comment
    assert Path(csv["value"]).read_text(encoding="utf-8-sig").startswith("所在平台,n")
    assert bar["visible"] and not line["visible"]  # category + number -> a bar chart
    from askdb.runtime.audit import audit_log

    [entry] = audit_log(settings).tail(5)[-1:]
    assert entry.caller.startswith("ui") and entry.sql.startswith(SQL)


def test_run_sql_box_refuses_writes(chat_url):
    from gradio_client import Client

    client = Client(chat_url[0], verbose=False)
    status, table = client.predict("DELETE FROM ads_order", api_name="/run_sql")
    assert status.startswith("❌") and not table["visible"]
    status, table = client.predict(SQL, api_name="/run_sql")
    assert status.startswith("✅") and table["value"]["headers"] == ["platform", "n"]


def test_thumbs_up_makes_a_verified_example(chat_url):
    """After a 👍 the same question is answered from the example, without the model writing SQL."""
    from types import SimpleNamespace

    from askdb.ui.app import ChatApp

    _, settings, service = chat_url
    app = ChatApp(settings, service=service)
    question = "B站和抖音各有多少达人"
    *_, answers = list(app.respond(question, [], [], {}, {}))[-1]
    index = max(int(i) for i in answers)
    app.like(answers, {}, SimpleNamespace(index=index, liked=True))
    chat = list(app.respond(question, [], [], {}, {}))[-1][0]
    body = next(_text(m) for m in chat if "```sql" in _text(m))
    assert "来自已验证示例" in body and SQL in body
    assert service.log.feedback(1)[0]["liked"] is True


@contextmanager
def _chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(chromium):
        pytest.fail("Chromium is missing: scripts/install-test-deps.sh installs it (make test runs it)")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.mark.browser
def test_chat_in_headless_chromium(chat_url):
    url = chat_url[0]
    shots = ROOT / "bench" / "results"
    shots.mkdir(parents=True, exist_ok=True)
    with _chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1500}, locale="zh-CN")
        page.goto(url, wait_until="domcontentloaded")
        box = page.locator("#askdb-question textarea")
        box.wait_for(timeout=60_000)
        box.fill("各平台的达人数量")
        box.press("Enter")
        chat = page.locator("#askdb-chat")
        chat.get_by_text(ANALYSIS).first.wait_for(timeout=60_000)
        assert "SELECT platform" in chat.inner_text()
        assert "小红书" in chat.inner_text()
        page.locator("#askdb-table").get_by_text("所在平台").first.wait_for(timeout=20_000)
        page.wait_for_timeout(800)  # the chart draws after the table
        page.screenshot(path=str(shots / "chat.png"), full_page=True)


@pytest.mark.browser
def test_clicking_an_example_question_asks_it(chat_url):
    """An example question is asked when clicked, not only put in the box."""
    from askdb.ui.app import EXAMPLES

    with _chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1500}, locale="zh-CN")
        page.goto(chat_url[0], wait_until="domcontentloaded")
        example = page.locator("#askdb-examples").get_by_text(EXAMPLES[2], exact=True)
        example.wait_for(timeout=60_000)
        example.click()
        chat = page.locator("#askdb-chat")
        chat.get_by_text(ANALYSIS).first.wait_for(timeout=60_000)  # answered, with nothing pressed
        assert EXAMPLES[2] in chat.inner_text() and "SELECT platform" in chat.inner_text()
        assert page.locator("#askdb-question textarea").input_value() == ""  # asked, so the box is cleared
