"""``/v1/examples``: list, add through the guard, refuse duplicates and packaged removals, and an added
example answers the server's next ``/v1/ask`` without a restart (the fake Ollama server is the model;
retrieval, guard and runner are real over the small demo database)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from askdb.assistant import Assistant
from askdb.llm.ollama_backend import OllamaLLM
from askdb.rag.examples.book import example_id
from askdb.rag.retriever import HybridRetriever
from askdb.runtime.service import AssistantService
from askdb.schemas.knowledge import packaged_examples
from askdb.serving.api import create_app
from askdb.testing import FakeOllamaServer

MODEL_SQL = "SELECT platform, COUNT(*) AS n FROM ads_account GROUP BY platform"
QUESTION = "抖音和快手各有多少达人?"
SQL = "SELECT platform, COUNT(*) AS n FROM ads_account WHERE platform IN ('抖音', '快手') GROUP BY platform"


def reply(messages: list[dict]) -> str:
    if any("数据分析师" in m["content"] for m in messages):
        return "- 抖音的达人更多"
    return f"```sql\n{MODEL_SQL}\n```"


@pytest.fixture
def served(demo_retrieval_parts, settings) -> Iterator[tuple[TestClient, FakeOllamaServer]]:
    parts = dict(demo_retrieval_parts)
    shared = parts["retriever"]
    parts["retriever"] = HybridRetriever(shared.index, shared.embedder)  # added examples stay in this test
    with FakeOllamaServer(reply) as server:
        llm = OllamaLLM("fake-model", host=server.url, timeout_s=10, num_ctx=4096)
        service = AssistantService(settings, assistant=Assistant(llm=llm, **parts))
        with TestClient(create_app(service=service)) as client:
            yield client, server


def added(client: TestClient) -> list[dict]:
    response = client.get("/v1/examples")
    assert response.status_code == 200
    return [x for x in response.json()["examples"] if x["source"] == "added"]


def test_an_added_example_answers_the_next_question(served) -> None:
    client, server = served
    first = client.post("/v1/ask", json={"question": QUESTION}).json()
    assert first["sql"].startswith(MODEL_SQL) and not first["from_example"]
    response = client.post("/v1/examples", json={"question": QUESTION, "sql": SQL})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["example"]["id"] == example_id(QUESTION) and body["replaced"] is None
    asked = len(server.requests_to("/api/chat"))
    answer = client.post("/v1/ask", json={"question": QUESTION}).json()
    assert answer["from_example"] and answer["sql"].startswith(SQL)  # without a restart
    assert len(server.requests_to("/api/chat")) == asked + 1  # only the analysis was asked for
    assert [x["question"] for x in added(client)] == [QUESTION]


def test_refused_sql_is_422_with_the_violations_and_is_not_stored(served) -> None:
    client, _ = served
    response = client.post("/v1/examples", json={"question": QUESTION, "sql": "DROP TABLE ads_account"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "sql_rejected" and "not stored" in error["message"] and error["violations"]
    assert added(client) == []
    empty = client.post("/v1/examples", json={"question": " ", "sql": SQL})
    assert empty.status_code == 422 and added(client) == []


def test_a_duplicate_is_409_until_replace(served) -> None:
    client, _ = served
    assert client.post("/v1/examples", json={"question": QUESTION, "sql": SQL}).status_code == 201
    other = "SELECT COUNT(*) AS n FROM ads_account WHERE platform = '抖音'"
    again = {"question": "抖音和快手 各有多少达人？", "sql": other}
    conflict = client.post("/v1/examples", json=again)
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "example_exists"
    assert [x["sql"] for x in added(client)] == [SQL]
    replaced = client.post("/v1/examples", json={**again, "replace": True})
    assert replaced.status_code == 201 and replaced.json()["replaced"]["sql"] == SQL
    assert [x["sql"] for x in added(client)] == [other]


def test_delete_removes_added_examples_only(served) -> None:
    client, _ = served
    packaged = packaged_examples()[0].question
    kept = client.delete(f"/v1/examples/{example_id(packaged)}")
    assert kept.status_code == 409 and kept.json()["error"]["code"] == "packaged_example"
    assert client.delete("/v1/examples/nothing-here").status_code == 404
    client.post("/v1/examples", json={"question": QUESTION, "sql": SQL})
    removed = client.delete(f"/v1/examples/{quote(QUESTION)}")
    assert removed.status_code == 200 and removed.json()["removed"]["sql"] == SQL
    assert added(client) == []
    answer = client.post("/v1/ask", json={"question": QUESTION}).json()
    assert not answer["from_example"]  # gone from the running retriever too
