"""The fine-tuning pipeline on CPU, end to end: LoRA steps, merge, GGUF export, llama.cpp, Ollama.

The model is a tiny RANDOM Qwen2 built from a config (nothing is downloaded); its tokenizer is
the real Qwen2 one, rebuilt offline from llama.cpp's ``models/ggml-vocab-qwen2.gguf``, because
llama.cpp's converter recognises tokenizers by a hash of their output. What is checked is the
plumbing (labels, adapter, merge, conversion, logits parity, deployment), never model quality.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("trl", reason="needs the finetune extra: pip install 'askdb[finetune]'")
pytest.importorskip("llama_cpp", reason="needs the llamacpp extra: pip install 'askdb[llamacpp]'")

import numpy as np
import torch

from askdb.cli import main
from askdb.finetune.config import load_config, packaged_config
from askdb.finetune.data import SftRecord, answer_text, write_jsonl
from askdb.finetune.export import convert, gguf_path, quantize
from askdb.finetune.llamacpp import source_dir, vocab_file
from askdb.finetune.merge import merge
from askdb.finetune.ollama import file_digest
from askdb.finetune.train import prepare, run
from askdb.testing.fake_ollama import FakeOllamaServer

pytestmark = pytest.mark.slow

CACHE = Path(os.environ.get("ASKDB_TEST_CACHE", Path.home() / ".cache" / "askdb-tests"))
# Hand-written SFT records in the assistant's format (system, user with schema, fenced SQL answer).
QUESTIONS = [
    ("抖音上有多少个达人?", "SELECT COUNT(*) FROM ads_account WHERE platform = '抖音'"),
    (
        "上海的达人按粉丝数排前十",
        "SELECT nickname, fans FROM ads_account WHERE city = '上海' ORDER BY fans DESC LIMIT 10",
    ),
    ("快手上有多少个达人?", "SELECT COUNT(*) FROM ads_account WHERE platform = '快手'"),
    ("每个城市的达人数", "SELECT city, COUNT(*) AS n FROM ads_account GROUP BY city"),
    ("粉丝最多的达人是谁?", "SELECT nickname FROM ads_account ORDER BY fans DESC LIMIT 1"),
    ("北京的达人有多少?", "SELECT COUNT(*) FROM ads_account WHERE city = '北京'"),
]


# Llama 3's vocab GGUF carries no chat template: this is a Llama-3-style one written for the test.
LLAMA3_TEMPLATE = (
    "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + "
    "'<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)


def _tokenizer_dir(vocab: str, chat_template: str | None = None) -> Path:
    """A real tokenizer rebuilt from a llama.cpp vocab GGUF once (about 20 s), then kept in the test cache."""
    target = CACHE / f"{vocab}-tokenizer"
    if not (target / "tokenizer.json").is_file():
        from transformers import AutoTokenizer

        path = vocab_file(CACHE, vocab)
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        tokenizer.chat_template = chat_template or tokenizer.chat_template
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tokenizer.save_pretrained(str(tmp))
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    return target


def _tiny_model(folder: Path, tokenizer_dir: Path, family: str) -> Path:
    """A random 2-layer model with a real tokenizer; sizes are multiples of 256 so k-quants apply."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    config_class, model_class = {
        "qwen2": (Qwen2Config, Qwen2ForCausalLM),
        "llama": (LlamaConfig, LlamaForCausalLM),
    }[family]
    special = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    config = config_class(
        vocab_size=len(tokenizer),
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=family == "qwen2",
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=special,
    )
    torch.manual_seed(0)
    model_class(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def tiny_qwen2(tmp_path_factory) -> Path:
    folder = _tiny_model(tmp_path_factory.mktemp("tiny") / "tiny-qwen2", _tokenizer_dir("qwen2"), "qwen2")
    assert (
        "<|im_start|>" in (folder / "chat_template.jinja").read_text()
    )  # Qwen2's ChatML, from the vocab GGUF
    return folder


def _records() -> list[SftRecord]:
    system = "你是 MySQL 专家。只写一条 SELECT 语句。"
    return [
        SftRecord(
            id=f"hand-{i}",
            source="example",
            split="validation" if i == 5 else "train",
            question=q,
            sql=sql,
            reasoning="问题涉及的表:ads_account。",
            messages=[
                {"role": "system", "content": system},
                {"role": "user", "content": f"表 ads_account(nickname, fans, city, platform)\n问题:{q}"},
                {"role": "assistant", "content": answer_text(sql)},
            ],
        )
        for i, (q, sql) in enumerate(QUESTIONS)
    ]


@pytest.fixture(scope="module")
def run_config(tmp_path_factory, tiny_qwen2):
    return _run_config(tmp_path_factory.mktemp("run"), tiny_qwen2)


def _run_config(folder: Path, model: Path, **overrides):
    write_jsonl(_records(), folder / "sft.jsonl")
    overrides = {
        "base_model": str(model),
        "data": str(folder / "sft.jsonl"),
        "output_dir": str(folder / "out"),
        **overrides,
    }
    return load_config(packaged_config("tiny-cpu.yaml"), folder / "home", overrides)


@pytest.fixture(scope="module")
def trained(run_config):
    """Two steps, then a second run to four steps that must resume from checkpoint-2."""
    first = run(
        prepare(run_config.model_copy(update={"max_steps": 2})),
        run_config.model_copy(update={"max_steps": 2}),
    )
    prepared = prepare(run_config)
    return {"first": first, "second": run(prepared, run_config), "trainer": prepared.trainer}


def test_labels_cover_the_answer_only(trained, run_config):
    trainer = trained["trainer"]
    tokenizer = trainer.processing_class
    records = [r for r in _records() if r.split == "train"]
    assert len(trainer.train_dataset) == len(records)
    for row, record in zip(trainer.train_dataset, records, strict=True):
        labels, ids = row["labels"], row["input_ids"]
        start = next(i for i, label in enumerate(labels) if label != -100)
        prompt = tokenizer.apply_chat_template(
            record.messages[:-1], tokenize=False, add_generation_prompt=True
        )
        assert tokenizer.decode(ids[:start]) == prompt  # everything the model is given is masked
        assert all(label != -100 for label in labels[start:]) and labels[start:] == ids[start:]
        assert tokenizer.decode(ids[start:]) == record.messages[-1]["content"] + "<|im_end|>\n"


def test_lora_steps_resume_and_move_the_adapter(trained, run_config):
    from safetensors.torch import load_file

    first, second = trained["first"], trained["second"]
    assert first.steps == 2 and first.resumed_from is None
    assert second.steps == 4 and second.resumed_from.endswith("checkpoint-2")
    assert math.isfinite(second.train_loss) and math.isfinite(second.eval_loss)
    weights = load_file(str(run_config.adapter_dir / "adapter_model.safetensors"))
    lora_b = [t for name, t in weights.items() if "lora_B" in name]
    assert lora_b and all(float(t.abs().max()) > 0 for t in lora_b)  # peft starts every B at zero
    assert list((run_config.output_dir / "runs").rglob("events.out.tfevents.*"))  # TensorBoard logs


@pytest.fixture(scope="module")
def merged(trained, run_config) -> Path:
    return merge(run_config.base_model, run_config.adapter_dir, run_config.merged_dir)


def _token_ids(tokenizer) -> list[int]:
    messages = _records()[1].messages
    return tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]


