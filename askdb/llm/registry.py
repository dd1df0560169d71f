"""Where LLM backends are found by name.

A backend is a class with ``from_settings(settings, model=...)`` (or any callable
``(settings, model) -> LLM``) registered under a name with ``@register_backend("name")``.
Other packages add backends through the ``askdb.llm_backends`` entry-point group. The
built-ins are registered the same way, and like plugins they are imported only when asked
for, so choosing ``ollama`` never imports vllm or llama.cpp.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, TypeVar

from askdb.errors import ConfigError
from askdb.llm.base import LLM

if TYPE_CHECKING:
    from askdb.settings import Settings

ENTRY_POINT_GROUP = "askdb.llm_backends"

# name -> module whose import registers it; the same shape an entry point would give.
BUILTIN_BACKENDS: dict[str, str] = {
    "ollama": "askdb.llm.ollama_backend",
    "openai": "askdb.llm.openai_backend",
    "vllm": "askdb.llm.vllm_backend",
    "llamacpp": "askdb.llm.llamacpp_backend",
    "replay": "askdb.llm.replay_backend",
}

Factory = Callable[["Settings", str], LLM]
T = TypeVar("T")

_registry: dict[str, Factory] = {}


def _as_factory(obj: Any) -> Factory:
    if isinstance(obj, type) and hasattr(obj, "from_settings"):
        return lambda settings, model: obj.from_settings(settings, model=model)
    if callable(obj):
        return obj
    raise TypeError(f"a backend must be an LLM class with from_settings() or a factory, not {obj!r}")


def register_backend(name: str) -> Callable[[T], T]:
    """Class (or factory) decorator: make a backend available to ``create_llm`` under ``name``."""

    def decorate(obj: T) -> T:
        _registry[name] = _as_factory(obj)
        return obj

    return decorate


def _plugin_entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def known_backends() -> list[str]:
    """Every name ``create_llm`` accepts: registered, built in, or offered by an installed package."""
    return sorted({*_registry, *BUILTIN_BACKENDS, *_plugin_entry_points()})


def _load(name: str) -> Factory | None:
    if name in _registry:
        return _registry[name]
    if name in BUILTIN_BACKENDS:
        importlib.import_module(BUILTIN_BACKENDS[name])  # its decorator registers it
        return _registry.get(name)
    ep = _plugin_entry_points().get(name)
    if ep is None:
        return None
    loaded = ep.load()
    # A plugin may have registered itself on import; otherwise register what the entry point names.
    return _registry.setdefault(name, _as_factory(loaded))


def create_llm(settings: Settings, *, backend: str | None = None, model: str | None = None) -> LLM:
    """The LLM backend the settings (or the arguments) name, constructed without touching the network."""
    name = backend or settings.llm_backend
    factory = _load(name)
    if factory is None:
        raise ConfigError(
            f"unknown LLM backend {name!r}",
            hint=f"set ASKDB_LLM_BACKEND to one of: {', '.join(known_backends())}",
            backend=name,
        )
    return factory(settings, model or settings.llm_model)
