"""The chat templates askdb ships for GGUFs without one, and how the llamacpp backend picks one."""

from __future__ import annotations

import jinja2
import pytest

from askdb.errors import ConfigError
from askdb.llm.llamacpp_backend import choose_template, shipped_template


def render(name: str, messages: list[dict], bos: str = "<bos>") -> str:
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)  # as llama-cpp-python renders
    return env.from_string(shipped_template(name)).render(
        messages=messages, bos_token=bos, eos_token="<eos>", add_generation_prompt=True
    )


CHAT = [
    {"role": "system", "content": "规则"},
    {"role": "user", "content": "问题一"},
    {"role": "assistant", "content": "```sql\nSELECT 1\n```"},
    {"role": "user", "content": "修正"},
]


def test_gemma_folds_the_system_text_into_the_first_user_turn():
    assert render("gemma", CHAT) == (
        "<bos><start_of_turn>user\n规则\n\n问题一<end_of_turn>\n"
        "<start_of_turn>model\n```sql\nSELECT 1\n```<end_of_turn>\n"
        "<start_of_turn>user\n修正<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_chatml_keeps_every_role():
    assert render("chatml", CHAT[:2], bos="") == (
        "<|im_start|>system\n规则<|im_end|>\n<|im_start|>user\n问题一<|im_end|>\n<|im_start|>assistant\n"
    )


@pytest.mark.parametrize(
    ("setting", "metadata", "source"),
    [
        ("auto", {"tokenizer.chat_template": "{{ messages }}", "general.architecture": "llama"}, "gguf"),
        ("auto", {"general.architecture": "gemma3"}, "askdb:gemma"),
        ("auto", {"general.architecture": "llama"}, "askdb:chatml"),
        ("chatml", {"tokenizer.chat_template": "{{ messages }}"}, "askdb:chatml"),  # the setting wins
    ],
)
def test_which_template(setting, metadata, source):
    chosen = choose_template(setting, metadata)
    assert chosen.source == source
    if source == "askdb:gemma":
        assert chosen.stop == ("<end_of_turn>",)


def test_a_template_file_and_a_bad_setting(tmp_path):
    own = tmp_path / "mine.jinja"
    own.write_text("{% for m in messages %}{{ m.content }}{% endfor %}", encoding="utf-8")
    assert choose_template(str(own), {}).text == own.read_text(encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        choose_template("gemmma", {})
    assert "ASKDB_LLM_CHAT_TEMPLATE" in caught.value.message and "chatml" in caught.value.hint
