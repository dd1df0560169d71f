"""What every ``cli.py`` shares: error handling, JSON output and the settings of one invocation.

The top ``askdb.cli`` and each folder's ``cli.py`` import this module; it imports none of them,
so the command line has no import circle.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, NoReturn

import click

from askdb.errors import AskdbError
from askdb.llm.registry import BUILTIN_BACKENDS
from askdb.settings import Settings

# Built from the one list of backends, so a new built-in shows up in every --help.
BACKEND_HELP = f"LLM backend ({', '.join(BUILTIN_BACKENDS)}, or one an installed plugin adds)"


def fail(message: str, code: int) -> NoReturn:
    """One line on stderr, then exit with ``code``."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn askdb errors into one line on stderr and an exit code; no traceback for bad input."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AskdbError as exc:
            fail(exc.person_line(), exc.exit_code)
        except KeyboardInterrupt:
            fail("interrupted; nothing half-written was left behind", 130)

    return wrapper


def progress_bar(header: str | None = None) -> tuple[Callable[[str, int, int], None], Callable[[], None]]:
    """A tqdm bar on stderr that follows an index build's stages (values, embedding, indexing).

    ``header`` is printed once, when the first stage starts, even where no bar is drawn (not a terminal),
    so a first run says why it takes a while.
    """
    from tqdm import tqdm

    state: dict[str, Any] = {"bar": None, "stage": None}

    def update(stage: str, done: int, total: int) -> None:
        if stage != state["stage"]:
            if state["bar"] is not None:
                state["bar"].close()
            elif header:
                click.echo(header, err=True)
            state["bar"] = tqdm(
                total=total or None,
                desc=stage,
                unit="docs" if stage == "embedding" else "it",
                file=sys.stderr,
                disable=None,
            )
            state["stage"] = stage
        state["bar"].update(done)

    def close() -> None:
        if state["bar"] is not None:
            state["bar"].close()

    return update, close


def open_retriever_told(settings: Settings, db_url: str | None = None) -> Any:
    """The retriever for a command that asks questions, saying on stderr what a first run builds: the
    index of a database seen for the first time, the embedding model's ONNX export."""
    from askdb.rag.service import open_retriever

    update, close = progress_bar("正在为这个数据库建立检索索引(第一次使用时需要一次,之后直接加载)…")
    try:
        retriever, _ = open_retriever(settings, db_url=db_url, progress=update)
    finally:
        close()
    folder = getattr(retriever.embedder, "onnx_dir", None)
    if folder is not None and not any(folder.glob("query-encoder-*.onnx")):
        click.echo("正在导出嵌入模型(ONNX,只需一次,之后的问题编码更快)…", err=True)
    retriever.embedder.encode(["预热"])  # the export happens here, not in the middle of the first answer
    return retriever


def settings_from(ctx: click.Context) -> Settings:
    """The settings object built once per invocation by the root group."""
    return ctx.find_root().obj


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
