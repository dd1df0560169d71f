"""What the routes take from the app (FastAPI dependencies): the shared assistant service, the
conversations, the caller's name from the API key, and the question as every route accepts it.

``create_app`` puts the service, the conversations and the keys on ``app.state``; the routes
read them from there, so they are plain functions of their module, not closures.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from pydantic import StringConstraints

from askdb.runtime.service import AssistantService
from askdb.serving.conversations import ConversationStore
from askdb.serving.errors import ApiError, DifyError

MAX_QUESTION_CHARS = 4000

Question = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUESTION_CHARS)
]


def get_service(request: Request) -> AssistantService:
    """The one assistant service the app shares."""
    return request.app.state.service


def get_conversations(request: Request) -> ConversationStore:
    """The conversations of ``/v1/ask``, shared by every worker."""
    return request.app.state.conversations


def _bearer(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None when there is none."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


# async: a plain def would cost a thread hop per request
async def authorize(request: Request) -> str:
    """The caller's name for the audit log: the API key's name, or "api" when no keys are set."""
    by_key: dict[str, str] = request.app.state.callers
    if not by_key:
        return "api"
    token = _bearer(request)
    if token is None:
        raise ApiError(401, "missing_api_key", "send the API key as 'Authorization: Bearer <key>'")
    if token not in by_key:
        raise ApiError(401, "invalid_api_key", "the API key is not valid")
    return by_key[token]


async def authorize_dify(request: Request) -> str:
    """``authorize`` with the External Knowledge API's refusals (403, error_code 1001 or 1002)."""
    by_key: dict[str, str] = request.app.state.callers
    if not by_key:
        return "api"
    token = _bearer(request)
    if token is None:
        raise DifyError(403, 1001, "Invalid Authorization header format. Expected 'Bearer <api-key>' format.")
    if token not in by_key:
        raise DifyError(403, 1002, "Authorization failed")
    return by_key[token]


Service = Annotated[AssistantService, Depends(get_service)]
Conversations = Annotated[ConversationStore, Depends(get_conversations)]
Caller = Annotated[str, Depends(authorize)]
DifyCaller = Annotated[str, Depends(authorize_dify)]
