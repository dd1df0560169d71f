"""Errors at the HTTP edge: one table from askdb's errors to a status, one JSON error shape, and
the handlers that turn every refusal into them. Nothing else in ``askdb.serving`` picks a status
for an askdb error.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from askdb import errors as E
from askdb.serving.wire import jsonable

# Every class of askdb.errors, by name: tests/test_serving_errors.py fails on one left out. An error
# takes the status of the nearest class of its own ancestry found here (askdb's root last: 400).
STATUS: dict[type[E.AskdbError], int] = {
    E.AskdbError: 400,
    E.ConfigError: 400,
    E.SchemaError: 503,
    E.EmptyDatabase: 503,
    E.IndexCorrupt: 503,
    E.DatabaseError: 502,
    E.DatabaseUnreachable: 502,
    E.DatabaseAuthError: 502,
    E.DatabaseNotFound: 502,
    E.QueryError: 502,
    E.QueryTimeout: 504,
    E.LLMError: 502,
    E.LLMUnavailable: 503,
    E.ModelNotFound: 503,
    E.LLMTimeout: 504,
    E.LLMServerError: 502,
    E.LLMAuthError: 502,
    E.PromptTooLong: 422,  # the question needs more context than the model's window: a setting to change
    E.SqlRejected: 422,
    E.NoAnswer: 422,
    E.ForecastError: 422,  # the series cannot be forecast as given (too short, constant, not a time series)
}

# The statuses the OpenAPI schema documents for the question routes.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"description": "bad input or a configuration problem"},
    401: {"description": "missing or wrong API key"},
    413: {"description": "request body too large"},
    422: {"description": "invalid body, or no acceptable SQL"},
    502: {"description": "the model or the database failed"},
    503: {"description": "the model cannot be reached"},
    504: {"description": "the model or the database took too long"},
}


def status_for(exc: E.AskdbError) -> int:
    """The HTTP status of an askdb error, from ``STATUS``."""
    return next(STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS)


def error_code(exc: E.AskdbError) -> str:
    """The error's class name in snake case (``LLMUnavailable`` -> ``llm_unavailable``)."""
    return re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", type(exc).__name__).lower()


class ApiError(Exception):
    """An HTTP-level refusal (auth, unknown model, size) with its status and code."""

    def __init__(self, status: int, code: str, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.param = status, code, message, param


class DifyError(Exception):
    """A refusal in the External Knowledge API's own shape: {error_code, error_msg}."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_body(
    type_: str, message: str, *, code: str | None = None, hint: str | None = None, **extra: Any
) -> dict[str, Any]:
    """One error shape for every route but /retrieval; OpenAI clients read ``error.message``."""
    return {"error": jsonable({"type": type_, "code": code, "message": message, "hint": hint, **extra})}


def askdb_error_body(exc: E.AskdbError, *, details: bool = True) -> dict[str, Any]:
    """``error_body`` for an askdb error; ``details`` adds its fields beyond message and hint."""
    extra = (
        {k: v for k, v in exc.to_dict().items() if k not in ("error", "message", "hint")} if details else {}
    )
    return error_body(type(exc).__name__, exc.message, code=error_code(exc), hint=exc.hint, **extra)


# -- handlers --------------------------------------------------------------------------------------------
def _askdb_error(request: Request, exc: E.AskdbError) -> JSONResponse:
    return JSONResponse(askdb_error_body(exc), status_code=status_for(exc))


def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    return JSONResponse(
        error_body("invalid_request_error", exc.message, code=exc.code, param=exc.param),
        status_code=exc.status,
        headers=headers,
    )


def _dify_error(request: Request, exc: DifyError) -> JSONResponse:
    return JSONResponse({"error_code": exc.code, "error_msg": exc.message}, status_code=exc.status)


def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
    kinds = {e.get("type") for e in exc.errors()}
    first = problems[0] if problems else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"] if p != "body") or "body"
    message, hint = f"{where}: {first['msg']}", None
    if "json_invalid" in kinds:
        # FastAPI says "1: JSON decode error": the offset of the break, with nothing a person can act on
        at = next((p for p in first["loc"] if isinstance(p, int)), None)
        message = "the body is not valid JSON" + (f" (it breaks at character {at})" if at is not None else "")
        hint = _BODY_HINT
    elif first["loc"] == ["body"] and "missing" in kinds:
        message, hint = "the request has no body", _BODY_HINT
    elif first["loc"] == ["body"]:
        message, hint = "the body must be a JSON object", _BODY_HINT
    return JSONResponse(
        error_body("invalid_request_error", message, code="invalid_request", hint=hint, details=problems),
        status_code=400 if "json_invalid" in kinds else 422,
    )


_BODY_HINT = 'send a JSON object with Content-Type: application/json, e.g. {"question": "各平台的达人数量"}'


def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return JSONResponse(
        error_body("invalid_request_error", str(exc.detail), code=f"http_{exc.status_code}"),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def add_error_handlers(app: FastAPI) -> None:
    """Every refusal the app can meet, turned into its status and JSON body."""
    app.add_exception_handler(E.AskdbError, _askdb_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(DifyError, _dify_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
