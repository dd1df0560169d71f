"""LLM backends: the real ``ollama`` and ``openai`` clients against the fake servers, replay, the registry."""

from __future__ import annotations

import json
import socket
import sys
import time
from importlib.metadata import EntryPoint
from pathlib import Path

import ollama  # noqa: F401 - imported up front so the timeout tests time the wait, not a first import
import openai  # noqa: F401 - (openai's import alone takes about a second)
import pytest

from askdb.errors import (
    ConfigError,
    LLMAuthError,
    LLMError,
    LLMServerError,
    LLMTimeout,
    LLMUnavailable,
    ModelNotFound,
)
from askdb.llm import registry
from askdb.llm.base import LLM, Chunk, Message, Usage
from askdb.llm.registry import create_llm, known_backends, register_backend
from askdb.settings import Settings
from askdb.testing import FakeError, FakeOllamaServer, FakeOpenAIServer, FakeReply

MODEL = "deepseek-r1:7b"
QUESTION = [Message("system", "你是SQL专家"), Message("user", "每个账号发了多少篇笔记?")]
SQL = "SELECT account, COUNT(*) AS notes FROM ads_summary GROUP BY account LIMIT 10"
THOUGHT = "需要按account分组计数,再取前10。"


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ollama_llm(url: str, **settings: object) -> LLM:
    return create_llm(Settings(llm_backend="ollama", llm_model=MODEL, ollama_host=url, **settings))


def openai_llm(url: str, **settings: object) -> LLM:
    return create_llm(Settings(llm_backend="openai", llm_model=MODEL, openai_base_url=url, **settings))


# -- Ollama ----------------------------------------------------------------------------------------


def test_ollama_streams_the_answer_in_pieces_with_options() -> None:
    with FakeOllamaServer([SQL], models=[MODEL]) as srv:
        llm = ollama_llm(srv.url, llm_num_ctx=8192)
        chunks = list(llm.stream(QUESTION, temperature=0.3, max_tokens=256))
    assert "".join(c.content for c in chunks) == SQL
    assert len([c for c in chunks if c.content]) > 1  # really streamed
    sent = srv.requests_to("/api/chat")[0].json
    assert sent["model"] == MODEL and sent["stream"] is True
    assert sent["options"] == {"num_ctx": 8192, "temperature": 0.3, "num_predict": 256}
    assert "think" not in sent  # llm_think unset: leave it to the server
    assert sent["messages"] == [{"role": m.role, "content": m.content} for m in QUESTION]


def test_ollama_reasoning_comes_from_message_thinking_and_usage_from_the_last_line() -> None:
    reply = FakeReply(SQL, reasoning=THOUGHT, prompt_tokens=321, completion_tokens=54)
    with FakeOllamaServer([reply], models=[MODEL]) as srv:
        completion = ollama_llm(srv.url, llm_think=True).complete(QUESTION)
    assert srv.requests_to("/api/chat")[0].json["think"] is True
    assert (completion.reasoning, completion.content) == (THOUGHT, SQL)
    assert completion.usage == Usage(prompt_tokens=321, completion_tokens=54)
    assert completion.model == MODEL


def test_ollama_server_down_says_how_to_start_it() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(LLMUnavailable) as err:
        ollama_llm(url).complete(QUESTION)
    assert url in err.value.message
    assert "`ollama serve`" in err.value.hint and "ASKDB_OLLAMA_HOST" in err.value.hint


def test_ollama_missing_model_says_which_to_pull() -> None:
    with FakeOllamaServer(["unused"], models=["qwen2.5:7b"]) as srv, pytest.raises(ModelNotFound) as err:
        ollama_llm(srv.url).complete(QUESTION)
    assert f"`ollama pull {MODEL}`" in err.value.hint
    assert "qwen2.5:7b" in err.value.message  # lists what is installed


def test_ollama_500_is_a_server_error() -> None:
    reply = FakeReply(error=FakeError(500, "llama runner process has terminated"))
    with FakeOllamaServer([reply], models=[MODEL]) as srv, pytest.raises(LLMServerError) as err:
        ollama_llm(srv.url).complete(QUESTION)
    assert "llama runner process has terminated" in err.value.message


def test_ollama_slow_reply_times_out_on_time() -> None:
    timeout = 0.5
    with FakeOllamaServer([FakeReply(SQL, delay=5)], models=[MODEL]) as srv:
        started = time.perf_counter()
        with pytest.raises(LLMTimeout) as err:
            ollama_llm(srv.url, llm_timeout_s=timeout).complete(QUESTION)
        elapsed = time.perf_counter() - started
    assert timeout <= elapsed < timeout + 1
    assert "ASKDB_LLM_TIMEOUT_S" in err.value.hint


# -- OpenAI-compatible (vLLM) ------------------------------------------------------------------------


