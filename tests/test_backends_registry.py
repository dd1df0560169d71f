"""The built-in backends are listed once: pyproject.toml's entry points, BUILTIN_BACKENDS and each ``name``."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from askdb.llm import registry
from askdb.llm.base import LLM
from askdb.llm.registry import BUILTIN_BACKENDS, builtin_class, known_backends

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_pyproject_entry_points_are_exactly_the_builtin_backends() -> None:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    assert project["entry-points"][registry.ENTRY_POINT_GROUP] == BUILTIN_BACKENDS


@pytest.mark.parametrize("name", sorted(BUILTIN_BACKENDS))
def test_each_builtin_class_is_named_by_its_key(name: str) -> None:
    # Importing the module is enough: none of them imports its engine (vllm, llama_cpp) at import time.
    cls = builtin_class(name)
    assert issubclass(cls, LLM)
    assert cls.name == name
    assert f"{cls.__module__}:{cls.__qualname__}" == BUILTIN_BACKENDS[name]


def test_builtins_are_known_without_being_imported_or_decorated() -> None:
    assert set(BUILTIN_BACKENDS) <= set(known_backends())
