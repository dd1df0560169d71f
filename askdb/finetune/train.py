"""LoRA / QLoRA supervised fine-tuning with peft and trl's SFTTrainer, from a :class:`TrainConfig`.

Records are tokenised here, not by trl: the prompt is the tokenizer's chat template with the
generation prompt (what Ollama or vLLM render at inference), the answer follows with the
template's own end-of-turn text, and only the answer's tokens carry labels. Rendering the answer
ourselves also keeps R1-style ``<think>`` text, which some templates strip from assistant turns.

The same code runs on one CPU, one GPU, or several GPUs through ``torchrun``/``accelerate launch``
(optionally with DeepSpeed): the Trainer reads the distributed environment; nothing here pins a
device. Heavy imports happen inside functions.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from askdb.errors import ConfigError
from askdb.finetune import FinetuneError, require
from askdb.finetune.config import TrainConfig
from askdb.finetune.data import read_jsonl

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase, Trainer

_PROBE = "\u2063ASKDB-ANSWER\u2063"  # a string no template emits, to find where an answer's text goes


@dataclass(frozen=True)
class Precision:
    """The dtype the base weights load in and the Trainer's mixed-precision flags."""

    device: str  # "cuda" | "cpu"
    dtype: str  # "bfloat16" | "float16" | "float32"
    bf16: bool
    fp16: bool


@dataclass(frozen=True)
class TrainResult:
    """What a finished run reports."""

    adapter_dir: Path
    steps: int
    train_loss: float | None
    eval_loss: float | None
    seconds: float
    resumed_from: str | None
    dropped_too_long: int


def choose_precision() -> Precision:
    """bf16 on CUDA that supports it, fp16 on older CUDA GPUs, fp32 elsewhere (CPU, MPS)."""
    import torch

    if torch.cuda.is_available():
        if torch.cuda.is_bf16_supported():
            return Precision("cuda", "bfloat16", bf16=True, fp16=False)
        return Precision("cuda", "float16", bf16=False, fp16=True)
    return Precision("cpu", "float32", bf16=False, fp16=False)


def training_threads() -> int:
    """torch's intra-op threads for training on a CPU: OMP_NUM_THREADS when set, else every core this
    process may use (the affinity mask, which a container or taskset narrows, not the host's count)."""
    configured = os.environ.get("OMP_NUM_THREADS", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def load_tokenizer(name: str, *, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """The base model's tokenizer, with a pad token and a chat template (required)."""
    require("transformers", extra="finetune")
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)
    except OSError as exc:  # not a folder, not on the hub, or offline without a cached copy
        raise ConfigError(
            f"cannot load the tokenizer of base_model {name}: {str(exc).splitlines()[0]}",
            hint="set base_model to a model folder or a hub id; offline (HF_HUB_OFFLINE=1) it must "
            "be in the Hugging Face cache already",
        ) from None
    if not tokenizer.chat_template:
        raise ConfigError(
            f"the tokenizer of {name} has no chat_template",
            hint="fine-tune a chat (instruct) model, whose template Ollama and vLLM will use too",
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # labels mask padding anyway
    return tokenizer


def end_of_turn(tokenizer: PreTrainedTokenizerBase) -> str:
    """The text the chat template writes after an assistant message's content (ChatML: ``<|im_end|>\\n``)."""
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "q"}, {"role": "assistant", "content": _PROBE}], tokenize=False
    )
    if _PROBE not in rendered:
        raise ConfigError(
            "the chat template drops the assistant's message", hint="use the model's own template"
        )
    return rendered.split(_PROBE, 1)[1]


def opens_thinking(tokenizer: PreTrainedTokenizerBase) -> bool:
    """Whether the template's generation prompt already opens ``<think>`` (DeepSeek-R1 since 2025-02)."""
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "q"}], tokenize=False, add_generation_prompt=True
    )
    return prompt.endswith("<think>\n")


def answer_text(record: dict[str, Any], *, reasoning: bool, opened: bool = False) -> str:
    """The assistant's reply to learn, with R1-style thinking first when asked for.

    ``opened``: the prompt ends with ``<think>\n`` already, so the reply starts inside the thinking
    (and, without reasoning text, closes an empty one, as R1 itself does).
    """
    answer = record["messages"][-1]["content"]
    thinking = record.get("reasoning") if reasoning else None
    if opened:
        return f"{thinking}\n</think>\n\n{answer}" if thinking else f"\n</think>\n\n{answer}"
    if thinking:
        return f"<think>\n{thinking}\n</think>\n\n{answer}"
    return answer


