"""The chat's question back, in headless Chromium: the options appear as choices under the chat, and
choosing one asks it as it is (no second question back)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("gradio")

from askdb.assistant import Assistant
from askdb.db import make_engine
from askdb.llm.ollama_backend import OllamaLLM
from askdb.runtime.service import AssistantService
from askdb.schemas.catalog import packaged_catalog
from askdb.settings import Settings
from askdb.sql.runner import SqlAlchemyRunner
from askdb.testing import FakeOllamaServer
from tests.live import free_port
from tests.test_clarify import SQL, TODAY, RangesRetriever
from tests.test_ui_chat import _chromium

ANALYSIS = "上个月没有投放数据"


def reply(messages: list[dict]) -> str:
    return ANALYSIS if any("数据分析师" in m["content"] for m in messages) else f"```sql\n{SQL}\n```"


@pytest.fixture(scope="module")
def clarify_chat(small_demo, tmp_path_factory) -> Iterator[tuple[str, RangesRetriever, FakeOllamaServer]]:
    from askdb.ui.app import launch

    settings = Settings(home=tmp_path_factory.mktemp("ui-clarify"), llm_model="fake-model")
    retriever = RangesRetriever()
    runner = SqlAlchemyRunner(make_engine(f"sqlite:///{small_demo[0]}", read_only=True), timeout_s=10)
    with FakeOllamaServer(reply) as server:
        llm = OllamaLLM("fake-model", host=server.url, timeout_s=10, num_ctx=4096)
        bot = Assistant(
            retriever=retriever, llm=llm, runner=runner, catalog=packaged_catalog(), today=lambda: TODAY
        )
        port = free_port()
        demo = launch(settings, port=port, block=False, service=AssistantService(settings, assistant=bot))
        try:
            yield f"http://127.0.0.1:{port}/", retriever, server
        finally:
            demo.close()


@pytest.mark.browser
def test_the_chat_asks_back_and_a_chosen_option_is_asked(clarify_chat):
    url, retriever, server = clarify_chat
    with _chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 1400}, locale="zh-CN")
        page.goto(url, wait_until="domcontentloaded")
        box = page.locator("#askdb-question textarea")
        box.wait_for(timeout=60_000)
        box.fill("上个月每天的花费")
        box.press("Enter")
        chat = page.locator("#askdb-chat")
        chat.get_by_text("需要确认").first.wait_for(timeout=60_000)
        assert server.requests_to("/api/chat") == []  # asked back before any model call
        choice = page.locator("#askdb-clarify").get_by_text("仍按上个月", exact=False)
        choice.wait_for(timeout=20_000)
        choice.click()
        chat.get_by_text(ANALYSIS).first.wait_for(timeout=60_000)
        text = chat.inner_text()
        assert "SELECT" in text and text.count("需要确认") == 1  # one question back, then the answer
    assert retriever.queries[-1] == "上个月每天的花费" and len(server.requests_to("/api/chat")) >= 1
