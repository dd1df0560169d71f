"""The pooling both question paths share: the torch encoder and the traced ONNX graph."""

from __future__ import annotations

from typing import Any


def mean_pooled_unit(hidden: Any, attention_mask: Any) -> Any:
    """Mean over the real tokens, scaled to unit length: sentence-transformers' Pooling + Normalize."""
    import torch

    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)