def test_merge_equals_base_plus_adapter(merged, run_config):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert not list(merged.parent.glob(".merged.tmp"))
    tokenizer = AutoTokenizer.from_pretrained(str(merged))
    assert tokenizer.chat_template == AutoTokenizer.from_pretrained(run_config.base_model).chat_template
    ids = torch.tensor([_token_ids(tokenizer)])
    base = AutoModelForCausalLM.from_pretrained(run_config.base_model)
    with torch.no_grad():
        adapted = PeftModel.from_pretrained(base, str(run_config.adapter_dir)).eval()(ids).logits
        folded = AutoModelForCausalLM.from_pretrained(str(merged)).eval()(ids).logits
    assert torch.allclose(adapted, folded, atol=1e-5)


@pytest.fixture(scope="module")
def f16_gguf(merged, run_config) -> Path:
    return convert(merged, gguf_path(run_config.gguf_dir, "f16"), outtype="f16", llama_cpp=source_dir(CACHE))


def test_gguf_reads_back(f16_gguf, merged):
    from gguf import GGUFReader
    from safetensors import safe_open

    reader = GGUFReader(str(f16_gguf))
    field = reader.fields["general.architecture"]
    assert bytes(field.parts[field.data[0]]).decode() == "qwen2"
    with safe_open(str(merged / "model.safetensors"), "pt") as weights:
        assert len(reader.tensors) == len(list(weights.keys()))  # one GGUF tensor per HF tensor (tied head)
    template = reader.fields["tokenizer.chat_template"]
    assert bytes(template.parts[template.data[0]]).decode() == (merged / "chat_template.jinja").read_text()


