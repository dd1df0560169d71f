"""``LLM.probe``: the server backends ask their server; probe_model is the configured backend's probe."""

from __future__ import annotations

import socket

import pytest

from askdb.llm.base import LLM, Chunk, ModelStatus
from askdb.llm.registry import create_llm
from askdb.runtime import service
from askdb.runtime.service import probe_model
from askdb.settings import Settings
from askdb.testing import FakeOllamaServer, FakeOpenAIServer

MODEL = "deepseek-r1:7b"
STILL_USABLE = "在此之前,已验证示例中的问题和“运行 SQL”仍可使用。"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ollama(url: str, model: str = MODEL) -> Settings:
    return Settings(llm_backend="ollama", llm_model=model, ollama_host=url)


def openai(url: str, model: str = MODEL, key: str | None = None) -> Settings:
    return Settings(llm_backend="openai", llm_model=model, openai_base_url=url, openai_api_key=key)


def test_model_status_is_still_importable_from_the_service() -> None:
    assert service.ModelStatus is ModelStatus


def test_the_default_probe_says_ready() -> None:
    class InProcess(LLM):
        def stream(self, messages, *, temperature=0.1, max_tokens=None):
            yield Chunk(content="")

    assert InProcess("m").probe() == ModelStatus(True)


def test_ollama_with_the_model_is_ready_and_probe_model_asks_the_backend() -> None:
    with FakeOllamaServer([], models=[MODEL]) as srv:
        assert create_llm(ollama(srv.url + "/")).probe(1.0) == ModelStatus(True)
        assert probe_model(ollama(srv.url), timeout_s=1.0) == ModelStatus(True)
        assert len(srv.requests_to("/api/tags")) == 2


def test_ollama_latest_tag_counts_as_the_model() -> None:
    with FakeOllamaServer([], models=["qwen2.5:latest"]) as srv:
        assert probe_model(ollama(srv.url, "qwen2.5")).ok


def test_ollama_without_the_model_lists_what_it_has() -> None:
    with FakeOllamaServer([], models=["qwen2.5:7b"]) as srv:
        status = probe_model(ollama(srv.url))
    assert status == ModelStatus(
        False,
        f"模型服务在运行,但没有模型 `{MODEL}`(已有:qwen2.5:7b)。"
        f"启动 Ollama:`ollama serve`,再 `ollama pull {MODEL}`(或设置 ASKDB_OLLAMA_HOST)。",
    )


def test_ollama_down_says_how_to_start_it() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    status = probe_model(ollama(url))
    assert status == ModelStatus(
        False,
        f"无法连接模型服务 `{url}/api/tags`(ConnectError)。"
        f"启动 Ollama:`ollama serve`,再 `ollama pull {MODEL}`(或设置 ASKDB_OLLAMA_HOST)。{STILL_USABLE}",
    )


def test_openai_with_the_model_is_ready_and_sends_the_key() -> None:
    with FakeOpenAIServer([], models=[MODEL], api_key="sk-right") as srv:
        assert probe_model(openai(srv.url + "/v1", key="sk-right")) == ModelStatus(True)
        assert srv.requests_to("/v1/models")[0].headers["authorization"] == "Bearer sk-right"
        wrong = probe_model(openai(srv.url + "/v1", key="sk-wrong"))
    assert not wrong.ok and "(HTTPStatusError)" in wrong.message


def test_openai_without_the_model_lists_what_it_serves() -> None:
    with FakeOpenAIServer([], models=["askdb-sql-7b"]) as srv:
        status = probe_model(openai(srv.url + "/v1"))
        assert "authorization" not in srv.requests_to("/v1/models")[0].headers  # no key, no header
    assert status == ModelStatus(
        False,
        f"模型服务在运行,但没有模型 `{MODEL}`(已有:askdb-sql-7b)。"
        f"启动兼容 OpenAI 的服务,例如 `vllm serve {MODEL}`(或设置 ASKDB_OPENAI_BASE_URL)。",
    )


def test_openai_down_says_how_to_start_it() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    status = probe_model(openai(url))
    assert status == ModelStatus(
        False,
        f"无法连接模型服务 `{url}/models`(ConnectError)。"
        f"启动兼容 OpenAI 的服务,例如 `vllm serve {MODEL}`(或设置 ASKDB_OPENAI_BASE_URL)。{STILL_USABLE}",
    )


@pytest.mark.parametrize("backend", ["replay", "gpt-magic"])
def test_a_backend_that_cannot_be_built_is_left_to_the_first_question(backend: str) -> None:
    # As before the probe moved into the backends: only the server backends are asked anything.
    assert probe_model(Settings(llm_backend=backend)) == ModelStatus(True)


def test_ollama_down_with_a_tuned_gguf_says_how_to_use_it_offline(tmp_path) -> None:
    import os
    import time

    url = f"http://127.0.0.1:{free_port()}"
    settings = Settings(llm_backend="ollama", llm_model=MODEL, ollama_host=url, home=tmp_path)
    assert "微调" not in probe_model(settings).message  # nothing tuned yet: the plain advice
    gguf = tmp_path / "finetune" / "runs" / "gemma3-270m-cpu" / "gguf"
    gguf.mkdir(parents=True)
    (gguf / "model-f16.gguf").write_bytes(b"older")
    os.utime(gguf / "model-f16.gguf", (time.time() - 60, time.time() - 60))
    (gguf / "model-Q4_K_M.gguf").write_bytes(b"newer")
    (gguf / ".model-Q8_0.gguf.part").write_bytes(b"unfinished")
    status = probe_model(settings)
    assert not status.ok and "ollama serve" in status.message
    assert (
        f"ASKDB_LLM_BACKEND=llamacpp ASKDB_LLM_MODEL={gguf / 'model-Q4_K_M.gguf'} askdb chat"
        in status.message
    )
    with FakeOllamaServer([], models=[MODEL]) as srv:  # Ollama answers: no detour offered
        assert probe_model(
            Settings(llm_backend="ollama", llm_model=MODEL, ollama_host=srv.url, home=tmp_path)
        ).ok
