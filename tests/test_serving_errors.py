"""The error-to-status table of ``askdb.serving.errors``: every error class of ``askdb.errors`` has
its own entry, so a new class is a decision about its status, never a silent 500 or a default."""

from __future__ import annotations

import inspect

import pytest

from askdb import errors as E
from askdb.serving.errors import ERROR_RESPONSES, STATUS, error_code, status_for

ERROR_CLASSES = [
    cls
    for _, cls in inspect.getmembers(E, inspect.isclass)
    if issubclass(cls, E.AskdbError) and cls.__module__ == E.__name__
]


def test_every_askdb_error_class_has_a_status() -> None:
    assert len(ERROR_CLASSES) > 10  # the walk found the hierarchy
    missing = [cls.__name__ for cls in ERROR_CLASSES if cls not in STATUS]
    assert not missing, f"add these to askdb.serving.errors.STATUS: {missing}"


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_each_error_takes_its_own_documented_4xx_or_5xx(cls: type[E.AskdbError]) -> None:
    exc = cls("boom")
    assert status_for(exc) == STATUS[cls]
    assert 400 <= STATUS[cls] < 500 or STATUS[cls] in (502, 503, 504)
    assert STATUS[cls] in ERROR_RESPONSES  # the OpenAPI schema lists it


def test_the_nearest_ancestor_decides_and_codes_are_snake_case() -> None:
    class Elsewhere(E.QueryTimeout):  # an error class defined outside askdb.errors
        pass

    assert status_for(Elsewhere("slow")) == 504
    assert status_for(type("Plain", (E.AskdbError,), {})("x")) == 400
    assert error_code(E.LLMUnavailable("x")) == "llm_unavailable"
    assert error_code(E.DatabaseNotFound("x")) == "database_not_found"
