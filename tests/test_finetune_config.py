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


@pytest.mark.parametrize("name", ["tiny-cpu.yaml", "deepseek-r1-distill-qwen-7b.yaml"])
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
