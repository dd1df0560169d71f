"""Deploy a GGUF to Ollama: a Modelfile whose TEMPLATE is the chat format the model was trained on.

A template that differs from training by one newline silently degrades a fine-tuned model, so the
template is not typed by hand per model: it is chosen from the family of the tokenizer's own
``chat_template`` and a test renders both for the same conversation. Registering goes through
Ollama's HTTP API (blob upload by digest, then ``/api/create`` with structured fields); with no
server running, the Modelfile is written and the ``ollama create`` command printed instead.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from askdb.errors import ConfigError, LLMError
from askdb.files import write_atomic

# Parameters as the seed's Modelfile: near-greedy decoding, a 4k window.
DEFAULT_PARAMETERS: dict[str, Any] = {"temperature": 0.1, "num_ctx": 4096}


@dataclass(frozen=True)
class ChatFormat:
    """An Ollama chat template (Go text/template), its stop tokens and the default system message."""

    family: str
    template: str
    stop: tuple[str, ...]
    system: str | None = None
    bos: str | None = None  # the BOS the Jinja writes first and this template leaves to the tokenizer

    def with_bos_written(self) -> ChatFormat:
        """The same format with the BOS text first in the template, for a GGUF that does not add BOS."""
        if self.bos is None:
            return self
        return replace(self, template=self.bos + self.template, bos=None)


# Qwen2 / Qwen2.5 ChatML. Ollama puts the Modelfile's SYSTEM in front of a conversation that has
# no system message, which is exactly what the Jinja template does with its default system text.
_CHATML_TEMPLATE = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n"
    "{{ .Content }}<|im_end|>\n"
    "{{ end }}<|im_start|>assistant\n"
)

# DeepSeek-R1 and its distills (Qwen and Llama based): the system text comes first, bare, then
# <｜User｜>question and <｜Assistant｜>answer<｜end▁of▁sentence｜> turns, then the generation prompt.
# Not written here, on purpose:
# - the BOS token: the Jinja starts with {{bos_token}}, but llama.cpp (under Ollama) prepends BOS
#   itself when the GGUF says add_bos_token; writing it too would give two. `for_gguf` writes it
#   into the template when the GGUF does not say so.
# - reasoning of earlier assistant turns: the Jinja keeps only what follows </think>. A Go template
#   cannot split a string; Ollama's API carries reasoning in `message.thinking`, which this template
#   does not render, and askdb's own history is question + SQL. A client that pastes <think> text
#   into `content` would send it to the model.
# Ollama's .System is every system message joined by a blank line; the Jinja keeps the last one
# only. They agree for the one system message askdb sends.
_DEEPSEEK_TURNS = (
    "{{ .System }}"
    "{{- range .Messages }}"
    '{{- if eq .Role "user" }}<｜User｜>{{ .Content }}'
    '{{- else if eq .Role "assistant" }}<｜Assistant｜>{{ .Content }}<｜end▁of▁sentence｜>'
    "{{- end }}"
    "{{- end }}"
)
_DEEPSEEK_STOP = ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>")
# The tokenizer revision of 2025-02 opens the reasoning in the generation prompt; the first release did not.
_DEEPSEEK_OPENS_THINK = re.compile(r"<｜Assistant｜><think>(?:\\n|\n)")


# Gemma (askdb's template for the base GGUF, and Gemma's own instruct template): no system role, the
# system text opens the first user turn; turns are <start_of_turn>user|model ... <end_of_turn>.
# A Go template cannot know which user turn is the first without variables, so the user turn's
# opener is written before it instead: at the start, and after every model turn. That is exact for
# what chat clients send (turns alternate and the last is the user's). The BOS is left to llama.cpp
# as for R1. Unlike the Jinja, it does not trim whitespace around each message (askdb sends none).
_GEMMA_TEMPLATE = (
    "<start_of_turn>user\n"
    "{{ if .System }}{{ .System }}\n\n{{ end }}"
    "{{ range .Messages }}"
    '{{ if eq .Role "user" }}{{ .Content }}<end_of_turn>\n'
    '{{ else if eq .Role "assistant" }}<start_of_turn>model\n{{ .Content }}<end_of_turn>\n<start_of_turn>user\n'
    "{{ end }}"
    "{{ end }}<start_of_turn>model\n"
)


def _gemma(chat_template: str) -> ChatFormat:
    return ChatFormat("gemma", _GEMMA_TEMPLATE, ("<end_of_turn>", "<start_of_turn>"), bos="<bos>")


def _chatml(chat_template: str) -> ChatFormat:
    return ChatFormat(
        "chatml", _CHATML_TEMPLATE, ("<|im_start|>", "<|im_end|>"), system=_default_system(chat_template)
    )


def _deepseek_r1(chat_template: str) -> ChatFormat:
    opens_think = bool(_DEEPSEEK_OPENS_THINK.search(chat_template))
    prompt = "<｜Assistant｜><think>\n" if opens_think else "<｜Assistant｜>"
    return ChatFormat("deepseek-r1", _DEEPSEEK_TURNS + prompt, _DEEPSEEK_STOP, bos="<｜begin▁of▁sentence｜>")


# A family is recognised by markers only its template writes; the first match wins.
_FAMILIES = (
    (("<|im_start|>",), _chatml),
    (("<｜User｜>", "<｜Assistant｜>", "<｜end▁of▁sentence｜>"), _deepseek_r1),
    (("<start_of_turn>", "<end_of_turn>"), _gemma),
)


def chat_format(chat_template: str | None) -> ChatFormat:
    """The Ollama chat format for a tokenizer's Jinja ``chat_template``, by its family."""
    if not chat_template:
        raise ConfigError("the tokenizer has no chat_template", hint="fine-tune from a chat (instruct) model")
    for markers, build in _FAMILIES:
        if all(marker in chat_template for marker in markers):
            return build(chat_template)
    raise ConfigError(
        "unsupported chat template family (mapped: ChatML/Qwen2, DeepSeek-R1 and its distills, Gemma)",
        hint="add its Ollama template to askdb/finetune/ollama.py with a parity test",
    )


