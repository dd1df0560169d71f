"""Where LLM backends are found by name.

A backend is a class with ``from_settings(settings, model=...)`` (or any callable
``(settings, model) -> LLM``). The built-ins are listed once, in ``BUILTIN_BACKENDS``, as the
same ``"module:Class"`` strings pyproject.toml's ``askdb.llm_backends`` entry points hold (a test
keeps the two equal). Other packages add backends through that entry-point group, and tests or
code that builds a backend at run time use ``@register_backend("name")``. Built-ins and plugins
alike are imported only when asked for, so choosing ``ollama`` never imports vllm or llama.cpp.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, TypeVar

from askdb.errors import ConfigError
from askdb.llm.base import LLM

if TYPE_CHECKING:
    from askdb.settings import Settings

ENTRY_POINT_GROUP = "askdb.llm_backends"

# name -> "module:Class", exactly the entry point's value; the class's ``name`` equals the key.
BUILTIN_BACKENDS: dict[str, str] = {
    "ollama": "askdb.llm.ollama_backend:OllamaLLM",
    "openai": "askdb.llm.openai_backend:OpenAICompatibleLLM",
    "vllm": "askdb.llm.vllm_backend:VLLMInProcess",
    "llamacpp": "askdb.llm.llamacpp_backend:LlamaCppLLM",
    "replay": "askdb.llm.replay_backend:ReplayLLM",
    "langchain": "askdb.llm.langchain_backend:LangChainLLM",
    "llamaindex": "askdb.llm.llamaindex_backend:LlamaIndexLLM",
}

Factory = Callable[["Settings", str], LLM]
T = TypeVar("T")

_registry: dict[str, Factory] = {}


def _as_factory(obj: object) -> Factory:
    if isinstance(obj, type) and hasattr(obj, "from_settings"):
        from_settings: Callable[..., LLM] = obj.from_settings
        return lambda settings, model: from_settings(settings, model=model)
    if callable(obj):
        factory: Factory = obj
        return factory
    raise TypeError(f"a backend must be an LLM class with from_settings() or a factory, not {obj!r}")


def register_backend(name: str) -> Callable[[T], T]:
    """Class (or factory) decorator: make a backend available to ``create_llm`` under ``name``.

    For third-party code and tests; the built-ins are listed in ``BUILTIN_BACKENDS`` instead.
    """

    def decorate(obj: T) -> T:
        _registry[name] = _as_factory(obj)
        return obj

    return decorate


def builtin_class(name: str) -> type[LLM]:
    """The class a built-in backend's ``"module:Class"`` names, imported now.

    Args:
        name: a key of ``BUILTIN_BACKENDS``.

    Returns:
        The backend class.

    Raises:
        KeyError: ``name`` is not a built-in backend.
        TypeError: the string names something that is not an ``LLM`` subclass.
    """
    module, _, attr = BUILTIN_BACKENDS[name].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    if not (isinstance(cls, type) and issubclass(cls, LLM)):
        raise TypeError(f"built-in backend {name!r} names {cls!r}, not an LLM class")
    return cls


def _plugin_entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def known_backends() -> list[str]:
    """Every name ``create_llm`` accepts: registered, built in, or offered by an installed package."""
    return sorted({*_registry, *BUILTIN_BACKENDS, *_plugin_entry_points()})


def _load(name: str) -> Factory | None:
    if name in _registry:
        return _registry[name]
    if name in BUILTIN_BACKENDS:
        return _registry.setdefault(name, _as_factory(builtin_class(name)))
    ep = _plugin_entry_points().get(name)
    if ep is None:
        return None
    loaded = ep.load()
    # A plugin may have registered itself on import; otherwise register what the entry point names.
    return _registry.setdefault(name, _as_factory(loaded))


def create_llm(settings: Settings, *, backend: str | None = None, model: str | None = None) -> LLM:
    """The LLM backend the settings (or the arguments) name, constructed without touching the network.

    Args:
        settings: where the backend name, the model and the backend's own options come from.
        backend: a backend name overriding ``settings.llm_backend``.
        model: a model name (or path) overriding ``settings.llm_model``.

    Returns:
        The backend, ready for ``stream``/``complete``; in-process engines load on first use.

    Raises:
        ConfigError: the backend name is unknown (the hint lists the known ones), or the backend
            cannot be built as configured (its package is missing, a required setting is unset).
    """
    name = backend or settings.llm_backend
    factory = _load(name)
    if factory is None:
        raise ConfigError(
            f"unknown LLM backend {name!r}",
            hint=f"set ASKDB_LLM_BACKEND to one of: {', '.join(known_backends())}",
            backend=name,
        )
    return factory(settings, model or settings.llm_model)