def tokenize_record(
    record: dict[str, Any],
    tokenizer: PreTrainedTokenizerBase,
    *,
    reasoning: bool,
    suffix: str,
    opened: bool = False,
) -> dict[str, list[int]]:
    """Token ids of prompt + answer, with labels -100 on every prompt token."""
    messages = record["messages"]
    if messages[-1]["role"] != "assistant":
        raise ConfigError(
            f"SFT record {record.get('id')} does not end with the assistant's answer",
            hint="rebuild the data with `askdb finetune data`",
        )
    prompt = tokenizer.apply_chat_template(
        messages[:-1], tokenize=True, add_generation_prompt=True, return_dict=True
    )["input_ids"]
    text = answer_text(record, reasoning=reasoning, opened=opened) + suffix
    answer = tokenizer(text, add_special_tokens=False)["input_ids"]
    return {"input_ids": [*prompt, *answer], "labels": [-100] * len(prompt) + list(answer)}


def build_datasets(config: TrainConfig, tokenizer: PreTrainedTokenizerBase) -> tuple[Any, Any, int]:
    """(train, validation or None, records dropped for being longer than max_length)."""
    from datasets import Dataset

    if config.data is None or not config.data.is_file():
        raise ConfigError(
            f"no SFT data at {config.data}", hint="run `askdb finetune data` first, or set `data:`"
        )
    suffix, opened = end_of_turn(tokenizer), opens_thinking(tokenizer)
    splits: dict[str, list[dict[str, list[int]]]] = {}
    dropped = 0
    for split in ("train", "validation"):
        rows = [
            tokenize_record(r, tokenizer, reasoning=config.reasoning, suffix=suffix, opened=opened)
            for r in read_jsonl(config.data, split)
        ]
        # Cutting a sequence would cut its answer, the only part with labels: drop it instead.
        kept = [r for r in rows if len(r["input_ids"]) <= config.max_length]
        dropped += len(rows) - len(kept)
        splits[split] = kept
    if not splits["train"]:
        raise ConfigError(
            f"{config.data} has no train records within max_length={config.max_length}",
            hint="raise max_length or rebuild the data with `askdb finetune data`",
        )
    validation = Dataset.from_list(splits["validation"]) if splits["validation"] else None
    return Dataset.from_list(splits["train"]), validation, dropped


def answer_only_loss(model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None) -> tuple[Any, Any]:
    """The causal-LM loss on the answer tokens, with the LM head run only where an answer token is predicted.

    The loss is the same as the model's own with ``labels`` (prompt and padding labelled -100), but the
    output layer, a vocabulary-sized matrix (262k rows for Gemma 3: most of a small model's arithmetic),
    is applied at the positions that predict an answer token in some row of the batch instead of at
    every position of the prompt too (``logits_to_keep`` with those indices).
    """
    import torch
    import torch.nn.functional as F

    labels = inputs["labels"]
    targets = labels[:, 1:]  # position t predicts token t + 1
    keep = (targets != -100).any(dim=0).nonzero().squeeze(-1)
    forward = {k: v for k, v in inputs.items() if k not in ("labels", "num_items_in_batch")}
    outputs = model(**forward, logits_to_keep=keep, use_cache=False)
    logits = outputs.logits.float()
    wanted = targets[:, keep]
    total = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), wanted.reshape(-1), ignore_index=-100, reduction="sum"
    )
    count = num_items_in_batch if num_items_in_batch is not None else (wanted != -100).sum()
    if isinstance(count, torch.Tensor):
        count = count.to(total.device)
    return total / count, outputs


def answer_only_trainer() -> type:
    """TRL's SFTTrainer with ``answer_only_loss`` for training and evaluation."""
    from trl import SFTTrainer

    class AnswerOnlySFTTrainer(SFTTrainer):  # type: ignore[misc]
        def compute_loss(
            self,
            model: Any,
            inputs: dict[str, Any],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            loss, outputs = answer_only_loss(model, inputs, num_items_in_batch)
            return (loss, outputs) if return_outputs else loss

    return AnswerOnlySFTTrainer


def _lora_config(config: TrainConfig) -> Any:
    from peft import LoraConfig

    lora = config.lora
    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        bias="none",
        target_modules=lora.target_modules,
        task_type="CAUSAL_LM",
    )


def _quantization(config: TrainConfig) -> Any:
    """4-bit NF4 for QLoRA; bitsandbytes needs CUDA, so say so instead of failing deep inside."""
    if not config.qlora:
        return None
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(
            "QLoRA needs a CUDA GPU (bitsandbytes 4-bit kernels); none is visible",
            hint="set `qlora: false` to train a plain LoRA on this machine",
        )
    require("bitsandbytes", package="bitsandbytes")  # CUDA-only, so not in the finetune extra
    from transformers import BitsAndBytesConfig

    compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute,
    )