def _llama_logits(path: Path, ids: list[int], metadata: dict | None = None) -> np.ndarray:
    """llama.cpp's logits for every position (and its GGUF metadata into ``metadata``)."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(path), n_ctx=512, logits_all=True, n_threads=2, verbose=False, seed=0)
    llm.eval(ids)
    logits = np.array(llm.scores[: len(ids)], dtype=np.float32)
    if metadata is not None:
        metadata.update(llm.metadata)
    llm.close()
    return logits


def _hf_logits(merged: Path, ids: list[int]) -> np.ndarray:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(merged)).eval()
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def test_llama_cpp_matches_transformers(f16_gguf, merged):
    from llama_cpp import Llama
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(merged))
    ids = _token_ids(tokenizer)
    text = tokenizer.decode(ids)
    vocab_only = Llama(model_path=str(f16_gguf), vocab_only=True, verbose=False)
    assert vocab_only.tokenize(text.encode(), add_bos=False, special=True) == ids  # same tokenizer in GGUF
    ours, theirs = _llama_logits(f16_gguf, ids), _hf_logits(merged, ids)
    diff = float(np.abs(ours - theirs).max())
    print(
        f"f16 GGUF vs transformers: {len(ids)} positions, max |logit diff| {diff:.2e}, "
        f"logit scale {float(np.abs(theirs).max()):.2f}"
    )
    assert (ours.argmax(-1) == theirs.argmax(-1)).all()
    assert diff < 5e-3


def test_q4_k_m_quantises_and_loads(f16_gguf, merged, run_config):
    import llama_cpp
    from transformers import AutoTokenizer

    q4 = quantize(f16_gguf, gguf_path(run_config.gguf_dir, "Q4_K_M"), "Q4_K_M")
    assert q4.stat().st_size < f16_gguf.stat().st_size / 2
    ids = _token_ids(AutoTokenizer.from_pretrained(str(merged)))
    metadata: dict = {}
    ours, theirs = _llama_logits(q4, ids, metadata), _hf_logits(merged, ids)
    assert metadata["general.file_type"] == str(llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M)
    agree = float((ours.argmax(-1) == theirs.argmax(-1)).mean())
    print(
        f"Q4_K_M GGUF vs transformers: {q4.stat().st_size / 2**20:.1f} MiB, top-1 agreement {agree:.2f}, "
        f"max |logit diff| {float(np.abs(ours - theirs).max()):.2e}"
    )
    assert np.isfinite(ours).all()


def test_all_deploys_to_the_fake_ollama_then_evaluates(f16_gguf, merged, run_config, _isolated_home):
    """`finetune all` with every stage done: skips them, deploys to the fake server, then asks the test split.

    The eval stage runs the deployed Q4_K_M on the llamacpp backend over tiny-cpu.yaml's 3 questions
    (eval.limit); the model is random, so what is checked is the code path and what the report says.
    """
    from askdb.schemas.load import build_sqlite

    q4 = gguf_path(run_config.gguf_dir, "Q4_K_M")
    if not q4.is_file():
        quantize(f16_gguf, q4, "Q4_K_M")
    build_sqlite(_isolated_home / "ads.db", scale=0.01)  # the demo database the eval asks
    args = [
        "finetune",
        "all",
        str(packaged_config("tiny-cpu.yaml")),
        "--json",
        "--set",
        f"base_model={run_config.base_model}",
        "--set",
        f"data={run_config.data}",
        "--set",
        f"output_dir={run_config.output_dir}",
    ]
    env = {"LLAMA_CPP_PATH": str(source_dir(CACHE)), "HF_HUB_OFFLINE": "1"}
    with FakeOllamaServer(models=[]) as srv:
        result = CliRunner().invoke(main, [*args, "--host", srv.url], env=env)
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        assert summary["data"]["skipped"] and summary["train"]["skipped"] and summary["merge"]["skipped"]
        assert summary["deploy"]["registered"] and "askdb-sql-tiny:test" in srv.models
        digest = file_digest(q4)
        assert srv.blobs[digest] == q4.read_bytes()  # the fake checked the digest on upload
        create = srv.requests_to("/api/create")[-1].json
        assert create["files"] == {q4.name: digest}
        assert create["template"].startswith("{{- range .Messages }}<|im_start|>")
        assert create["parameters"]["stop"] == ["<|im_start|>", "<|im_end|>"]
    _check_eval_stage(summary["eval"], q4, run_config.output_dir / "eval" / q4.stem, 3)
    stages = json.loads((run_config.output_dir / "run.json").read_text(encoding="utf-8"))["stages"]
    assert list(stages) == ["data", "train", "merge", "export", "deploy", "eval"]
    # export too: both GGUF files were there already, so it wrote nothing
    assert [s["skipped"] for s in stages.values()] == [True, True, True, True, False, False]
    assert stages["eval"]["seconds"] > 0 and stages["eval"]["peak_rss_mb"] > 100
    assert "[untrained random test model: not an accuracy]" in result.stderr  # the headline, printed
    again = CliRunner().invoke(main, [*args, "--host", "http://127.0.0.1:9", "--no-eval"], env=env)
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["eval"] == {"skipped": True}
    alone = CliRunner().invoke(
        main, ["finetune", "eval", *args[2:], "--gguf", str(f16_gguf), "--limit", "2"], env=env
    )
    assert alone.exit_code == 0, alone.output
    _check_eval_stage(json.loads(alone.stdout), f16_gguf, run_config.output_dir / "eval" / f16_gguf.stem, 2)


def _check_eval_stage(stage: dict, gguf: Path, out: Path, questions: int) -> None:
    """The eval stage asked that many questions with that GGUF, wrote its files and says the model is random."""
    assert stage["gguf"] == str(gguf) and stage["questions"] == questions and stage["random_model"]
    assert Path(stage["result"]) == out / "result.json" and Path(stage["report"]) == out / "report.md"
    result = json.loads((out / "result.json").read_text(encoding="utf-8"))
    assert result["meta"]["backend"] == "llamacpp" and result["meta"]["model"] == str(gguf)
    assert result["meta"]["random_model"] and not result["meta"]["harness_only"]
    assert result["meta"]["max_tokens"] == 32  # tiny-cpu.yaml's eval.max_tokens: the assistant's own budget
    assert len(result["records"]) == questions and all(r["split"] == "test" for r in result["records"])
    assert len((out / "results.jsonl").read_text(encoding="utf-8").splitlines()) == questions
    report = (out / "report.md").read_text(encoding="utf-8")
    assert f"model: `{gguf}`" in report and "untrained random test model" in report.split("\n| metric")[0]
    print(
        f"eval stage on the random {gguf.name}: {stage['questions']} questions, outcomes "
        f"{[r['outcome'] for r in result['records']]}, accuracy {stage['accuracy']} (noise by construction)"
    )


def test_all_refuses_a_chat_format_ollama_is_not_given(tmp_path):
    """A template family without an Ollama mapping stops `finetune all` before any stage runs."""
    folder = _tiny_model(tmp_path / "tiny-llama", _tokenizer_dir("llama-bpe", LLAMA3_TEMPLATE), "llama")
    config = _run_config(tmp_path, folder)
    result = CliRunner().invoke(
        main,
        [
            "finetune",
            "all",
            str(packaged_config("tiny-cpu.yaml")),
            "--set",
            f"base_model={folder}",
            "--set",
            f"data={config.data}",
            "--set",
            f"output_dir={config.output_dir}",
        ],
    )
    assert result.exit_code == 2 and "unsupported chat template family" in result.output
    assert "serve the merged model with vLLM" in result.output and not config.output_dir.exists()


DEEPSEEK = json.loads(
    (Path(__file__).parent / "data" / "deepseek_r1_distill_chat_template.json").read_text("utf-8")
)


@pytest.fixture(scope="module")
def deepseek_tokenizer(tmp_path_factory) -> Path:
    """The Qwen2 tokenizer carrying DeepSeek-R1-Distill-Qwen's template (that model is a Qwen2 with its own format)."""
    from transformers import AutoTokenizer

    folder = tmp_path_factory.mktemp("r1") / "tokenizer"
    tokenizer = AutoTokenizer.from_pretrained(str(_tokenizer_dir("qwen2")))
    tokenizer.chat_template = DEEPSEEK["templates"]["2025-02"]
    tokenizer.save_pretrained(str(folder))
    return folder


