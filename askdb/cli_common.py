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


def settings_from(ctx: click.Context) -> Settings:
    """The settings object built once per invocation by the root group."""
    return ctx.find_root().obj


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