def _sft_config(config: TrainConfig, precision: Precision, has_eval: bool) -> Any:
    from trl import SFTConfig

    init: dict[str, Any] = {"dtype": precision.dtype, "trust_remote_code": config.trust_remote_code}
    if config.qlora:
        from accelerate import PartialState

        init["device_map"] = {"": PartialState().local_process_index}  # one whole copy per process
    return SFTConfig(
        output_dir=str(config.output_dir),
        model_init_kwargs=init,
        max_length=config.max_length,
        learning_rate=config.learning_rate,
        num_train_epochs=config.num_train_epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.per_device_train_batch_size,
        per_device_eval_batch_size=config.per_device_eval_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        activation_checkpointing=config.gradient_checkpointing,
        warmup_steps=config.warmup_steps,
        lr_scheduler_type=config.lr_scheduler_type,
        weight_decay=config.weight_decay,
        seed=config.seed,
        data_seed=config.seed,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=config.eval_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        report_to=config.report_to,
        bf16=precision.bf16,
        fp16=precision.fp16,
        deepspeed=str(config.deepspeed) if config.deepspeed else None,
        disable_tqdm=False,
        prediction_loss_only=True,  # evaluation needs the loss; answer_only_loss keeps few logits anyway
        dataset_num_proc=None,
        dataloader_pin_memory=precision.device == "cuda",
    )


@dataclass
class Prepared:
    """A ready SFTTrainer and how many records were too long to train on."""

    trainer: Trainer
    dropped_too_long: int


def prepare(config: TrainConfig) -> Prepared:
    """An SFTTrainer for this config: tokenised data, LoRA adapter, automatic device and dtype."""
    require("trl", extra="finetune")
    require("peft", extra="finetune")
    require("datasets", extra="finetune")
    precision = choose_precision()
    if precision.device == "cpu":
        import torch

        # Set, not inherited: whatever ran before in this process (the retriever of the data stage
        # embeds with one thread) must not decide how many cores training gets.
        torch.set_num_threads(training_threads())
    if precision.device == "cpu" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # transformers sets up no process group on CPU: each rank would train its own copy into one folder.
        raise ConfigError(
            "several processes (torchrun) without CUDA GPUs would each train a separate copy",
            hint="run `askdb finetune train CONFIG` as one process on a CPU",
        )
    if config.deepspeed:
        require("deepspeed", package="deepspeed")  # GPU-only, so not in the finetune extra
    base = config.base_path
    tokenizer = load_tokenizer(base, trust_remote_code=config.trust_remote_code)
    train_set, eval_set, dropped = build_datasets(config, tokenizer)
    args = _sft_config(config, precision, eval_set is not None)
    trainer = answer_only_trainer()(
        model=base,
        args=args,
        train_dataset=train_set,
        eval_dataset=eval_set,
        processing_class=tokenizer,
        peft_config=_lora_config(config),
        quantization_config=_quantization(config),
    )
    return Prepared(trainer, dropped)


def last_checkpoint(output_dir: Path) -> str | None:
    """The newest ``checkpoint-N`` folder the Trainer left, to resume from."""
    if not output_dir.is_dir():
        return None
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(output_dir))


def run(prepared: Prepared, config: TrainConfig) -> TrainResult:
    """Train (resuming from the last checkpoint), evaluate, and save the adapter atomically."""
    trainer = prepared.trainer
    started = time.monotonic()
    resume = last_checkpoint(config.output_dir)
    output = trainer.train(resume_from_checkpoint=resume)
    eval_loss = final_eval_loss(trainer, output.global_step)
    save_adapter(trainer, config.adapter_dir)
    return TrainResult(
        config.adapter_dir,
        output.global_step,
        output.training_loss,
        eval_loss,
        time.monotonic() - started,
        resume,
        prepared.dropped_too_long,
    )


def final_eval_loss(trainer: Trainer, step: int) -> float | None:
    """The eval loss at the last step: the Trainer's own when it evaluated there (eval_steps divides
    max_steps), else one evaluation now. Evaluating twice at one step cost 4 minutes on 2 cores."""
    if trainer.eval_dataset is None:
        return None
    for entry in reversed(trainer.state.log_history):
        if "eval_loss" in entry:
            if entry.get("step") == step:
                return float(entry["eval_loss"])
            break
    return float(trainer.evaluate()["eval_loss"])


def save_adapter(trainer: Trainer, adapter_dir: Path) -> None:
    """Adapter + tokenizer into a temporary folder, then one rename (every process saves: DeepSpeed needs it)."""
    tmp = adapter_dir.with_name(f".{adapter_dir.name}.tmp")
    if trainer.is_world_process_zero():
        shutil.rmtree(tmp, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(tmp))
    trainer.accelerator.wait_for_everyone()
    if trainer.is_world_process_zero():
        if not (tmp / "adapter_config.json").is_file():
            raise FinetuneError(f"the trainer wrote no adapter into {tmp}", hint="see the training log above")
        shutil.rmtree(adapter_dir, ignore_errors=True)
        tmp.rename(adapter_dir)
    trainer.accelerator.wait_for_everyone()


def train(config: TrainConfig) -> TrainResult:
    """Fine-tune ``config.base_model`` with LoRA (or QLoRA) on the SFT data's train split."""
    return run(prepare(config), config)


def adapter_complete(adapter_dir: Path) -> bool:
    """Whether a finished adapter is there (it appears by rename, so present means whole)."""
    return (adapter_dir / "adapter_config.json").is_file() and any(adapter_dir.glob("adapter_model.*"))
