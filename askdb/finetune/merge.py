"""Merge a LoRA adapter into its base model: one folder of safetensors plus the tokenizer.

The tokenizer is the one saved with the adapter, so its ``chat_template`` (what the Ollama
Modelfile and vLLM render) is the one used in training. The folder appears by rename, so a
present ``merged`` folder is always a whole one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from askdb.finetune import FinetuneError, require


def merge(base_model: str, adapter_dir: Path, out_dir: Path, *, trust_remote_code: bool = False) -> Path:
    """Load the base (in its own dtype), fold the adapter in, save safetensors + tokenizer atomically."""
    require("peft", extra="finetune")
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not (adapter_dir / "adapter_config.json").is_file():
        raise FinetuneError(f"no adapter in {adapter_dir}", hint="run `askdb finetune train CONFIG` first")
    # dtype "auto": the checkpoint's own (bf16 for 7B models): fp32 would double the memory for nothing.
    base = AutoModelForCausalLM.from_pretrained(base_model, dtype="auto", trust_remote_code=trust_remote_code)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    tokenizer = AutoTokenizer.from_pretrained(str(adapter_dir), trust_remote_code=trust_remote_code)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    merged.save_pretrained(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return out_dir


def merged_complete(out_dir: Path) -> bool:
    """Whether a merged model is there (config, weights and tokenizer)."""
    return (
        (out_dir / "config.json").is_file()
        and any(out_dir.glob("*.safetensors"))
        and (out_dir / "tokenizer_config.json").is_file()
    )
