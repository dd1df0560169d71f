"""Fine-tuning: SFT data in the assistant's prompt format, LoRA/QLoRA training, merge, GGUF export,
and deployment to Ollama.

``data`` needs only askdb's core; training, merging and reading GGUF files need the ``finetune``
extra (``pip install 'askdb[finetune]'``), quantising needs ``llamacpp``; each is imported where used.
"""

from __future__ import annotations

import importlib

from askdb.errors import AskdbError


class FinetuneError(AskdbError):
    """A fine-tuning stage (training, merge, conversion, quantisation) did not produce its output."""

    zh = "微调出错"


def require(module: str, *, extra: str | None = None, package: str | None = None) -> None:
    """Import ``module`` or fail with the exact install command (the extra's, or the package's)."""
    try:
        importlib.import_module(module)
    except ImportError as exc:
        from askdb.errors import ConfigError

        what = package or module
        raise ConfigError(
            f"{what} is not installed ({exc})",
            hint=f"pip install 'askdb[{extra}]'" if extra else f"pip install {what}",
            missing=what,
        ) from None
