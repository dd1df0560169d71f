"""Helpers for the SQL tests: the packaged corpora, and the external benchmark folder."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1].parent / "shared" / "bench"


def corpus(name: str) -> list[dict]:
    """A JSON-lines corpus shipped in askdb/sql/data."""
    text = resources.files("askdb.sql").joinpath(f"data/{name}").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def require_bench() -> Path:
    if not BENCH.is_dir():
        # CI and every session lay shared/ beside the project: missing data is a broken set-up, not a skip.
        pytest.fail(
            f"external benchmark data not found at {BENCH}: check out shared/ beside the project "
            "(see shared/bench/README.md)"
        )
    return BENCH
