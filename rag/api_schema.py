"""The HTTP API's contract: response models, error bodies, and the OpenAPI document.

Every status an endpoint can answer is declared with the body it carries, so that a client
generated from /openapi.json is never surprised (tests/test_api_contract.py runs
schemathesis against the real server). An endpoint declares its errors with
`error_responses(...)`:

    @app.post("/thing", response_model=Thing, responses=error_responses(400, 422, 503))

and `install_openapi(app)` makes what holds for every endpoint true in the document:
every error body is `ErrorBody` in JSON (FastAPI's default 422 schema, a list of
validation errors, is replaced: the API answers 422 with one readable sentence), and every
operation with a request body may answer 413 (the body-size middleware) and 422.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

__all__ = [
    "AskResponse", "ArticleList", "ArticleModel", "ErrorBody", "EventStream", "Health", "HealthUnavailable",
    "NON_BLANK", "SearchResponse", "error_responses", "install_openapi",
]

# At least one character that str.strip() keeps: the class lists exactly the characters for
# which str.isspace() is true (Python's idea of whitespace, wider than \s in JSON Schema's
# ECMA regexes and in pydantic's Rust regexes), so the schema, pydantic and the engine agree
# on which questions are blank. tests/test_api_contract.py checks the list against Python.
NON_BLANK = (
    r"[^\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
)

ERRORS: dict[int, str] = {
    400: "A value the schema allows but this request cannot use (a date that does not exist, …); "
         "`detail` says what to fix",
    401: "Missing or wrong API key: send it in the X-API-Key header",
    404: "No such item; `detail` says where ids come from",
    413: "The request body is larger than the server's limit (RAG_MAX_BODY_BYTES)",
    422: "The request does not match the schema (malformed JSON, a missing field, a value out of "
         "range, an unknown filter); `detail` says which field and how to fix it",
    429: "Too many questions from this client; wait the seconds in Retry-After",
    503: "No index is loaded, or it is damaged; `detail` names the command that repairs it",
}


class ErrorBody(BaseModel):
    """Every error answer: one sentence for the user, saying what went wrong and what to do."""

    detail: str = Field(..., description="what went wrong and what to do about it")


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these error statuses, each with an `ErrorBody`."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {"model": ErrorBody, "description": ERRORS[code]}
        if code == 429:
            entry["headers"] = {"Retry-After": {"description": "seconds to wait before asking again",
                                                "schema": {"type": "integer", "minimum": 1}}}
        out[code] = entry
    return out


class EventStream(StreamingResponse):
    """A `text/event-stream` response (declares that media type in the OpenAPI document)."""

    media_type = "text/event-stream"


SSE_DESCRIPTION = (
    "Server-sent events: `event: delta` with `data: {\"text\": …}` for each piece of the answer, then "
    "`event: citations` with `data: {\"citations\": [...]}`, then `event: done` with "
    "`data: {\"answer\": <the POST /ask response>}`"
)
SSE_RESPONSE: dict[str, Any] = {
    "description": SSE_DESCRIPTION,
    "content": {"text/event-stream": {
        # the schema of each event, as OpenAPI 3.2 describes server-sent events
        "schema": {
            "type": "object",
            "required": ["event", "data"],
            "properties": {
                "event": {"type": "string", "enum": ["delta", "citations", "done"]},
                "data": {"type": "string", "description": "a JSON object: {text}, {citations} or {answer}"},
            },
        },
        "example": 'event: delta\ndata: {"text": "招远2023年黄金产业总产值900亿元[1]"}\n\n'
                   'event: citations\ndata: {"citations": []}\n\nevent: done\ndata: {"answer": {}}\n\n',
    }},
}


# ---------------------------------------------------------------------------- response models


class CitationModel(BaseModel):
    n: int = Field(..., description="the number used in the answer's [n] markers")
    chunk_id: str
    article_id: str
    title: str
    date: str | None
    date_source: str | None = Field(None, description="where the date came from: dateline, front_matter, sidecar, inferred")
    publication: str | None = Field(None, description="the newspaper, when known")
    source: str
    text: str
    score: float


class AnswerPartModel(BaseModel):
    text: str = Field(..., description="one sentence of the answer, as shown, without its marker")
    n: int | None = Field(..., description="the citation it came from (its [n]); null for text that cites nothing")
    chunk_id: str | None = Field(..., description="the cited passage's chunk id")
    span: list[int] | None = Field(
        ..., min_length=2, max_length=2,
        description="[start, end) of the quoted sentence in the cited passage's text; null when not quoted (an LLM's)")


class RefusalModel(BaseModel):
    code: str = Field(..., description="why: entity, name, year, ordinal, period, metric, unit, answer_type, coverage, "
                                       "no_passages or not_found")
    missing: list[str] = Field(..., description="what was asked for and not found, e.g. [\"2022年\"]")
    reason: str = Field(..., description="the reason in words, as the answer text gives it (may be empty)")


class AskResponse(BaseModel):
    answer: str = Field(..., description="the answer with [n] markers, or a refusal that says what was missing")
    refused: bool
    citations: list[CitationModel]
    timings_ms: dict[str, float]
    parts: list[AnswerPartModel] = Field(..., description="the answer's sentences with their sources (empty for a refusal)")
    refusal: RefusalModel | None = Field(..., description="why the articles do not answer; null when they do")


class HitModel(BaseModel):
    chunk_id: str
    article_id: str
    title: str
    date: str | None
    date_source: str | None = Field(None, description="where the date came from: dateline, front_matter, sidecar, inferred")
    publication: str | None = Field(None, description="the newspaper, when known")
    source: str
    text: str
    score: float


class SearchResponse(BaseModel):
    hits: list[HitModel]
    timings_ms: dict[str, float]


class ArticleModel(BaseModel):
    id: str
    title: str
    date: str | None
    source: str
    paragraphs: list[str]
    date_source: str | None = None
    date_evidence: str | None = Field(None, description="for an inferred date, the words it was read from")
    publication: str | None = None
    page: str | None = None


class ArticleSummary(BaseModel):
    id: str
    title: str
    date: str | None
    source: str


class ArticleList(BaseModel):
    articles: list[ArticleSummary]


class EmbedderInfo(BaseModel):
    id: str
    dim: int


class Health(BaseModel):
    status: str = Field(..., description='"ok"')
    index_dir: str
    articles: int
    chunks: int
    embedder: EmbedderInfo
    dense_index: str | None
    tokenizer: str | None
    built_at: str | None
    version: str | None
    llm: bool
    composer: str = Field("learned", description="learned (the sentence reader picks answers), rules, or "
                          "rules-then-learned (the reader reads only what the rules would refuse)")
    reader: str | None = Field(None, description="the reader model's id, with its weights' hash")


class HealthUnavailable(BaseModel):
    status: str = Field(..., description='"no index"')
    detail: str | None = Field(..., description="what is wrong and the command that repairs it")
    index_dir: str


# ---------------------------------------------------------------------------- the document


def _fix(schema: dict[str, Any]) -> dict[str, Any]:
    error_ref = {"$ref": "#/components/schemas/ErrorBody"}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault("ErrorBody", ErrorBody.model_json_schema())
    for methods in schema.get("paths", {}).values():
        for operation in methods.values():
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:
                for code in (413, 422):
                    responses.setdefault(str(code), {"description": ERRORS[code]})
            for code, response in responses.items():
                if code[0] not in "45":
                    continue
                content = response.get("content") or {}
                body = next(iter(content.values()), {}).get("schema", error_ref)
                if "HTTPValidationError" in str(body):
                    body = error_ref
                    response["description"] = ERRORS.get(int(code), response.get("description", ""))
                response["content"] = {"application/json": {"schema": body}}  # errors are JSON, even for SSE
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    return schema


def install_openapi(app: FastAPI) -> None:
    """Serve an OpenAPI document whose error declarations hold for every operation."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _fix(get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes,
            ))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