def test_openai_streams_the_answer_with_usage() -> None:
    reply = FakeReply(SQL, prompt_tokens=400, completion_tokens=30)
    with FakeOpenAIServer([reply], models=[MODEL]) as srv:
        chunks = list(openai_llm(srv.url + "/v1").stream(QUESTION, temperature=0.2, max_tokens=128))
    assert "".join(c.content for c in chunks) == SQL
    assert len([c for c in chunks if c.content]) > 1
    assert chunks[-1].usage == Usage(400, 30)
    sent = srv.requests_to("/v1/chat/completions")[0]
    assert sent.json["stream"] is True and sent.json["stream_options"] == {"include_usage": True}
    assert (sent.json["temperature"], sent.json["max_tokens"]) == (0.2, 128)
    assert sent.headers["authorization"] == "Bearer EMPTY"  # vLLM without --api-key takes any key


@pytest.mark.parametrize("field", ["reasoning", "reasoning_content"])
def test_openai_reasoning_from_either_vllm_field(field: str) -> None:
    with FakeOpenAIServer([FakeReply(SQL, reasoning=THOUGHT)], models=[MODEL], reasoning_field=field) as srv:
        completion = openai_llm(srv.url + "/v1").complete(QUESTION)
    assert (completion.reasoning, completion.content) == (THOUGHT, SQL)


def test_openai_server_down_names_vllm_serve() -> None:
    with pytest.raises(LLMUnavailable) as err:
        openai_llm(f"http://127.0.0.1:{free_port()}/v1").complete(QUESTION)
    assert "vllm serve" in err.value.hint and "ASKDB_OPENAI_BASE_URL" in err.value.hint


def test_openai_unknown_model_lists_the_served_ones() -> None:
    with FakeOpenAIServer(["unused"], models=["askdb-sql-7b"]) as srv, pytest.raises(ModelNotFound) as err:
        openai_llm(srv.url + "/v1").complete(QUESTION)
    assert err.value.details["served"] == ["askdb-sql-7b"]
    assert "askdb-sql-7b" in err.value.message and "ASKDB_LLM_MODEL" in err.value.hint


def test_openai_base_url_without_v1_is_reported_as_the_url() -> None:
    with FakeOpenAIServer([SQL], models=[MODEL]) as srv, pytest.raises(LLMUnavailable) as err:
        openai_llm(srv.url).complete(QUESTION)
    assert "/v1" in err.value.hint


def test_openai_500_is_a_server_error() -> None:
    reply = FakeReply(error=FakeError(500, "CUDA out of memory"))
    with FakeOpenAIServer([reply], models=[MODEL]) as srv, pytest.raises(LLMServerError) as err:
        openai_llm(srv.url + "/v1").complete(QUESTION)
    assert "CUDA out of memory" in err.value.message and err.value.details["status"] == 500


def test_openai_wrong_key_is_an_auth_error() -> None:
    with FakeOpenAIServer([SQL], models=[MODEL], api_key="sk-right") as srv:
        with pytest.raises(LLMAuthError) as err:
            openai_llm(srv.url + "/v1", openai_api_key="sk-wrong").complete(QUESTION)
        assert "ASKDB_OPENAI_API_KEY" in err.value.hint
        assert openai_llm(srv.url + "/v1", openai_api_key="sk-right").complete(QUESTION).content == SQL


def test_openai_slow_reply_times_out_on_time_without_retrying() -> None:
    timeout = 0.5
    with FakeOpenAIServer([FakeReply(SQL, delay=5)], models=[MODEL]) as srv:
        started = time.perf_counter()
        with pytest.raises(LLMTimeout):
            openai_llm(srv.url + "/v1", llm_timeout_s=timeout).complete(QUESTION)
        elapsed = time.perf_counter() - started
    assert timeout <= elapsed < timeout + 1
    assert len(srv.requests_to("/v1/chat/completions")) == 1


# -- a pooled connection that died ---------------------------------------------------------------------


@pytest.mark.parametrize("make", [ollama_llm, lambda url: openai_llm(url + "/v1")], ids=["ollama", "openai"])
def test_a_dropped_connection_before_any_token_is_asked_again_once(make) -> None:
    """Seen under load as a 502 "broke off the reply: Bad file descriptor": a keep-alive socket that died."""
    with (
        FakeOllamaServer([FakeReply(disconnect=True), SQL], models=[MODEL]) as ollama_srv,
        FakeOpenAIServer([FakeReply(disconnect=True), SQL], models=[MODEL]) as openai_srv,
    ):
        srv = ollama_srv if make is ollama_llm else openai_srv
        assert make(srv.url).complete(QUESTION).content == SQL
    path = "/api/chat" if srv is ollama_srv else "/v1/chat/completions"
    assert len(srv.requests_to(path)) == 2


