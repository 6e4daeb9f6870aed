"""An OpenAI-compatible chat endpoint: `POST /v1/chat/completions` and `GET /v1/models`.

Any OpenAI client (the `openai` package, LangChain's `ChatOpenAI`, LlamaIndex, Open WebUI,
ChatBox) talks to the system unchanged:

    >>> from openai import OpenAI                                              # doctest: +SKIP
    >>> client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="unused")  # doctest: +SKIP
    >>> client.chat.completions.create(model="rag", messages=[{"role": "user", "content": "…"}])  # doctest: +SKIP

Mapping: the last user message is the question; the user and assistant messages before it
are the history that follow-ups are read against; system, developer and tool messages are
ignored (the answers are extractive, there is no prompt to steer). A question is text
(images are not read). The answer text keeps
its `[n]` markers. Extensions, in the response and in the last chunk of a stream:

- `citations`: the sources, `[{n, chunk_id, article_id, title, date, date_source, source,
  publication, text, score}]`, the same list `POST /ask` returns;
- `refused`: true when the articles do not hold the answer;
- `parts` and `refusal`: the answer as structure, as `POST /ask` returns them (each sentence with its
  citation and the span it quotes; why a refusal refused and what was missing).

Optional request fields beyond OpenAI's (send them with `extra_body=` in the `openai`
package): `top_k` (1–20), `mode` (hybrid, dense, bm25), `filters` (as for `/ask`).
Sampling parameters (temperature, max_tokens, …) are accepted and ignored; `n` must be 1.
The model name is not checked (`GET /v1/models` lists the one model, "rag"). Errors come in
OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`; with `RAG_API_KEY` set,
send it as `Authorization: Bearer <key>`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from rag.config import DEFAULT_TOP_K, MAX_QUESTION_CHARS, MAX_TOP_K
from rag.engine import Engine
from rag.api_schema import AnswerPartModel, RefusalModel
from rag.errors import InputError
from rag.types import RetrievalMode

__all__ = ["MODEL_ID", "OpenAIError", "make_router", "openai_error", "question_and_history"]

MODEL_ID = "rag"
CREATED = 1_735_689_600  # 2025-01-01: when the "rag" model id was first served


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    type: str = Field(..., description='"text" parts are read; other parts (images) are ignored')
    text: str | None = None


class TextPart(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)
    type: Literal["text"]
    text: str = Field(..., min_length=1, max_length=MAX_QUESTION_CHARS, pattern=r"\S")


class UserMessage(BaseModel):
    """A question: text (a string, or text parts; the answers are read from text only)."""

    model_config = ConfigDict(extra="allow", strict=True)
    role: Literal["user"]
    content: (Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS, pattern=r"\S")]
              | Annotated[list[TextPart], Field(min_length=1)])


class OtherMessage(BaseModel):
    """System, developer and tool messages are ignored; assistant messages are history."""

    model_config = ConfigDict(extra="allow", strict=True)
    role: Literal["system", "developer", "assistant", "tool"]
    content: str | list[ContentPart] | None = None


Message = Annotated[UserMessage | OtherMessage, Field(discriminator="role")]


def _whole(value: Any) -> Any:
    """2.0 is an integer in JSON Schema; strict pydantic would refuse it."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


WholeNumber = Annotated[int, BeforeValidator(_whole)]


class ChatFilters(BaseModel):
    """Extension: the filters of POST /ask."""

    model_config = ConfigDict(extra="forbid", strict=True)
    sources: list[str] | None = Field(None, description="corpus file names")
    source: str | None = None
    date_from: str | None = Field(None, pattern=r"^\d{4}", examples=["2024-01-01"])
    date_to: str | None = Field(None, pattern=r"^\d{4}", examples=["2024-12-31"])
    place: str | None = None
    publication: str | None = None
    publications: list[str] | None = None


class ChatRequest(BaseModel):
    # strict: JSON types as declared (5 not "5", false not 0); unknown OpenAI parameters are accepted
    model_config = ConfigDict(extra="allow", strict=True)
    model: str = Field(MODEL_ID, description='any name is accepted; the one model is "rag"', examples=[MODEL_ID])
    messages: list[Message] = Field(
        ..., min_length=1,
        description="the conversation: the last user message is the question, the turns before it its history",
        json_schema_extra={"contains": {"type": "object", "properties": {"role": {"const": "user"}},
                                        "required": ["role"]}},
    )
    stream: bool = False
    n: Annotated[int, Field(ge=1, le=1), BeforeValidator(_whole)] | None = Field(None, description="only one choice is made")
    top_k: WholeNumber = Field(DEFAULT_TOP_K, ge=1, le=MAX_TOP_K, description="extension: how many sources to cite at most")
    mode: RetrievalMode = Field("hybrid", description="extension: retrieval mode")
    filters: ChatFilters | None = Field(None, description="extension: as for POST /ask")


