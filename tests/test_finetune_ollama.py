"""Ollama deployment: the Modelfile's template renders what the tokenizer renders; registration over the wire."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
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


IF_SYSTEM = "(.System is set)"


def render_go_template(template: str, messages: list[dict[str, str]], system: str | None) -> str:
    """Ollama's rendering of the Go template subset askdb emits.

    Supported: text, ``.System``, ``.Role``, ``.Content``, ``range .Messages``, ``if .System``, ``if eq .Role "x"`` with
    ``else if`` / ``else``, ``end``, and the ``{{-`` / ``-}}`` trims. Anything else raises, so a template
    that uses more cannot pass by being half-rendered. Ollama puts the Modelfile's SYSTEM first when the
    conversation has no system message; ``.System`` is every system message joined by a blank line.
    """
    if system and messages[0]["role"] != "system":
        messages = [{"role": "system", "content": system}, *messages]
    values = {".System": "\n\n".join(m["content"] for m in messages if m["role"] == "system")}
    nodes, rest = _parse(_lex(template), top=True)
    assert not rest
    return _render(nodes, values, messages)


def _lex(template: str) -> list[tuple[str, str]]:
    """("text", s) and ("action", body) tokens, with the trim markers applied to the text beside them."""
    tokens: list[tuple[str, str]] = []
    trim_next = False
    for part in re.split(r"({{-? .*? -?}}|{{[^ -].*?[^ -]}})", template):
        action = re.fullmatch(r"{{(-?) ?(.*?) ?(-?)}}", part)
        if action:
            if action.group(1) and tokens and tokens[-1][0] == "text":
                tokens[-1] = ("text", tokens[-1][1].rstrip())
            tokens.append(("action", action.group(2).strip()))
            trim_next = bool(action.group(3))
        elif part:
            tokens.append(("text", part.lstrip() if trim_next else part))
            trim_next = False
    return tokens


def _parse(tokens: list[tuple[str, str]], top: bool = False) -> tuple[list, list]:
    """A node list up to the matching ``end``/``else`` (returned with the tokens after it)."""
    nodes: list = []
    while tokens:
        kind, body = tokens[0]
        tokens = tokens[1:]
        if kind == "text" or body in (".System", ".Role", ".Content"):
            nodes.append((kind, body))
        elif body == "range .Messages":
            inner, tokens = _parse(tokens)
            nodes.append(("range", inner))
        elif body == "if .System":
            branches, tokens = _branches(IF_SYSTEM, tokens)
            nodes.append(("if", branches))
        elif test := re.fullmatch(r'if eq \.Role "(\w+)"', body):
            branches, tokens = _branches(test.group(1), tokens)
            nodes.append(("if", branches))
        elif body == "end" or body == "else" or body.startswith("else if "):
            assert not top, f"unmatched {body!r}"
            return nodes, [("action", body), *tokens] if body != "end" else tokens
        else:
            raise AssertionError(f"the test renderer does not know {{{{ {body} }}}}")
    assert top, "missing {{ end }}"
    return nodes, tokens


def _branches(role: str | None, tokens: list) -> tuple[list, list]:
    """[(role or None for else, nodes), ...] of an if / else if / else chain."""
    body, tokens = _parse(tokens)
    branches = [(role, body)]
    if tokens and tokens[0] == ("action", "else"):
        body, tokens = _parse(tokens[1:])
        branches.append((None, body))
    elif tokens and tokens[0][1].startswith("else if "):
        test = re.fullmatch(r'else if eq \.Role "(\w+)"', tokens[0][1])
        assert test, tokens[0]
        more, tokens = _branches(test.group(1), tokens[1:])
        branches += more
    return branches, tokens


def _render(nodes: list, values: dict[str, str], messages: list[dict[str, str]]) -> str:
    out: list[str] = []
    for kind, body in nodes:
        if kind == "text":
            out.append(body)
        elif kind == "action":
            out.append(values[body])
        elif kind == "range":
            out += [
                _render(body, {**values, ".Role": m["role"], ".Content": m["content"]}, messages)
                for m in messages
            ]
        else:  # if: the first branch whose role matches, or else
            chosen = next(
                (
                    b
                    for role, b in body
                    if role is None
                    or (role == IF_SYSTEM and values[".System"])
                    or role == values.get(".Role")
                ),
                [],
            )
            out.append(_render(chosen, values, messages))
    return "".join(out)


def test_modelfile_template_renders_what_the_tokenizer_renders(qwen2_chat_template):
    from transformers.utils.chat_template_utils import render_jinja_template

    chat = chat_format(qwen2_chat_template)
    assert chat.family == "chatml" and chat.system == "You are a helpful assistant"
    for conversation in (CONVERSATION, [{"role": "system", "content": "只写 SQL"}, *CONVERSATION]):
        rendered, _ = render_jinja_template(
            [conversation], chat_template=qwen2_chat_template, add_generation_prompt=True
        )
        assert render_go_template(chat.template, conversation, chat.system) == rendered[0]


DATA = Path(__file__).parent / "data"
DEEPSEEK = json.loads((DATA / "deepseek_r1_distill_chat_template.json").read_text(encoding="utf-8"))
SQL_REASONING = "问题问的是抖音的达人数:表 ads_account,条件 platform = '抖音'。"
DEEPSEEK_CONVERSATIONS = {
    "system + user": [
        {"role": "system", "content": "你是 MySQL 专家。只写一条 SELECT 语句。"},
        {"role": "user", "content": "抖音上有多少个达人?"},
    ],
    "user only": [{"role": "user", "content": "抖音上有多少个达人?"}],
    "multi-turn, reasoning in the earlier answer": [
        {"role": "system", "content": "只写 SQL"},
        {"role": "user", "content": "抖音上有多少个达人?"},
        {
            "role": "assistant",
            "content": f"<think>\n{SQL_REASONING}\n</think>\n\n"
            "```sql\nSELECT COUNT(*) FROM ads_account WHERE platform = '抖音'\n```",
        },
        {"role": "user", "content": "那快手呢?"},
    ],
}


def as_ollama_holds_it(message: dict[str, str]) -> dict[str, str]:
    """A reply as Ollama's API keeps it: the reasoning in ``thinking``, the text after ``</think>`` in ``content``."""
    thinking, sep, content = message["content"].partition("</think>")
    if not sep:
        return message
    return {**message, "thinking": thinking.removeprefix("<think>"), "content": content}