@pytest.mark.parametrize("reasoning", [True, False])
def test_deepseek_r1_answers_continue_the_opened_think(deepseek_tokenizer, tmp_path, reasoning):
    """The R1 generation prompt ends with <think>\\n: the answer continues it, never opens a second one."""
    from askdb.finetune.train import build_datasets, load_tokenizer

    tokenizer = load_tokenizer(str(deepseek_tokenizer))
    config = _run_config(tmp_path, deepseek_tokenizer, reasoning=reasoning)
    row, record = build_datasets(config, tokenizer)[0][0], _records()[0]
    start = next(i for i, label in enumerate(row["labels"]) if label != -100)
    prompt, answer = tokenizer.decode(row["input_ids"][:start]), tokenizer.decode(row["input_ids"][start:])
    assert prompt.endswith("<｜Assistant｜><think>\n") and answer.count("<think>") == 0
    thinking = record.reasoning if reasoning else ""
    assert answer == f"{thinking}\n</think>\n\n{record.messages[-1]['content']}<｜end▁of▁sentence｜>"


def test_all_accepts_the_deepseek_r1_format(deepseek_tokenizer, tmp_path):
    """`finetune all`'s up-front check lets a DeepSeek-R1-Distill tokenizer through (Llama 3's is still refused)."""
    from askdb.finetune.cli import _check_deployable

    _check_deployable(_run_config(tmp_path, deepseek_tokenizer))