class ErrorInfo(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorBody(BaseModel):
    error: ErrorInfo


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    finish_reason: Literal["stop"]


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    citations: list[dict[str, Any]] = Field(description="extension: the sources the [n] markers point to")
    refused: bool = Field(description="extension: true when the articles do not hold the answer")
    parts: list[AnswerPartModel] = Field(description="extension: the answer's sentences with their sources")
    refusal: RefusalModel | None = Field(description="extension: why the articles do not answer; null when they do")


class OpenAIError(Exception):
    """An error to answer in OpenAI's shape."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code


def openai_error(status: int, message: str, type_: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONResponse(body, status)


_ERRORS = {
    400: {"model": OpenAIErrorBody, "description": "a bad request: the message says what to fix"},
    401: {"model": OpenAIErrorBody, "description": "missing or wrong API key (send Authorization: Bearer <key>)"},
    413: {"model": OpenAIErrorBody, "description": "the request body is too large"},
    503: {"model": OpenAIErrorBody, "description": "no index is loaded; the message names the command that builds one"},
}


# One server-sent event of a stream (OpenAPI 3.0/3.1 tools read `schema` as the per-event schema).
_SSE_EVENT = {
    "type": "object",
    "required": ["data"],
    "properties": {"data": {"type": "string", "description": "a chat.completion.chunk as JSON, then [DONE]"}},
}


def _text(message: UserMessage | OtherMessage) -> str:
    if isinstance(message.content, str):
        return message.content
    return "".join(part.text or "" for part in message.content or [] if part.type == "text")


def question_and_history(messages: list[UserMessage | OtherMessage]) -> tuple[str, list[dict[str, str]]]:
    """The last user message, and the user/assistant turns before it (later ones are ignored)."""
    users = [i for i, m in enumerate(messages) if m.role == "user"]
    if not users:
        raise OpenAIError(400, "messages holds no user message: the last user message is the question",
                          param="messages")
    last = users[-1]
    history = [{"role": m.role, "content": _text(m)} for m in messages[:last] if m.role in ("user", "assistant")]
    return _text(messages[last]), history


def _chunk(completion_id: str, created: int, model: str, delta: dict, finish: str | None = None,
           **extra: Any) -> str:
    body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def make_router(get_engine, guard) -> APIRouter:
    """The /v1 routes. `get_engine` is a FastAPI dependency returning the current engine;
    `guard` checks the Bearer key (None when the server has no key: then none is declared)."""
    router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"], dependencies=[Depends(guard)] if guard else [])

    @router.get("/models", summary="The one model, for clients that list models first", response_model=ModelList,
                responses={k: v for k, v in _ERRORS.items() if k in (401,)})
    def models() -> dict:
        return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": CREATED, "owned_by": "rag"}]}

    @router.post(
        "/chat/completions",
        summary="Answer the last user message, OpenAI style (stream: true gives chat.completion.chunk events)",
        response_model=ChatCompletion,
        responses={**_ERRORS, 200: {"content": {"text/event-stream": {"schema": _SSE_EVENT}},
                                    "description": "the completion; with stream: true, server-sent chunks"}},
    )
    def chat_completions(body: ChatRequest, engine: Engine = Depends(get_engine)):
        question, history = question_and_history(body.messages)
        try:
            filters = body.filters.model_dump(exclude_none=True) if body.filters else None
            answer = engine.ask(question, body.top_k, history, body.mode, filters)
        except InputError as exc:
            raise OpenAIError(400, str(exc), param="messages" if exc.field == "question" else None) from exc
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        citations = [c.to_dict() for c in answer.citations]
        structure = {k: v for k, v in answer.to_dict().items() if k in ("parts", "refusal")}
        if not body.stream:
            return {
                "id": completion_id, "object": "chat.completion", "created": created, "model": body.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text},
                             "finish_reason": "stop"}],
                "citations": citations, "refused": answer.refused, **structure,
            }
        pieces = answer.pieces()

        def stream() -> Iterator[str]:
            yield _chunk(completion_id, created, body.model, {"role": "assistant", "content": ""})
            for piece in pieces:
                yield _chunk(completion_id, created, body.model, {"content": piece})
            yield _chunk(completion_id, created, body.model, {}, "stop", citations=citations, refused=answer.refused,
                         **structure)
            yield "data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    return router