@pytest.mark.parametrize("revision", sorted(DEEPSEEK["templates"]))
@pytest.mark.parametrize("case", sorted(DEEPSEEK_CONVERSATIONS))
def test_deepseek_r1_template_renders_what_the_tokenizer_renders(revision, case):
    """Character for character after the BOS, which llama.cpp adds itself (the GGUF has add_bos_token)."""
    from transformers.utils.chat_template_utils import render_jinja_template

    template, bos = DEEPSEEK["templates"][revision], DEEPSEEK["bos_token"]
    conversation = DEEPSEEK_CONVERSATIONS[case]
    chat = chat_format(template)
    assert chat.family == "deepseek-r1" and chat.system is None  # the Jinja inserts no default system text
    assert "<｜end▁of▁sentence｜>" in chat.stop and "<｜User｜>" in chat.stop
    rendered = render_jinja_template(
        [conversation], chat_template=template, add_generation_prompt=True, bos_token=bos
    )[0][0]
    assert rendered.startswith(bos) and bos not in chat.template
    ours = render_go_template(chat.template, [as_ollama_holds_it(m) for m in conversation], chat.system)
    assert ours == rendered[len(bos) :]
    assert SQL_REASONING not in ours  # the earlier turn's reasoning is dropped, as the Jinja drops it
    prompt = "<｜Assistant｜><think>\n" if revision == "2025-02" else "<｜Assistant｜>"
    assert ours.endswith(
        conversation[-1]["content"] + prompt
    )  # the generation prompt, as that revision writes it


@pytest.mark.skipif(
    shutil.which("go") is None, reason="Go is not installed: the Python renderer above stands in"
)
def test_go_text_template_renders_the_same(tmp_path, qwen2_chat_template):
    """Go's own text/template (what Ollama runs) agrees with the Jinja for every mapped family and case."""
    from transformers.utils.chat_template_utils import render_jinja_template

    cases, expected = [], []
    families = [
        (t, {"bos_token": DEEPSEEK["bos_token"]}, list(DEEPSEEK_CONVERSATIONS.values()))
        for t in DEEPSEEK["templates"].values()
    ]
    families.append(
        (qwen2_chat_template, {}, [CONVERSATION, [{"role": "system", "content": "只写 SQL"}, *CONVERSATION]])
    )
    from askdb.llm.llamacpp_backend import shipped_template

    families.append((shipped_template("gemma"), {"bos_token": "<bos>"}, list(GEMMA_CONVERSATIONS.values())))
    for template, special, conversations in families:
        chat = chat_format(template)
        for conversation in conversations:
            cases.append(
                {
                    "template": chat.template,
                    "system": chat.system or "",
                    "messages": [as_ollama_holds_it(m) for m in conversation],
                }
            )
            rendered = render_jinja_template(
                [conversation], chat_template=template, add_generation_prompt=True, **special
            )[0][0]
            expected.append(rendered.removeprefix(special.get("bos_token", "")))
    env = {**os.environ, "GOCACHE": str(tmp_path / "gocache"), "GO111MODULE": "off", "GOFLAGS": ""}
    done = subprocess.run(
        ["go", "run", str(DATA / "render_go_template.go")],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == expected


def test_llama_cpp_reformatted_deepseek_template_maps_the_same():
    """llama.cpp's copy of the template (reformatted, ``-%}`` trims) is recognised as the same family."""
    lines = DEEPSEEK["templates"]["2025-02"].replace("%}", "-%}\n")
    assert chat_format(lines).template == chat_format(DEEPSEEK["templates"]["2025-02"]).template


def _gguf_with(path: Path, *, add_bos: bool) -> Path:
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), "qwen2")
    writer.add_add_bos_token(add_bos)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_deepseek_deploy_writes_the_bos_only_when_the_gguf_does_not_add_it(tmp_path):
    """The R1 template leaves BOS to llama.cpp; for a GGUF without add_bos_token the template writes it."""
    pytest.importorskip("gguf", reason="needs the finetune extra: pip install 'askdb[finetune]'")
    template, bos = DEEPSEEK["templates"]["2025-02"], DEEPSEEK["bos_token"]
    folder = tmp_path / "merged"
    folder.mkdir()
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": template}), encoding="utf-8")
    templates = {}
    for add_bos in (True, False):
        gguf = _gguf_with(folder / f"bos-{add_bos}.gguf", add_bos=add_bos)
        result = CliRunner().invoke(
            main, ["finetune", "deploy", str(gguf), "--name", "askdb-sql-r1", "--host", "http://127.0.0.1:9"]
        )
        assert result.exit_code == 0, result.output
        modelfile = (folder / "Modelfile").read_text(encoding="utf-8")
        assert modelfile.startswith(f"FROM {gguf}") and "SYSTEM" not in modelfile
        assert 'PARAMETER stop "<｜end▁of▁sentence｜>"' in modelfile
        templates[add_bos] = modelfile.split('TEMPLATE """', 1)[1].split('"""', 1)[0]
    assert templates[True] == chat_format(template).template and bos not in templates[True]
    assert templates[False] == bos + templates[True]
    conversation = DEEPSEEK_CONVERSATIONS["system + user"]
    rendered = render_jinja_template_for(template, conversation, bos)
    assert render_go_template(templates[False], conversation, None) == rendered  # BOS included, all of it