_CHATML_DEFAULT_SYSTEM = re.compile(r"<\|im_start\|>system(?:\\n|\n)([^{}'+\n]*?)<\|im_end\|>")


def _default_system(chat_template: str) -> str | None:
    """The system text the Jinja template inserts when a conversation has none (Qwen: a fixed sentence)."""
    found = _CHATML_DEFAULT_SYSTEM.search(chat_template)
    return found.group(1) if found else None


def for_gguf(chat: ChatFormat, gguf: Path) -> ChatFormat:
    """The format as this GGUF needs it: the template writes the BOS itself when llama.cpp would not add it.

    transformers 5 drops ``add_bos_token`` when it saves some tokenizers, so the converter may not
    record it; the BOS text in the prompt is then read as the BOS token (special tokens are parsed).
    """
    if chat.bos is None or gguf_adds_bos(gguf):
        return chat
    return chat.with_bos_written()


def gguf_adds_bos(gguf: Path) -> bool:
    """Whether llama.cpp prepends BOS when it tokenizes a prompt for this GGUF (``tokenizer.ggml.add_bos_token``)."""
    from askdb.finetune import require

    require("gguf", extra="finetune")
    from gguf import GGUFReader

    field = GGUFReader(str(gguf)).fields.get("tokenizer.ggml.add_bos_token")
    return bool(field is not None and field.contents())


@dataclass
class Modelfile:
    """What ``ollama create`` reads: FROM, TEMPLATE, PARAMETERs and SYSTEM."""

    gguf: Path
    chat: ChatFormat
    parameters: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_PARAMETERS))

    def text(self) -> str:
        lines = [f"FROM {self.gguf}", f'TEMPLATE """{self.chat.template}"""']
        if self.chat.system:
            lines.append(f'SYSTEM """{self.chat.system}"""')
        lines += [f"PARAMETER {key} {value}" for key, value in self.parameters.items()]
        lines += [f'PARAMETER stop "{stop}"' for stop in self.chat.stop]
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> Path:
        """Write the Modelfile atomically."""
        write_atomic(path, self.text())
        return path

    def create_request(self, name: str, digest: str) -> dict[str, Any]:
        """The structured ``/api/create`` fields for this model, the GGUF already uploaded as ``digest``."""
        parameters = {**self.parameters, "stop": list(self.chat.stop)}
        request = {
            "model": name,
            "files": {self.gguf.name: digest},
            "template": self.chat.template,
            "parameters": parameters,
        }
        if self.chat.system:
            request["system"] = self.chat.system
        return request


def file_digest(path: Path) -> str:
    """``sha256:<hex>`` of a file, read in chunks (GGUF files are gigabytes)."""
    sha = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            sha.update(chunk)
    return f"sha256:{sha.hexdigest()}"


def upload_blob(host: str, path: Path, *, timeout_s: float = 600.0) -> str:
    """Upload a file as a blob unless the server has it already (HEAD first). Returns its digest."""
    import httpx

    digest = file_digest(path)
    url = f"{host.rstrip('/')}/api/blobs/{digest}"
    with httpx.Client(timeout=timeout_s) as client:
        if client.head(url).status_code == 200:
            return digest
        with path.open("rb") as f:
            response = client.post(url, content=f)
        if response.status_code not in (200, 201):
            raise LLMError(
                f"Ollama refused the blob upload ({response.status_code}): {response.text[:200]}",
                hint="check the file and the Ollama server's disk space",
            )
    return digest


def register(host: str, name: str, modelfile: Modelfile) -> dict[str, Any]:
    """Upload the GGUF and create the model through Ollama's API. Returns the create request sent."""
    import ollama

    digest = upload_blob(host, modelfile.gguf)
    request = modelfile.create_request(name, digest)
    try:
        ollama.Client(host=host).create(
            model=name,
            files=request["files"],
            template=request["template"],
            system=request.get("system"),
            parameters=request["parameters"],
            stream=False,
        )
    except ollama.ResponseError as exc:
        raise LLMError(
            f"Ollama could not create {name}: {exc.error}", hint="see the Ollama server's log"
        ) from None
    return request


def server_running(host: str) -> bool:
    """Whether an Ollama server answers at ``host``."""
    import httpx

    try:
        return httpx.get(f"{host.rstrip('/')}/api/version", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def tokenizer_chat_template(model_dir: Path) -> str | None:
    """The Jinja chat template saved with a merged model (tokenizer_config.json or chat_template.jinja)."""
    import json

    jinja = model_dir / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    config = model_dir / "tokenizer_config.json"
    if config.is_file():
        return json.loads(config.read_text(encoding="utf-8")).get("chat_template")
    return None
