"""The HTTP API: POST /ask, /ask/stream, /search; GET /articles/{id}, /health; docs at /docs.

Also: POST /articles and DELETE /articles/{id} (add and remove articles while serving, see
rag.uploads and LiveEngine), and the OpenAI-compatible /v1/chat/completions (rag.openai_api).

The index and the embedding model load once, in the app's lifespan, onto `app.state.engine`.
Endpoints are plain `def`s, so FastAPI runs the CPU-bound work in its thread pool, off the
event loop. User mistakes become 4xx answers with a message that says what to fix; every
status and body is declared in /openapi.json (rag/api_schema.py).
"""

import datetime
import json
import logging
from collections.abc import Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Request, Security
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from rag.api_schema import (
    NON_BLANK,
    SSE_RESPONSE,
    ArticleList,
    ArticleModel,
    AskResponse,
    ErrorBody,
    EventStream,
    Health,
    HealthUnavailable,
    SearchResponse,
    error_responses,
    install_openapi,
)
from rag.config import DEFAULT_TOP_K, MAX_QUESTION_CHARS, MAX_TOP_K
from rag.engine import Engine
from rag.errors import ArticleNotFound, IndexMismatchError, IndexMissingError, InputError, RagError
from rag.live import LiveEngine
from rag.llm import LLMClient
from rag.openai_api import OpenAIError, make_router, openai_error
from rag.ratelimit import RateLimiter
from rag.settings import Settings
from rag.uploads import Change, NotUploadedError, add_files, delete_article, record_file
from rag.types import MODES, RetrievalMode

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
    publication: str | None = Field(None, strict=True, description="one newspaper, e.g. 大众日报")
    publications: list[str] | None = Field(None, strict=True, description="several newspapers")


class AskRequest(BaseModel):
    question: str = _text("the question, in Chinese", MAX_QUESTION_CHARS, "招远2023年黄金产业总产值是多少？")
    top_k: JsonInt = Field(DEFAULT_TOP_K, ge=1, le=MAX_TOP_K, description="how many sources to cite at most")
    history: list[Turn] = Field(default_factory=list, description="earlier turns, for follow-up questions")
    filters: FilterSpec | None = None
    mode: RetrievalMode = "hybrid"


class SearchRequest(BaseModel):
    query: str = _text("what to look for", MAX_QUESTION_CHARS, "招远 黄金产业 总产值")
    top_k: JsonInt = Field(DEFAULT_TOP_K, ge=1, le=MAX_TOP_K)
    mode: RetrievalMode = "hybrid"
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
    return Engine.open(settings.index_dir, settings.embedder, llm, settings.config(), settings.composer,
                       settings.reader_dir, settings.store, settings.milvus_uri)


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _engine(request: Request) -> Engine:
    return request.app.state.live.current()


_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="the server's RAG_API_KEY")


def _check_key(request: Request, x_api_key: str | None = Security(_api_key),
               authorization: str | None = Header(None, include_in_schema=False)) -> None:
    expected = request.app.state.settings.api_key
    bearer = authorization[7:].strip() if authorization and authorization[:7].lower() == "bearer " else None
    if expected and expected not in (x_api_key, bearer):
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


class ArticleIn(BaseModel):
    """One article as JSON (the other way to add one is a file upload)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    title: str = Field("", max_length=200, examples=["日照港新航线开通"])
    text: str = Field(..., min_length=1, max_length=1_000_000, pattern=r"\S",
                      description="paragraphs separated by line breaks",
                      examples=["本报日照3月1日讯 日照港今天开通一条新的集装箱航线。"])
    date: datetime.date | None = Field(None, examples=["2024-03-01"])
    source: str | None = Field(None, max_length=200, description="shown as the citation's source")
    publication: str | None = Field(None, max_length=100, examples=["大众日报"])


class ArticleRef(BaseModel):
    id: str
    title: str
    date: str | None
    date_source: str | None
    source: str
    publication: str | None


class IndexCounts(BaseModel):
    articles: int
    chunks: int
    embedded: int = Field(description="chunks embedded by this change (the rest were reused)")
    seconds: float


class ArticlesChanged(BaseModel):
    articles: list[ArticleRef] = Field(description="the articles added, or removed")
    files: list[str] = Field(description="the corpus files written or removed, e.g. uploads/3f2a…_today.md")
    index: IndexCounts | None


_BRANCHES = {"user", "system", "developer", "assistant", "tool", "str", "list"}


def _is_openai(request: Request) -> bool:
    return request.url.path.startswith("/v1/")


def _error(request: Request, status: int, message: str, type_: str = "invalid_request_error",
           param: str | None = None) -> JSONResponse:
    """Our {"detail"} error, or OpenAI's {"error": {...}} under /v1."""
    if _is_openai(request):
        return openai_error(status, message, type_, param)
    return JSONResponse({"detail": message}, status)