def render_jinja_template_for(template: str, conversation: list[dict[str, str]], bos: str) -> str:
    from transformers.utils.chat_template_utils import render_jinja_template

    return render_jinja_template(
        [conversation], chat_template=template, add_generation_prompt=True, bos_token=bos
    )[0][0]


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


CHATML = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def test_modelfile_text(tmp_path):
    folder = _model_dir(tmp_path, CHATML)
    text = Modelfile(folder / "model.gguf", chat_format(CHATML)).text()
    assert text.startswith(f'FROM {folder / "model.gguf"}\nTEMPLATE """')
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
        assert (
            create["template"] == modelfile.chat.template
            and create["system"] == "You are a helpful assistant."
        )
        assert create["parameters"] == {
            "temperature": 0.1,
            "num_ctx": 4096,
            "stop": ["<|im_start|>", "<|im_end|>"],
        }
        assert sent["files"] == create["files"] and "askdb-sql:test" in srv.models
        register(srv.url, "askdb-sql:again", modelfile)  # the blob is there: HEAD says so, no second upload
        assert len([r for r in srv.requests if r.method == "POST" and "/api/blobs/" in r.path]) == 1


def test_cli_deploy_registers_or_prints_the_command(tmp_path, monkeypatch):
    folder = _model_dir(tmp_path, CHATML)
    gguf = str(folder / "model.gguf")
    with FakeOllamaServer(models=[]) as srv:
        result = CliRunner().invoke(
            main, ["finetune", "deploy", gguf, "--name", "askdb-sql", "--host", srv.url, "--json"]
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["registered"] and "askdb-sql" in srv.models
    result = CliRunner().invoke(
        main, ["finetune", "deploy", gguf, "--name", "askdb-sql", "--host", "http://127.0.0.1:9"]
    )
    assert result.exit_code == 0, result.output
    assert f"ollama create askdb-sql -f {folder / 'Modelfile'}" in result.output
    assert (folder / "Modelfile").read_text(encoding="utf-8").startswith("FROM ")


GEMMA_CONVERSATIONS = {
    "user only": [{"role": "user", "content": "抖音上有多少个达人?"}],
    "system + user": [
        {"role": "system", "content": "只写 SQL"},
        {"role": "user", "content": "抖音上有多少个达人?"},
    ],
    "multi-turn": CONVERSATION,
    "system + multi-turn": [{"role": "system", "content": "只写 SQL"}, *CONVERSATION],
}


@pytest.mark.parametrize("case", sorted(GEMMA_CONVERSATIONS))
def test_gemma_template_renders_what_the_tokenizer_renders(case):
    """askdb's Gemma Jinja (what the converted Gemma base trains with): character for character after the BOS."""
    from transformers.utils.chat_template_utils import render_jinja_template

    from askdb.llm.llamacpp_backend import shipped_template

    template = shipped_template("gemma")
    chat = chat_format(template)
    assert chat.family == "gemma" and chat.system is None and "<end_of_turn>" in chat.stop
    conversation = GEMMA_CONVERSATIONS[case]
    rendered = render_jinja_template(
        [conversation], chat_template=template, add_generation_prompt=True, bos_token="<bos>"
    )[0][0]
    assert rendered.startswith("<bos>") and "<bos>" not in chat.template
    assert render_go_template(chat.template, conversation, chat.system) == rendered.removeprefix("<bos>")