@pytest.mark.parametrize("make", [ollama_llm, lambda url: openai_llm(url + "/v1")], ids=["ollama", "openai"])
def test_a_connection_that_drops_twice_is_a_server_error_not_a_loop(make) -> None:
    with (
        FakeOllamaServer([FakeReply(disconnect=True)] * 3, models=[MODEL]) as ollama_srv,
        FakeOpenAIServer([FakeReply(disconnect=True)] * 3, models=[MODEL]) as openai_srv,
    ):
        srv = ollama_srv if make is ollama_llm else openai_srv
        with pytest.raises((LLMServerError, LLMUnavailable)) as err:
            make(srv.url).complete(QUESTION)
    path = "/api/chat" if srv is ollama_srv else "/v1/chat/completions"
    assert len(srv.requests_to(path)) == 2 and err.value.hint


def test_a_server_that_is_down_is_not_retried() -> None:
    started = time.perf_counter()
    with pytest.raises(LLMUnavailable):
        ollama_llm(f"http://127.0.0.1:{free_port()}").complete(QUESTION)
    assert time.perf_counter() - started < 1


# -- replay ------------------------------------------------------------------------------------------


def write_replay(path: Path, lines: list[str]) -> Settings:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Settings(llm_backend="replay", replay_file=path)


def test_replay_answers_in_order_then_says_it_ran_out(tmp_path: Path) -> None:
    records = [{"content": SQL, "reasoning": THOUGHT}, {"content": "SELECT 2", "question": "ignored"}]
    settings = write_replay(tmp_path / "r.jsonl", [json.dumps(r, ensure_ascii=False) for r in records] + [""])
    llm = create_llm(settings)
    first, second = llm.complete(QUESTION), llm.complete(QUESTION)
    assert (first.reasoning, first.content) == (THOUGHT, SQL)
    assert (second.reasoning, second.content) == ("", "SELECT 2")
    with pytest.raises(LLMError, match="2 replies and all were used"):
        llm.complete(QUESTION)


@pytest.mark.parametrize(
    "bad", ["not json", '{"reasoning": "no content"}', '{"content": "x", "reasoning": 3}']
)
def test_replay_names_the_malformed_line(tmp_path: Path, bad: str) -> None:
    settings = write_replay(tmp_path / "r.jsonl", ['{"content": "SELECT 1"}', bad])
    with pytest.raises(ConfigError, match=r"r\.jsonl:2"):
        create_llm(settings).complete(QUESTION)


def test_replay_without_a_file_says_which_setting() -> None:
    with pytest.raises(ConfigError) as err:
        create_llm(Settings(llm_backend="replay"))
    assert "ASKDB_REPLAY_FILE" in err.value.hint


# -- registry and optional backends -------------------------------------------------------------------


def test_unknown_backend_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as err:
        create_llm(Settings(), backend="gpt-magic")
    assert "gpt-magic" in err.value.message
    for name in ("ollama", "openai", "vllm", "llamacpp", "replay"):
        assert name in err.value.hint


@pytest.mark.parametrize(
    ("backend", "module", "extra"),
    [("vllm", "vllm", "askdb[vllm]"), ("llamacpp", "llama_cpp", "askdb[llamacpp]")],
)
def test_missing_inprocess_engine_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, backend: str, module: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed, even where it is
    with pytest.raises(ConfigError) as err:
        create_llm(Settings(), backend=backend)
    assert f"pip install '{extra}'" in err.value.hint


class EchoLLM(LLM):
    """A plugin backend for the registry tests: answers with the last user message."""

    name = "echo"

    @classmethod
    def from_settings(cls, settings: Settings, *, model: str) -> EchoLLM:
        return cls(model)

    def stream(self, messages, *, temperature=0.1, max_tokens=None):
        yield Chunk(content=messages[-1].content)


def test_registered_backend_is_created_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_registry", dict(registry._registry))
    register_backend("echo")(EchoLLM)
    llm = create_llm(Settings(), backend="echo", model="m1")
    assert isinstance(llm, EchoLLM) and llm.model == "m1"
    assert llm.complete(QUESTION).content == QUESTION[-1].content
    assert "echo" in known_backends()


def test_entry_point_plugin_is_loaded_on_demand(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_registry", dict(registry._registry))
    plugin = EntryPoint(name="echo-plugin", value=f"{__name__}:EchoLLM", group=registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [plugin] if group == plugin.group else [])
    assert "echo-plugin" in known_backends()
    assert isinstance(create_llm(Settings(llm_backend="echo-plugin")), EchoLLM)


def test_creating_a_backend_touches_no_network() -> None:
    # Nothing listens there; construction must still succeed (errors come on the first call).
    url = f"http://127.0.0.1:{free_port()}"
    assert create_llm(Settings(llm_backend="ollama", ollama_host=url)).model == Settings().llm_model
    assert create_llm(Settings(llm_backend="openai", openai_base_url=url)).name == "openai"
