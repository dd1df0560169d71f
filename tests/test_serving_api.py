"""``askdb serve``'s routes: /v1/ask (JSON and SSE), the OpenAI-compatible model (driven by the real
``openai`` client over a real socket), Dify's External Knowledge API, errors and bad input, and a
schemathesis run over the OpenAPI schema that finds no 500s."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from askdb.assistant import Assistant
from askdb.llm.ollama_backend import OllamaLLM
from askdb.runtime.service import AssistantService
from askdb.serving.api import create_app, jsonable
from askdb.settings import Settings
from askdb.testing import FakeOllamaServer
from tests.live import uvicorn_thread

SQL = "SELECT platform, COUNT(*) AS n FROM ads_account GROUP BY platform"
ANALYSIS = "- 小红书的达人最多"


def reply(messages: list[dict]) -> str:
    if any("数据分析师" in m["content"] for m in messages):
        return ANALYSIS
    return f"<think>按平台统计达人</think>\n```sql\n{SQL}\n```"


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeOllamaServer]:
    with FakeOllamaServer(reply) as server:
        yield server


def make_service(parts, url: str, settings: Settings) -> AssistantService:
    llm = OllamaLLM("fake-model", host=url, timeout_s=10, num_ctx=4096)
    return AssistantService(settings, assistant=Assistant(llm=llm, **parts))


@pytest.fixture
def client(demo_retrieval_parts, fake_llm, settings) -> Iterator[TestClient]:
    app = create_app(service=make_service(demo_retrieval_parts, fake_llm.url, settings))
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def keyed_client(demo_retrieval_parts, fake_llm, settings) -> Iterator[TestClient]:
    settings = settings.model_copy(update={"api_keys": {"dify": "key-dify", "webui": "key-webui"}})
    app = create_app(service=make_service(demo_retrieval_parts, fake_llm.url, settings))
    with TestClient(app) as test_client:
        yield test_client


def sse_events(text: str) -> list[tuple[str | None, str]]:
    events = []
    for block in text.strip().split("\n\n"):
        name = next((line[7:] for line in block.splitlines() if line.startswith("event: ")), None)
        data = "\n".join(line[6:] for line in block.splitlines() if line.startswith("data: "))
        events.append((name, data))
    return events


# -- /healthz, /v1/ask -------------------------------------------------------------------------------------
def test_healthz(client):
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["assistant"] == "ready"
    assert body["llm"] == {"reachable": True, "message": None}


def test_healthz_reports_the_model_apart_from_the_assistant(demo_retrieval_parts, settings):
    with FakeOllamaServer(reply, models=["another-model"]) as server:
        app = create_app(service=make_service(demo_retrieval_parts, server.url, settings))
        with TestClient(app) as test_client:
            llm = test_client.get("/healthz").json()["llm"]
    assert llm["reachable"] is False and "fake-model" in llm["message"]  # up, but without the model
    dead = make_service(demo_retrieval_parts, "http://127.0.0.1:9", settings)
    with TestClient(create_app(service=dead)) as test_client:
        body = test_client.get("/healthz").json()
    assert body["status"] == "ok" and body["assistant"] == "ready"
    assert body["llm"]["reachable"] is False and "ollama serve" in body["llm"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ('{"question": "各平台', 400, "the body is not valid JSON (it breaks at character"),
        ("[1, 2]", 422, "the body must be a JSON object"),
        ("", 422, "the request has no body"),
    ],
)
def test_a_malformed_body_gets_a_message_a_person_can_act_on(client, body, status, message):
    for route in ("/v1/ask", "/v1/chat/completions"):
        response = client.post(route, content=body, headers={"content-type": "application/json"})
        error = response.json()["error"]
        assert response.status_code == status and error["message"].startswith(message)
        assert "JSON decode error" not in error["message"] and '{"question":' in error["hint"]


def test_ask_returns_plain_json(client):
    response = client.post("/v1/ask", json={"question": "各平台的达人数量"})
    assert response.status_code == 200
    body = response.json()
    assert body["sql"].startswith(SQL) and body["columns"] == ["platform", "n"]
    assert sum(row[1] for row in body["rows"]) > 0 and body["analysis"] == ANALYSIS
    assert body["conversation_id"] and body["trace"][0]["name"] == "retrieve"
    json.dumps(body)  # nothing but plain JSON


def test_ask_streams_the_workflow_as_server_sent_events(client):
    with client.stream("POST", "/v1/ask", json={"question": "各平台的达人数量", "stream": True}) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith(
            "text/event-stream"
        )
        text = "".join(response.iter_text())
    events = sse_events(text)
    kinds = [name for name, _ in events]
    assert kinds[0] == "step" and kinds[-1] == "answer"
    assert {"content", "sql", "table", "analysis"} <= set(kinds)
    steps = [json.loads(d)["name"] for n, d in events if n == "step"]
    assert steps == ["retrieve", "sql_llm", "extract", "guard", "run", "analyst"]
    assert json.loads(events[-1][1])["sql"].startswith(SQL)


def test_follow_up_questions_keep_their_context(client, fake_llm):
    first = client.post("/v1/ask", json={"question": "各平台的达人数量"}).json()
    client.post("/v1/ask", json={"question": "那粉丝数呢?", "conversation_id": first["conversation_id"]})
    prompt = json.dumps(fake_llm.requests_to("/api/chat")[-2].json["messages"], ensure_ascii=False)
    assert "各平台的达人数量" in prompt and "那粉丝数呢" in prompt


def test_decimal_and_dates_become_json():
    import datetime as dt

    import numpy as np

    assert jsonable(
        {
            "a": Decimal("12.50"),
            "b": Decimal(3),
            "c": dt.date(2025, 3, 1),
            "d": np.int64(4),
            "e": float("nan"),
        }
    ) == {"a": 12.5, "b": 3, "c": "2025-03-01", "d": 4, "e": None}


HUNDRED_NOTES = "SELECT `desc`, account FROM ads_summary ORDER BY id LIMIT 100"


@pytest.fixture
def hundred_client(demo_retrieval_parts, settings) -> Iterator[TestClient]:
    """A model that always asks for 100 rows."""
    with FakeOllamaServer(lambda m: ANALYSIS if "数据分析师" in str(m) else HUNDRED_NOTES) as server:
        with TestClient(create_app(service=make_service(demo_retrieval_parts, server.url, settings))) as c:
            yield c


def test_ask_limit_field_sets_the_rows_of_one_question(hundred_client):
    body = hundred_client.post("/v1/ask", json={"question": "前100条笔记", "limit": 20}).json()
    assert body["sql"].endswith("LIMIT 20") and len(body["rows"]) == 20 and body["truncated"]
    assert body["limit"] == {"requested": 100, "applied": 20, "lowered": True}
    assert body["notices"][0]["reason"] == "row_limit" and "只显示了前 20 行" in body["notice"]
    guard = next(s for s in body["trace"] if s["name"] == "guard")
    assert guard["output"]["limit"] == body["limit"]
    default = hundred_client.post("/v1/ask", json={"question": "前100条笔记"}).json()
    assert len(default["rows"]) == 10 and default["limit"]["applied"] == 10  # the next one: the default


def test_ask_stream_tells_the_lowered_limit_in_a_notice_event(hundred_client):
    response = hundred_client.post("/v1/ask", json={"question": "前100条笔记", "stream": True})
    events = [(name, json.loads(data)) for name, data in sse_events(response.text)]
    table = next(data for name, data in events if name == "table")
    assert table["truncated"] and table["limit"] == {"requested": 100, "applied": 10, "lowered": True}
    [notice] = [data for name, data in events if name == "notice"]
    assert notice["reason"] == "row_limit" and "SQL 要求 LIMIT 100" in notice["text"]


@pytest.mark.parametrize(("limit", "status"), [(5000, 400), (0, 422), ("many", 422)])
def test_ask_limit_outside_one_to_max_rows_is_refused(hundred_client, limit, status):
    response = hundred_client.post("/v1/ask", json={"question": "前100条笔记", "limit": limit})
    assert response.status_code == status
    if status == 400:
        error = response.json()["error"]
        assert "1 to 1000 (ASKDB_MAX_ROWS)" in error["message"] and "ASKDB_MAX_ROWS" in error["hint"]
    streamed = hundred_client.post(
        "/v1/ask", json={"question": "前100条笔记", "limit": limit, "stream": True}
    )
    assert streamed.status_code == status  # refused before the stream starts


# -- errors --------------------------------------------------------------------------------------------
def test_model_down_is_503_with_how_to_start_it(demo_retrieval_parts, settings):
    with FakeOllamaServer() as server:
        url = server.url
    app = create_app(service=make_service(demo_retrieval_parts, url, settings))
    with TestClient(app) as test_client:
        plain = test_client.post("/v1/ask", json={"question": "各平台的达人数量"})
        streamed = test_client.post("/v1/ask", json={"question": "各平台的达人数量", "stream": True})
    for response in (plain, streamed):
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["type"] == "LLMUnavailable" and "ollama serve" in error["hint"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"question": ""}, 422),
        ({"question": "   "}, 422),
        ({"question": "问" * 5000}, 422),
        ({"question": "x" * (1024 * 1024)}, 413),
        ({"question": 3}, 422),
        ({"question": "各平台", "unknown": 1}, 422),
    ],
)
def test_bad_ask_bodies_are_clear_4xx(client, body, status):
    response = client.post("/v1/ask", json=body)
    assert response.status_code == status
    assert response.json()["error"]["message"]


def test_invalid_json_is_400(client):
    response = client.post("/v1/ask", content=b'{"question": ', headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"


def test_a_chunked_body_over_the_limit_is_413(client):
    def chunks():
        for _ in range(300):
            yield b"x" * 1024

    response = client.post("/v1/ask", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_api_keys(keyed_client):
    assert keyed_client.get("/v1/models").status_code == 401
    wrong = keyed_client.get("/v1/models", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    assert keyed_client.get("/v1/models", headers={"Authorization": "Bearer key-webui"}).status_code == 200
    assert keyed_client.get("/healthz").status_code == 200  # liveness needs no key


# -- OpenAI-compatible, through the real client over a real socket -------------------------------------------
@pytest.fixture
def live_api(demo_retrieval_parts, fake_llm, settings) -> Iterator[str]:
    settings = settings.model_copy(update={"api_keys": {"webui": "key-webui"}})
    with uvicorn_thread(
        create_app(service=make_service(demo_retrieval_parts, fake_llm.url, settings))
    ) as url:
        yield url


def test_openai_client_lists_and_chats(live_api, settings):
    import openai

    client = openai.OpenAI(base_url=live_api + "/v1", api_key="key-webui")
    assert [m.id for m in client.models.list()] == ["askdb"]
    completion = client.chat.completions.create(
        model="askdb",
        user="analyst-1",
        messages=[{"role": "system", "content": "你是助手"}, {"role": "user", "content": "各平台的达人数量"}],
    )
    content = completion.choices[0].message.content
    assert f"```sql\n{SQL}" in content and "| 所在平台" in content and content.rstrip().endswith(ANALYSIS)
    assert completion.choices[0].message.model_extra["reasoning_content"] == "按平台统计达人"
    assert completion.usage.total_tokens > 0

    stream = client.chat.completions.create(
        model="askdb",
        stream=True,
        stream_options={"include_usage": True},
        messages=[
            {"role": "user", "content": "各平台的达人数量"},
            {"role": "assistant", "content": content},
            {"role": "user", "content": [{"type": "text", "text": "那粉丝数呢?"}]},
        ],
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    reasoning = "".join(
        (c.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for c in chunks if c.choices
    )
    assert "| 所在平台" in text and ANALYSIS in text and reasoning == "按平台统计达人"
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"

    from askdb.runtime.audit import audit_log

    callers = {e.caller for e in audit_log(settings).tail(10)}
    assert "webui:analyst-1" in callers and "webui" in callers


def test_openai_client_errors(live_api):
    import openai

    client = openai.OpenAI(base_url=live_api + "/v1", api_key="key-webui", max_retries=0)
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=live_api + "/v1", api_key="wrong", max_retries=0).models.list()
    with pytest.raises(openai.BadRequestError, match="no user message"):
        client.chat.completions.create(model="askdb", messages=[{"role": "system", "content": "hi"}])


# -- Dify's External Knowledge API -----------------------------------------------------------------------
def dify_body(**setting) -> dict:
    return {
        "knowledge_id": "askdb",
        "query": "小红书上粉丝最多的达人",
        "retrieval_setting": {"top_k": 5, "score_threshold": 0.0, **setting},
    }


def test_dify_retrieval_records(keyed_client):
    auth = {"Authorization": "Bearer key-dify"}
    response = keyed_client.post("/retrieval", json=dify_body(), headers=auth)
    assert response.status_code == 200
    records = response.json()["records"]
    assert 0 < len(records) <= 5
    for record in records:
        assert set(record) == {"content", "score", "title", "metadata"}
        assert isinstance(record["content"], str) and 0 <= record["score"] <= 1
        assert isinstance(record["metadata"], dict)  # Dify breaks on null metadata
    assert records == sorted(records, key=lambda r: -r["score"])
    assert any(r["metadata"]["kind"] == "table" and r["content"].startswith("CREATE TABLE") for r in records)
    top1 = keyed_client.post("/retrieval", json=dify_body(top_k=1), headers=auth).json()["records"]
    assert len(top1) == 1
    strict = keyed_client.post("/retrieval", json=dify_body(top_k=20, score_threshold=0.9), headers=auth)
    assert all(r["score"] >= 0.9 for r in strict.json()["records"])


@pytest.mark.parametrize(
    ("headers", "body", "status", "code"),
    [
        ({}, dify_body(), 403, 1001),
        ({"Authorization": "key-dify"}, dify_body(), 403, 1001),
        ({"Authorization": "Bearer wrong"}, dify_body(), 403, 1002),
        ({"Authorization": "Bearer key-dify"}, {**dify_body(), "knowledge_id": "other"}, 404, 2001),
    ],
)
def test_dify_error_codes(keyed_client, headers, body, status, code):
    response = keyed_client.post("/retrieval", json=body, headers=headers)
    assert response.status_code == status
    assert response.json()["error_code"] == code and response.json()["error_msg"]


def test_dify_bodyless_probe_is_not_404(keyed_client):
    response = keyed_client.post("/retrieval", headers={"Authorization": "Bearer key-dify"})
    assert response.status_code in (400, 422)


# -- property-based: the schema's every operation, no 500s ------------------------------------------------------
def test_openapi_schema_fuzzed_finds_no_server_errors(demo_retrieval_parts, fake_llm, settings):
    import schemathesis
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hsettings
    from schemathesis.checks import not_a_server_error

    app = create_app(service=make_service(demo_retrieval_parts, fake_llm.url, settings))
    with TestClient(app):
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        failures = []
        for result in schema.get_all_operations():
            operation = result.ok()

            @hsettings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy())
            def run(case):
                response = case.call()
                if response.status_code >= 500:
                    label = operation.label  # noqa: B023 - run() is called within this iteration
                    failures.append((label, case.body, response.status_code, response.text[:300]))
                case.validate_response(response, checks=[not_a_server_error])

            run()
    assert not failures


# -- an R1 model's <think> text in the analysis stays reasoning in every stream -----------------------
ANALYST_THINKING = "先比较各平台的数量"


def r1_reply(messages: list[dict]) -> str:
    if any("数据分析师" in m["content"] for m in messages):
        return f"<think>\n{ANALYST_THINKING}\n</think>\n\n{ANALYSIS}"
    return f"<think>按平台统计达人</think>\n```sql\n{SQL}\n```"


@pytest.fixture
def r1_client(demo_retrieval_parts, settings) -> Iterator[TestClient]:
    with FakeOllamaServer(r1_reply, models=["deepseek-r1:7b"]) as server:
        llm = OllamaLLM("deepseek-r1:7b", host=server.url, timeout_s=10, num_ctx=4096)
        service = AssistantService(settings, assistant=Assistant(llm=llm, **demo_retrieval_parts))
        with TestClient(create_app(service=service)) as test_client:
            yield test_client


def test_ask_stream_sends_analysis_thinking_as_reasoning_events(r1_client):
    response = r1_client.post("/v1/ask", json={"question": "各平台的达人数量", "stream": True})
    assert response.status_code == 200
    events = sse_events(response.text)
    analysis = "".join(json.loads(d)["text"] for name, d in events if name == "analysis")
    reasoning = "".join(json.loads(d)["text"] for name, d in events if name == "reasoning")
    assert analysis == ANALYSIS and ANALYST_THINKING not in analysis
    assert ANALYST_THINKING in reasoning and "按平台统计达人" in reasoning


def test_streamed_chat_completion_keeps_analysis_thinking_in_reasoning_content(r1_client):
    body = {"model": "askdb", "stream": True, "messages": [{"role": "user", "content": "各平台的达人数量"}]}
    response = r1_client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    deltas = [
        json.loads(d)["choices"][0]["delta"]
        for _, d in sse_events(response.text)
        if d != "[DONE]" and json.loads(d).get("choices")
    ]
    content = "".join(d.get("content") or "" for d in deltas)
    reasoning = "".join(d.get("reasoning_content") or "" for d in deltas)
    assert ANALYSIS in content and ANALYST_THINKING not in content and "<think>" not in content
    assert ANALYST_THINKING in reasoning and "按平台统计达人" in reasoning
