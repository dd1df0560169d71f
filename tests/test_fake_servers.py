"""The fake servers speak the protocols well enough for the unmodified ``ollama`` and ``openai`` clients."""

from __future__ import annotations

from pathlib import Path

import httpx
import ollama
import openai
import pytest

from askdb.testing import FakeError, FakeOllamaServer, FakeOpenAIServer, FakeReply

USER = [{"role": "user", "content": "每个城市有多少认证账号?"}]


def test_ollama_non_streaming_chat_and_model_listing() -> None:
    with FakeOllamaServer([FakeReply("SELECT 1", reasoning="想")], models=["m:7b"]) as srv:
        client = ollama.Client(host=srv.url)
        reply = client.chat(model="m:7b", messages=USER, think=True)
        assert (reply.message.thinking, reply.message.content, reply.done) == ("想", "SELECT 1", True)
        assert [m.model for m in client.list().models] == ["m:7b"]
        assert "thinking" in client.show("m:7b").capabilities
        assert httpx.get(srv.url + "/api/version").json()["version"]
        with pytest.raises(ollama.ResponseError) as err:
            client.show("absent")
        assert err.value.status_code == 404


@pytest.mark.parametrize(
    ("think", "thinking", "content"),
    [
        (True, "r", "SELECT 1"),
        (False, None, "SELECT 1"),
        (None, None, "<think>\nr\n</think>\n\nSELECT 1"),
    ],
)
def test_ollama_reasoning_follows_think(think: bool | None, thinking: str | None, content: str) -> None:
    with FakeOllamaServer([FakeReply("SELECT 1", reasoning="r")], models=["m"]) as srv:
        reply = ollama.Client(host=srv.url).chat(model="m", messages=USER, think=think)
    assert (reply.message.thinking, reply.message.content) == (thinking, content)


def test_ollama_blob_upload_checks_the_digest_and_create_streams_status(tmp_path: Path) -> None:
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF" + bytes(range(256)) * 64)
    with FakeOllamaServer(models=[]) as srv:
        client = ollama.Client(host=srv.url)
        digest = client.create_blob(gguf)
        assert srv.blobs[digest] == gguf.read_bytes()
        assert httpx.head(f"{srv.url}/api/blobs/{digest}").status_code == 200
        assert httpx.head(f"{srv.url}/api/blobs/sha256:{'1' * 64}").status_code == 404
        bad = httpx.post(f"{srv.url}/api/blobs/sha256:{'1' * 64}", content=b"other bytes")
        assert bad.status_code == 400 and "digest mismatch" in bad.json()["error"]
        statuses = [
            p.status for p in client.create(model="askdb-sql", files={"model.gguf": digest}, stream=True)
        ]
        assert statuses[-1] == "success" and any(digest in s for s in statuses)
        assert "askdb-sql" in srv.models
        assert srv.requests_to("/api/create")[0].json["files"] == {"model.gguf": digest}


def test_openai_non_streaming_and_models() -> None:
    with FakeOpenAIServer(
        [FakeReply("SELECT 2", reasoning="r")], models=["m"], reasoning_field="reasoning_content"
    ) as srv:
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key="k", max_retries=0)
        reply = client.chat.completions.create(model="m", messages=USER)
        assert reply.choices[0].message.content == "SELECT 2"
        assert reply.choices[0].message.model_extra["reasoning_content"] == "r"
        assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
        assert [m.id for m in client.models.list()] == ["m"]


def test_openai_stream_without_include_usage_has_no_usage_chunk() -> None:
    with FakeOpenAIServer(["SELECT 3"], models=["m"]) as srv:
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key="k", max_retries=0)
        events = list(client.chat.completions.create(model="m", messages=USER, stream=True))
    assert all(e.usage is None for e in events)
    assert "".join(e.choices[0].delta.content or "" for e in events) == "SELECT 3"
    assert events[-1].choices[0].finish_reason == "stop"


def test_scripts_can_be_functions_and_run_out() -> None:
    def answer(messages: list[dict]) -> str:
        return f"SELECT '{messages[-1]['content']}'"

    with FakeOpenAIServer(answer, models=["m"]) as srv:
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key="k", max_retries=0)
        reply = client.chat.completions.create(model="m", messages=USER)
        assert reply.choices[0].message.content == f"SELECT '{USER[0]['content']}'"
    with FakeOllamaServer(["only one"], models=["m"]) as srv:
        client = ollama.Client(host=srv.url)
        client.chat(model="m", messages=USER)
        with pytest.raises(ollama.ResponseError, match="no scripted replies left"):
            client.chat(model="m", messages=USER)
        assert len(srv.requests_to("/api/chat")) == 2


def test_custom_error_body_is_sent_verbatim() -> None:
    body = {"error": {"message": "quota", "type": "insufficient_quota", "code": "insufficient_quota"}}
    with FakeOpenAIServer([FakeReply(error=FakeError(429, body=body))], models=["m"]) as srv:
        client = openai.OpenAI(base_url=srv.url + "/v1", api_key="k", max_retries=0)
        with pytest.raises(openai.RateLimitError) as err:
            client.chat.completions.create(model="m", messages=USER)
    assert err.value.body == body["error"]