def _readable(errors: list) -> str:
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        message = error.get("msg", "invalid")
        kind = error.get("type")
        if kind == "json_invalid":
            return "the request body is not valid JSON: send a JSON object such as {\"question\": \"…\"}"
        if kind == "literal_error" and where.endswith("mode"):
            message = f"mode must be one of {', '.join(MODES)}"
        if where in ("question", "query"):
            if kind in ("string_too_short", "string_pattern_mismatch"):
                return f"the {where} is empty: type a question (问题不能为空)"
            if kind == "string_too_long":
                limit = error.get("ctx", {}).get("max_length")
                return (f"the {where} is {len(error.get('input', ''))} characters long; the limit is {limit} "
                        f"(问题太长，请缩短)")
        if kind == "extra_forbidden" and where.startswith("filters."):
            return (f"unknown filter {where.removeprefix('filters.')!r}: use sources, date_from, "
                    f"date_to (YYYY-MM-DD), place, publication")
        if error.get("type") == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == r"\S":
            message = "must not be empty or only spaces"
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


async def _upload_files(request: Request) -> list[tuple[str, bytes]]:
    """(file name, bytes) from a multipart upload, or one JSON article as a .jsonl file."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        raw = await request.body()
        try:
            record = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InputError('the request body is not valid JSON: send {"title": "…", "text": "…"}') from exc
        if not isinstance(record, dict):
            raise InputError('send one article as a JSON object: {"title": "…", "text": "…", "date": "2024-03-01"}')
        try:
            article = ArticleIn.model_validate_json(raw)  # JSON mode: a date is a "2024-03-01" string
        except ValidationError as exc:
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from exc
        return [record_file(article.model_dump(mode="json", exclude_none=True))]
    if kind == "multipart/form-data":
        try:
            form = await request.form()
        except Exception as exc:  # a malformed multipart body
            raise InputError(f"the upload could not be read ({exc}): send the file in a form field named file") from exc
        uploads = [v for v in form.getlist("file") if hasattr(v, "read")]
        if not uploads:
            raise InputError("no file in the upload: send it in a form field named file")
        return [(u.filename or "upload.txt", await u.read()) for u in uploads]
    raise _UnsupportedMedia(kind)


class _UnsupportedMedia(Exception):
    pass


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """The app. Pass an engine to skip loading one (tests); otherwise the lifespan loads it."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if app.state.engine is None:
            try:
                app.state.live.adopt(load_engine(settings))
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
    app.state.live = LiveEngine(app)
    if engine is not None:
        app.state.live.adopt(engine)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"],
                           allow_headers=["*"])

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        upload = request.method == "POST" and request.url.path == "/articles"
        limit = settings.max_upload_bytes if upload else settings.max_body_bytes
        if length and length.isdigit() and int(length) > limit:
            return _error(request, 413, f"request body is {length} bytes; the limit is {limit}")
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
    async def on_validation(request: Request, exc: RequestValidationError):
        if _is_openai(request):
            errors = exc.errors()
            # the field's path, without pydantic's union branch names ("user", "constrained-str")
            path = [p for p in (errors[0].get("loc", ())[1:] if errors else ())
                    if isinstance(p, int) or (p.isidentifier() and p not in _BRANCHES)]
            param = ".".join(str(p) for p in path)
            return openai_error(400, _readable(errors), param=param or None)
        return JSONResponse({"detail": _readable(exc.errors())}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def on_http(request: Request, exc: StarletteHTTPException):
        """A 405 names every method of the path in Allow (Starlette names only the first
        route's, and GET and POST /articles are two routes)."""
        if exc.status_code == 405:
            methods = sorted({m for route in request.app.router.routes if hasattr(route, "methods")
                              and route.matches(request.scope)[0] != Match.NONE for m in route.methods or ()})
            if methods:
                return JSONResponse({"detail": "Method Not Allowed"}, 405, headers={"Allow": ", ".join(methods)})
        if _is_openai(request):
            detail = exc.detail if isinstance(exc.detail, str) else "bad request"
            if "parsing the body" in detail:
                detail = 'the request body is not valid JSON: send {"model": "rag", "messages": [...]}'
            response = openai_error(exc.status_code, detail)
            response.headers.update(getattr(exc, "headers", None) or {})
            return response
        return await http_exception_handler(request, exc)

    @app.exception_handler(OpenAIError)
    async def on_openai(_request: Request, exc: OpenAIError):
        return openai_error(exc.status, exc.message, exc.type, exc.param, exc.code)

    @app.exception_handler(IndexMissingError)
    @app.exception_handler(IndexMismatchError)
    async def on_no_index(request: Request, exc: RagError):
        return _error(request, 503, f"{exc} (then restart the server)", "server_error")

    @app.exception_handler(InputError)
    async def on_input(request: Request, exc: InputError):
        status = 404 if isinstance(exc, ArticleNotFound) else 409 if isinstance(exc, NotUploadedError) else 400
        return _error(request, status, str(exc))

    @app.exception_handler(RagError)
    async def on_rag(request: Request, exc: RagError):
        return _error(request, 400, str(exc))

    @app.exception_handler(_UnsupportedMedia)
    async def on_media(request: Request, exc: Exception):
        return _error(request, 415, f"content type {str(exc) or 'missing'} is not accepted here: send "
                      "multipart/form-data with a file field, or application/json")

    @app.exception_handler(_Unauthorized)
    async def on_unauthorized(request: Request, _exc: Exception):
        if _is_openai(request):
            return openai_error(401, "missing or wrong API key: send it as Authorization: Bearer <key>",
                                code="invalid_api_key")
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

    errors = {
        400: {"model": ErrorBody, "description": "the file or article cannot be read; the message says why"},
        401: {"model": ErrorBody, "description": "missing or wrong API key"},
        413: {"model": ErrorBody, "description": "the upload is larger than RAG_MAX_UPLOAD_BYTES"},
        503: {"model": ErrorBody, "description": "no index is loaded"},
    }

    @app.post(
        "/articles",
        dependencies=guarded,
        status_code=201,
        summary="Add articles while serving: a file upload, or one article as JSON",
        description=(
            "Send a file as multipart/form-data (field `file`: .txt, .md, .html or .jsonl, UTF-8 or GB18030), "
            "or one article as JSON `{title, text, date, source, publication}`. The file is stored under "
            "`uploads/` in the corpus folder the index was built from, and the index is updated "
            "incrementally; questions keep being answered from the old index until the new one is ready."
        ),
        responses={**errors, 415: {"model": ErrorBody, "description": "neither JSON nor a multipart upload"},
                   422: {"model": ErrorBody, "description": "a JSON article with a missing or malformed field"}},
        openapi_extra={"requestBody": {"required": True, "content": {
            "application/json": {"schema": ArticleIn.model_json_schema()},
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["file"],
                           "properties": {"file": {"type": "string", "format": "binary"}}},
                "encoding": {"file": {"contentType": "text/plain, text/markdown, text/html, application/jsonl"}},
            },
        }}},
    )
    async def add_article(request: Request) -> ArticlesChanged:
        files = await _upload_files(request)
        live: LiveEngine = request.app.state.live
        change = await run_in_threadpool(
            live.update, lambda engine, corpus: add_files(corpus, engine.index.path, engine.embedder, files)
        )
        return ArticlesChanged.model_validate(change.to_dict())

    @app.delete(
        "/articles/{article_id}",
        dependencies=guarded,
        summary="Remove an uploaded article (and the rest of its uploaded file)",
        responses={
            401: errors[401], 503: errors[503],
            404: {"model": ErrorBody, "description": "no article with that id"},
            409: {"model": ErrorBody, "description": "the article is part of the corpus proper, not an upload"},
        },
    )
    def remove_article(article_id: str, request: Request) -> ArticlesChanged:
        live: LiveEngine = request.app.state.live
        engine = live.current()
        engine.article(article_id)  # 404 before taking the write lock
        change = live.update(lambda e, corpus: delete_article(corpus, e.index.path, e.embedder, article_id))
        return ArticlesChanged.model_validate(change.to_dict())

    app.include_router(make_router(_engine, _check_key if settings.api_key else None))

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

        live = app.state.live

        def add_from_ui(files: list[tuple[str, bytes]], key: str | None) -> Change:
            if settings.api_key and key != settings.api_key:
                raise RagError("API 密钥不对：添加文章需要服务器的 API 密钥（RAG_API_KEY）")
            return live.update(lambda e, corpus: add_files(corpus, e.index.path, e.embedder, files))

        mount_ui(app, live.current, add_articles=add_from_ui, key_required=bool(settings.api_key))
    return app
