"""The HTTP API: POST /ask, /ask/stream, /search; GET /articles/{id}, /health; docs at /docs.

The index and the embedding model load once, in the app's lifespan, onto `app.state.engine`.
Endpoints are plain `def`s, so FastAPI runs the CPU-bound work in its thread pool, off the
event loop. User mistakes become 4xx answers with a message that says what to fix; every
status and body is declared in /openapi.json (rag/api_schema.py).
"""

import json
import logging
from collections.abc import Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from rag.api_schema import (
    NON_BLANK,
    SSE_RESPONSE,
    ArticleList,
    ArticleModel,
    AskResponse,
    EventStream,
    Health,
    HealthUnavailable,
    SearchResponse,
    error_responses,
    install_openapi,
)
from rag.engine import MAX_QUESTION_CHARS, MAX_TOP_K, Engine
from rag.errors import IndexMismatchError, IndexMissingError, InputError, RagError
from rag.llm import LLMClient
from rag.ratelimit import RateLimiter
from rag.settings import Settings

__all__ = ["create_app", "load_engine"]

log = logging.getLogger(__name__)


def _json_int(value: Any) -> Any:
    """An integer as JSON Schema means it (1 and 1.0), not a string or a boolean."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("Input should be a valid integer")
    return value


JsonInt = Annotated[int, BeforeValidator(_json_int)]


def _text(description: str, max_chars: int, example: str) -> Any:
    """A question or query: 1..max_chars characters, not all blank (what the engine accepts)."""
    return Field(..., min_length=1, max_length=max_chars, pattern=NON_BLANK, strict=True,
                 description=description, examples=[example])


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(..., strict=True)


class FilterSpec(BaseModel):
    """Optional restrictions on the passages searched."""

    model_config = ConfigDict(extra="forbid")

    sources: list[str] | None = Field(None, strict=True, description="corpus file names, as in citations' source")
    source: str | None = Field(None, strict=True, description="one corpus file name (the same as sources: [it])")
    date_from: str | None = Field(None, strict=True, json_schema_extra={"format": "date"},
                                  description="earliest article date, YYYY-MM-DD")
    date_to: str | None = Field(None, strict=True, json_schema_extra={"format": "date"},
                                description="latest article date, YYYY-MM-DD")
    place: str | None = Field(None, strict=True, description="a place the passage names, e.g. 招远")


class AskRequest(BaseModel):
    question: str = _text("the question, in Chinese", MAX_QUESTION_CHARS, "招远2023年黄金产业总产值是多少？")
    top_k: JsonInt = Field(5, ge=1, le=MAX_TOP_K, description="how many sources to cite at most")
    history: list[Turn] = Field(default_factory=list, description="earlier turns, for follow-up questions")
    filters: FilterSpec | None = None
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"


class SearchRequest(BaseModel):
    query: str = _text("what to look for", MAX_QUESTION_CHARS, "招远 黄金产业 总产值")
    top_k: JsonInt = Field(5, ge=1, le=MAX_TOP_K)
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"
    filters: FilterSpec | None = None


def _request_models(max_chars: int) -> tuple[type[AskRequest], type[SearchRequest]]:
    """The request models with the question length limit this server enforces."""
    if max_chars == MAX_QUESTION_CHARS:
        return AskRequest, SearchRequest
    ask = create_model("AskRequest", __base__=AskRequest,
                       question=(str, _text("the question, in Chinese", max_chars, "招远2023年黄金产业总产值是多少？")))
    search = create_model("SearchRequest", __base__=SearchRequest,
                          query=(str, _text("what to look for", max_chars, "招远 黄金产业 总产值")))
    return ask, search


def _filters(spec: FilterSpec | None) -> dict | None:
    return spec.model_dump(exclude_none=True) if spec is not None else None


def load_engine(settings: Settings) -> Engine:
    llm = None
    if settings.llm_base_url and settings.llm_model:
        llm = LLMClient(settings.llm_base_url, settings.llm_model, settings.llm_api_key, settings.llm_timeout_s)
    engine = Engine.open(settings.index_dir, settings.embedder, llm, settings.max_question_chars,
                         settings.composer, settings.reader_dir)
    engine.fusion = settings.fusion
    if settings.dense_weight is not None:
        engine.dense_weight = settings.dense_weight
    return engine


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _engine(request: Request) -> Engine:
    engine = request.app.state.engine
    if engine is None:
        raise IndexMissingError(request.app.state.engine_error or "no index is loaded")
    return engine


_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="the server's RAG_API_KEY")


def _check_key(request: Request, x_api_key: str | None = Security(_api_key)) -> None:
    expected = request.app.state.settings.api_key
    if expected and x_api_key != expected:
        raise _Unauthorized()


def _rate_limit(request: Request, x_api_key: str | None = Security(_api_key)) -> None:
    limiter: RateLimiter | None = request.app.state.rate_limiter
    if limiter is not None:
        wait = limiter.check(x_api_key or (request.client.host if request.client else "unknown"))
        if wait:
            raise _TooMany(wait)


class _Unauthorized(Exception):
    pass


class _TooMany(Exception):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after


def _readable(errors: list) -> str:
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        message = error.get("msg", "invalid")
        kind = error.get("type")
        if kind == "json_invalid":
            return "the request body is not valid JSON: send a JSON object such as {\"question\": \"…\"}"
        if kind == "literal_error" and where.endswith("mode"):
            message = "mode must be one of hybrid, dense, bm25"
        if where in ("question", "query"):
            if kind in ("string_too_short", "string_pattern_mismatch"):
                return f"the {where} is empty: type a question (问题不能为空)"
            if kind == "string_too_long":
                limit = error.get("ctx", {}).get("max_length")
                return (f"the {where} is {len(error.get('input', ''))} characters long; the limit is {limit} "
                        f"(问题太长，请缩短)")
        if kind == "extra_forbidden" and where.startswith("filters."):
            return (f"unknown filter {where.removeprefix('filters.')!r}: use sources, date_from, "
                    f"date_to (YYYY-MM-DD), place")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """The app. Pass an engine to skip loading one (tests); otherwise the lifespan loads it."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if app.state.engine is None:
            try:
                app.state.engine = load_engine(settings)
                log.info("index loaded from %s", settings.index_dir)
            except RagError as exc:  # the server still starts: /health and every endpoint say what is wrong
                app.state.engine_error = str(exc)
                logging.getLogger("uvicorn.error").error("no index loaded: %s", exc)
        yield

    app = FastAPI(
        title="Chinese news QA",
        version="0.1.0",
        lifespan=lifespan,
        description="Ask questions about the indexed newspaper articles; answers cite their sources.",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.engine_error = None
    app.state.rate_limiter = RateLimiter(settings.ask_rate_limit) if settings.ask_rate_limit else None
    install_openapi(app)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"],
                           allow_headers=["*"])

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.max_body_bytes:
            return JSONResponse(
                {"detail": f"request body is {length} bytes; the limit is {settings.max_body_bytes}"}, 413
            )
        return await call_next(request)

    ui_guarded = settings.ui and settings.api_key and not settings.ui_public

    @app.middleware("http")
    async def guard_ui(request: Request, call_next):
        # The chat page answers questions too: with an API key set it wants the key as well (a
        # reverse proxy can add the header), unless RAG_UI_PUBLIC says the page is for everyone.
        if ui_guarded and (request.url.path == "/ui" or request.url.path.startswith("/ui/")) \
                and request.headers.get("x-api-key") != settings.api_key:
            return JSONResponse({"detail": "the chat page needs the API key (X-API-Key header) while RAG_API_KEY "
                                           "is set; set RAG_UI_PUBLIC=true to open it to everyone"}, 401)
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def on_validation(_request: Request, exc: RequestValidationError):
        return JSONResponse({"detail": _readable(exc.errors())}, 422)

    @app.exception_handler(IndexMissingError)
    @app.exception_handler(IndexMismatchError)
    async def on_no_index(_request: Request, exc: RagError):
        return JSONResponse({"detail": f"{exc} (then restart the server)"}, 503)

    @app.exception_handler(InputError)
    async def on_input(_request: Request, exc: InputError):
        status = 404 if str(exc).startswith("no article") else 400
        return JSONResponse({"detail": str(exc)}, status)

    @app.exception_handler(RagError)
    async def on_rag(_request: Request, exc: RagError):
        return JSONResponse({"detail": str(exc)}, 400)

    @app.exception_handler(_Unauthorized)
    async def on_unauthorized(_request: Request, _exc: Exception):
        return JSONResponse({"detail": "missing or wrong API key: send it in the X-API-Key header"}, 401)

    @app.exception_handler(_TooMany)
    async def on_too_many(_request: Request, exc: _TooMany):
        return JSONResponse(
            {"detail": f"too many questions from this client (limit {settings.ask_rate_limit} a minute): "
                       f"ask again in {exc.retry_after} s"}, 429, headers={"Retry-After": str(exc.retry_after)})

    # Which statuses each kind of endpoint can answer, declared in /openapi.json with their bodies.
    guarded = [Depends(_check_key)] if settings.api_key else []
    auth = (401,) if settings.api_key else ()
    limited = [Depends(_rate_limit)] if settings.ask_rate_limit else []
    too_many = (429,) if settings.ask_rate_limit else ()
    AskBody, SearchBody = _request_models(settings.max_question_chars)

    @app.post("/ask", dependencies=guarded + limited, summary="Answer a question with citations",
              response_model=AskResponse, responses=error_responses(400, *auth, 413, 422, *too_many, 503))
    def ask(body: AskBody, engine: Engine = Depends(_engine)) -> dict:  # type: ignore[valid-type]
        history = [t.model_dump() for t in body.history]
        return engine.ask(body.question, body.top_k, history, body.mode, _filters(body.filters)).to_dict()

    @app.post("/ask/stream", dependencies=guarded + limited, summary="The same answer as server-sent events",
              response_class=EventStream,
              responses={200: SSE_RESPONSE, **error_responses(400, *auth, 413, 422, *too_many, 503)})
    def ask_stream(body: AskBody, engine: Engine = Depends(_engine)) -> EventStream:  # type: ignore[valid-type]
        history = [t.model_dump() for t in body.history]
        # Validate and compute before the response starts, so errors still get a status code.
        events = list(engine.ask_stream(body.question, body.top_k, history, body.mode, _filters(body.filters)))

        def stream() -> Iterator[str]:
            for event in events:
                name = event.pop("event")
                yield f"event: {name}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"

        return EventStream(stream())

    @app.post("/search", dependencies=guarded, summary="Retrieve passages without composing an answer",
              response_model=SearchResponse, responses=error_responses(400, *auth, 413, 422, 503))
    def search(body: SearchBody, engine: Engine = Depends(_engine)) -> dict:  # type: ignore[valid-type]
        hits, timings = engine.search_timed(body.query, body.top_k, body.mode, _filters(body.filters))
        return {"hits": [h.to_dict() for h in hits], "timings_ms": timings}

    @app.get("/articles", dependencies=guarded, summary="List the indexed articles",
             response_model=ArticleList, responses=error_responses(*auth, 503))
    def articles(engine: Engine = Depends(_engine)) -> dict:
        return {"articles": [{"id": a.id, "title": a.title, "date": a.date, "source": a.source}
                             for a in engine.index.articles.values()]}

    @app.get("/articles/{article_id}", dependencies=guarded, summary="One whole cleaned article",
             response_model=ArticleModel, responses=error_responses(*auth, 404, 422, 503))
    def article(article_id: str, engine: Engine = Depends(_engine)) -> dict:
        return engine.article(article_id).to_dict()

    @app.get("/health", summary="Whether an index is loaded, with its counts (open without the API key)",
             responses={200: {"model": Health, "description": "an index is loaded"},
                        503: {"model": HealthUnavailable,
                              "description": "no index is loaded; `detail` says why and how to repair it"}})
    def health(request: Request, settings: Settings = Depends(_settings)) -> JSONResponse:
        engine = request.app.state.engine
        if engine is None:
            return JSONResponse({"status": "no index", "detail": request.app.state.engine_error,
                                 "index_dir": str(settings.index_dir)}, 503)
        return JSONResponse(engine.health())

    if settings.ui:
        from ui.app import mount_ui

        def get_engine() -> Engine:
            if app.state.engine is None:
                raise IndexMissingError(app.state.engine_error or "no index is loaded")
            return app.state.engine

        mount_ui(app, get_engine)
    return app
