"""Small helpers the backends share: optional imports with install hints, message conversion."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Sequence
from types import ModuleType

from askdb.errors import ConfigError
from askdb.serving.base import Message


def _missing(module: str, install: str, backend: str) -> ConfigError:
    return ConfigError(
        f"the {backend} backend needs the Python package {module!r}, which is not installed",
        hint=f"pip install {install}",
        backend=backend,
    )


def check_installed(module: str, *, install: str, backend: str) -> None:
    """Fail early (at create time) with the install command, without importing a heavy package."""
    if importlib.util.find_spec(module) is None:
        raise _missing(module, install, backend)


def import_sdk(module: str, *, install: str, backend: str) -> ModuleType:
    """Import a backend's SDK where it is first used; a missing one names the exact install command."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise _missing(module, install, backend) from None


def as_dicts(messages: Sequence[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]