def test_a_tiny_llama_through_the_cli(tmp_path):
    """The Llama architecture (Llama 3's real tokenizer) through `finetune train|merge|export`: 2 steps, f16 GGUF."""
    from transformers import AutoTokenizer

    from askdb.finetune.train import build_datasets, load_tokenizer

    folder = _tiny_model(tmp_path / "tiny-llama", _tokenizer_dir("llama-bpe", LLAMA3_TEMPLATE), "llama")
    config = _run_config(tmp_path, folder)
    tokenizer = load_tokenizer(str(folder))
    row = build_datasets(config, tokenizer)[0][0]
    prompt = tokenizer.apply_chat_template(
        _records()[0].messages[:-1], tokenize=True, add_generation_prompt=True, return_dict=True
    )["input_ids"]
    assert row["labels"][: len(prompt)] == [-100] * len(prompt) and -100 not in row["labels"][len(prompt) :]
    assert tokenizer.decode(row["input_ids"][len(prompt) :]).endswith("```<|eot_id|>")
    sets = [
        f"base_model={folder}",
        f"data={config.data}",
        f"output_dir={config.output_dir}",
        "max_steps=2",
        "eval_steps=100",
        "export.quantize=[]",
    ]
    options = [arg for item in sets for arg in ("--set", item)]
    env = {"LLAMA_CPP_PATH": str(source_dir(CACHE))}
    outputs = {}
    for stage in ("train", "merge", "export"):
        result = CliRunner().invoke(
            main, ["finetune", stage, str(packaged_config("tiny-cpu.yaml")), *options, "--json"], env=env
        )
        assert result.exit_code == 0, result.output
        outputs[stage] = json.loads(result.stdout)
    assert outputs["train"]["steps"] == 2 and math.isfinite(outputs["train"]["train_loss"])
    merged, gguf = config.merged_dir, Path(outputs["export"]["gguf"][0])
    assert outputs["merge"]["merged"] == str(merged) and gguf == gguf_path(config.gguf_dir, "f16")
    ids = _token_ids(AutoTokenizer.from_pretrained(str(merged)))
    ours, theirs = _llama_logits(gguf, ids), _hf_logits(merged, ids)
    diff = float(np.abs(ours - theirs).max())
    print(f"Llama f16 GGUF vs transformers: {len(ids)} positions, max |logit diff| {diff:.2e}")
    assert (ours.argmax(-1) == theirs.argmax(-1)).all() and diff < 5e-3
