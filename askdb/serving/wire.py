"""What goes on the wire: plain JSON values, server-sent event framing, and the workflow's
events pulled through the thread pool so that the first ones arrive before any byte is sent."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

from starlette.concurrency import run_in_threadpool

from askdb.events import Answer, Event, Finished, StepFinished, StepName

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def jsonable(value: Any) -> Any:
    """Plain JSON values: Decimal -> number, dates -> ISO text, numpy scalars -> Python, NaN -> null."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, Decimal):
        return (
            jsonable(int(value) if value == value.to_integral_value() else float(value))
            if value.is_finite()
            else None
        )
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return jsonable(value.item())
    if hasattr(value, "isoformat"):  # pandas Timestamp
        return None if str(value) == "NaT" else value.isoformat()
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return jsonable(value.to_dict())
    return str(value)


def answer_json(answer: Answer, *, trace: bool = True) -> dict[str, Any]:
    """The answer as plain JSON values; ``trace=False`` leaves the workflow's steps out."""
    return jsonable(answer.to_dict(trace=trace))


def event_json(event: Event) -> dict[str, Any]:
    """An event's ``data`` as ``/v1/ask`` streams it: the whole answer for the last one."""
    match event:
        case Finished(answer=answer):
            return answer_json(answer)
        case _:
            return jsonable(event.payload())


def dumps(data: Any) -> str:
    """Compact JSON text, non-ASCII kept as it is."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event; text ``data`` (``[DONE]``) goes as it is, anything else as JSON."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {dumps(data) if not isinstance(data, str) else data}\n\n".encode()


# -- the workflow's events, from its thread ---------------------------------------------------------------
_DONE = object()


async def _next(events: Iterator[Event]) -> Any:
    return await run_in_threadpool(next, events, _DONE)


async def primed(events: Iterator[Event]) -> list[Event]:
    """Run the workflow up to its first event after retrieval, before any byte is sent.

    An unreachable model or database then fails with its own status (503, 502) instead of a
    200 whose stream breaks off. A failed step (the model call that could not start) is taken
    too: the error it precedes comes next.
    """
    first: list[Event] = []
    while (event := await _next(events)) is not _DONE:
        first.append(event)
        step = event.step if isinstance(event, StepFinished) else None
        if step is None or not (step.name == StepName.RETRIEVE or step.error):
            break
    return first


async def drain(first: list[Event], events: Iterator[Event]) -> AsyncIterator[Event]:
    """The events ``primed`` already took, then the rest as the workflow makes them."""
    for event in first:
        yield event
    while (event := await _next(events)) is not _DONE:
        yield event
