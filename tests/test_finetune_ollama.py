"""Ollama deployment: the Modelfile's template renders what the tokenizer renders; registration over the wire."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from askdb.cli import main
from askdb.errors import ConfigError
from askdb.finetune.ollama import Modelfile, chat_format, file_digest, register
from askdb.testing.fake_ollama import FakeOllamaServer

CONVERSATION = [
    {"role": "user", "content": "抖音上有多少个达人?"},
    {"role": "assistant", "content": "```sql\nSELECT COUNT(*) FROM ads_account WHERE platform = '抖音'\n```"},
    {"role": "user", "content": "那快手呢?"},
]


@pytest.fixture(scope="session")
def qwen2_chat_template() -> str:
    """The chat template of llama.cpp's real Qwen2 vocab file (pinned llama-cpp-python sdist, cached)."""
    pytest.importorskip("gguf", reason="needs the finetune extra: pip install 'askdb[finetune]'")
    from gguf import GGUFReader

    from askdb.finetune.llamacpp import vocab_file

    cache = Path(os.environ.get("ASKDB_TEST_CACHE", Path.home() / ".cache" / "askdb-tests"))
    field = GGUFReader(vocab_file(cache, "qwen2")).fields["tokenizer.chat_template"]
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def render_go_template(template: str, messages: list[dict[str, str]], system: str | None) -> str:
    """Ollama's rendering of the template subset askdb emits: ``range .Messages``, fields, ``{{-`` trims.

    Ollama puts the Modelfile's SYSTEM first when the conversation has no system message.
    """
    if system and messages[0]["role"] != "system":
        messages = [{"role": "system", "content": system}, *messages]
    parts = re.split(r"({{-?\s*.*?\s*-?}})", template)
    out, body, loop = [], [], False
    for part in parts:
        action = re.fullmatch(r"{{(-?)\s*(.*?)\s*(-?)}}", part)
        if action and action.group(1) and (body if loop else out):
            (body if loop else out)[-1] = (body if loop else out)[-1].rstrip()
        if action and action.group(2) == "range .Messages":
            loop = True
        elif action and action.group(2) == "end":
            out += ["".join(p.replace("\0role", m["role"]).replace("\0content", m["content"]) for p in body)
                    for m in messages]
            loop, body = False, []
        elif action:
            (body if loop else out).append({".Role": "\0role", ".Content": "\0content"}[action.group(2)])
        else:
            (body if loop else out).append(part)
    return "".join(out)


def test_modelfile_template_renders_what_the_tokenizer_renders(qwen2_chat_template):
    from transformers.utils.chat_template_utils import render_jinja_template

    chat = chat_format(qwen2_chat_template)
    assert chat.family == "chatml" and chat.system == "You are a helpful assistant"
    for conversation in (CONVERSATION, [{"role": "system", "content": "只写 SQL"}, *CONVERSATION]):
        rendered, _ = render_jinja_template([conversation], chat_template=qwen2_chat_template,
                                            add_generation_prompt=True)
        assert render_go_template(chat.template, conversation, chat.system) == rendered[0]


def test_unknown_template_families_are_refused():
    with pytest.raises(ConfigError, match="unsupported chat template"):
        chat_format("{% for m in messages %}[INST] {{ m.content }} [/INST]{% endfor %}")
    with pytest.raises(ConfigError, match="no chat_template"):
        chat_format(None)


def _model_dir(tmp_path: Path, template: str) -> Path:
    folder = tmp_path / "merged"
    folder.mkdir()
    (folder / "model.gguf").write_bytes(b"GGUF" + os.urandom(4096))
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": template}), encoding="utf-8")
    return folder


CHATML = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
          "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
          "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def test_modelfile_text(tmp_path):
    folder = _model_dir(tmp_path, CHATML)
    text = Modelfile(folder / "model.gguf", chat_format(CHATML)).text()
    assert text.startswith(f"FROM {folder / 'model.gguf'}\nTEMPLATE \"\"\"")
    assert 'SYSTEM """You are a helpful assistant."""' in text
    for line in ("PARAMETER temperature 0.1", "PARAMETER num_ctx 4096", 'PARAMETER stop "<|im_end|>"'):
        assert line in text.splitlines()


def test_register_uploads_the_blob_and_creates_the_model(tmp_path):
    folder = _model_dir(tmp_path, CHATML)
    modelfile = Modelfile(folder / "model.gguf", chat_format(CHATML))
    with FakeOllamaServer(models=[]) as srv:
        sent = register(srv.url, "askdb-sql:test", modelfile)
        digest = file_digest(folder / "model.gguf")
        assert srv.blobs[digest] == (folder / "model.gguf").read_bytes()  # the fake checked the digest
        create = srv.requests_to("/api/create")[-1].json
        assert create["model"] == "askdb-sql:test" and create["files"] == {"model.gguf": digest}
        assert create["template"] == modelfile.chat.template and create["system"] == "You are a helpful assistant."
        assert create["parameters"] == {"temperature": 0.1, "num_ctx": 4096, "stop": ["<|im_start|>", "<|im_end|>"]}
        assert sent["files"] == create["files"] and "askdb-sql:test" in srv.models
        register(srv.url, "askdb-sql:again", modelfile)  # the blob is there: HEAD says so, no second upload
        assert len([r for r in srv.requests if r.method == "POST" and "/api/blobs/" in r.path]) == 1


def test_cli_deploy_registers_or_prints_the_command(tmp_path, monkeypatch):
    folder = _model_dir(tmp_path, CHATML)
    gguf = str(folder / "model.gguf")
    with FakeOllamaServer(models=[]) as srv:
        result = CliRunner().invoke(main, ["finetune", "deploy", gguf, "--name", "askdb-sql", "--host", srv.url,
                                           "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["registered"] and "askdb-sql" in srv.models
    result = CliRunner().invoke(main, ["finetune", "deploy", gguf, "--name", "askdb-sql",
                                       "--host", "http://127.0.0.1:9"])
    assert result.exit_code == 0, result.output
    assert f"ollama create askdb-sql -f {folder / 'Modelfile'}" in result.output
    assert (folder / "Modelfile").read_text(encoding="utf-8").startswith("FROM ")
