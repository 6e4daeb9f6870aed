"""The HTTP API: POST /ask, /ask/stream, /search; GET /articles/{id}, /health; docs at /docs.

The index and the embedding model load once, in the app's lifespan, onto `app.state.engine`.
Endpoints are plain `def`s, so FastAPI runs the CPU-bound work in its thread pool, off the
event loop. User mistakes become 4xx answers with a message that says what to fix.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import asynccontextmanager
from typing import Literal

from fastapi import Depends, FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from rag.engine import MAX_TOP_K, Engine
from rag.errors import IndexMismatchError, IndexMissingError, InputError, RagError
from rag.llm import LLMClient
from rag.settings import Settings

__all__ = ["create_app", "load_engine"]

log = logging.getLogger(__name__)


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: str


class AskRequest(BaseModel):
    question: str = Field(..., description="the question, in Chinese", examples=["招远2023年黄金产业总产值是多少？"])
    top_k: int = Field(5, ge=1, le=MAX_TOP_K, description="how many sources to cite at most")
    history: list[Turn] = Field(default_factory=list, description="earlier turns, for follow-up questions")
    filters: dict | None = Field(None, description="optional: sources, date_from, date_to, place")
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"


class SearchRequest(BaseModel):
    query: str = Field(..., examples=["招远 黄金产业 总产值"])
    top_k: int = Field(5, ge=1, le=MAX_TOP_K)
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"
    filters: dict | None = None


def load_engine(settings: Settings) -> Engine:
    llm = None
    if settings.llm_base_url and settings.llm_model:
        llm = LLMClient(settings.llm_base_url, settings.llm_model, settings.llm_api_key, settings.llm_timeout_s)
    engine = Engine.open(settings.index_dir, settings.embedder, llm, settings.max_question_chars)
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


def _check_key(request: Request, x_api_key: str | None = Header(None)) -> None:
    expected = request.app.state.settings.api_key
    if expected and x_api_key != expected:
        raise _Unauthorized()


class _Unauthorized(Exception):
    pass


def _readable(errors: list) -> str:
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        message = error.get("msg", "invalid")
        if error.get("type") == "json_invalid":
            return "the request body is not valid JSON: send a JSON object such as {\"question\": \"…\"}"
        if error.get("type") == "literal_error" and where.endswith("mode"):
            message = "mode must be one of hybrid, dense, bm25"
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

    guarded = [Depends(_check_key)]

    @app.post("/ask", dependencies=guarded, summary="Answer a question with citations")
    def ask(body: AskRequest, engine: Engine = Depends(_engine)) -> dict:
        history = [t.model_dump() for t in body.history]
        return engine.ask(body.question, body.top_k, history, body.mode, body.filters).to_dict()

    @app.post("/ask/stream", dependencies=guarded, summary="The same answer as server-sent events")
    def ask_stream(body: AskRequest, engine: Engine = Depends(_engine)) -> StreamingResponse:
        history = [t.model_dump() for t in body.history]
        # Validate and compute before the response starts, so errors still get a status code.
        events = list(engine.ask_stream(body.question, body.top_k, history, body.mode, body.filters))

        def stream() -> Iterator[str]:
            for event in events:
                name = event.pop("event")
                yield f"event: {name}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.post("/search", dependencies=guarded, summary="Retrieve passages without composing an answer")
    def search(body: SearchRequest, engine: Engine = Depends(_engine)) -> dict:
        hits, timings = engine.search_timed(body.query, body.top_k, body.mode, body.filters)
        return {"hits": [h.to_dict() for h in hits], "timings_ms": timings}

    @app.get("/articles", dependencies=guarded, summary="List the indexed articles")
    def articles(engine: Engine = Depends(_engine)) -> dict:
        return {"articles": [{"id": a.id, "title": a.title, "date": a.date, "source": a.source}
                             for a in engine.index.articles.values()]}

    @app.get("/articles/{article_id}", dependencies=guarded, summary="One whole cleaned article")
    def article(article_id: str, engine: Engine = Depends(_engine)) -> dict:
        return engine.article(article_id).to_dict()

    @app.get("/health", summary="Whether an index is loaded, with its counts")
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
