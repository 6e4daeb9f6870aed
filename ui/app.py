"""The Gradio chat UI, mounted inside the FastAPI app at /ui.

The chat calls the same answer function as `POST /ask` (`engine.ask_stream`), streams the
answer in, and shows one source card per citation under it: title, date, source file, the
passage with the sentence that carried the marker `[n]` highlighted, and the whole article in
an expandable `<details>`. Every piece of document text is HTML-escaped before it is put
into the page, so markup inside an article is shown as text and never runs.

The highlighted sentences are the spans the answer's parts name (`Answer.parts`), so nothing is
guessed. Simplification: the full article is embedded in each card rather than fetched on click.

Example:
    >>> from fastapi import FastAPI
    >>> app = mount_ui(FastAPI(), get_engine=lambda: engine)  # doctest: +SKIP
    >>> # uvicorn serves app; http://host:port/ redirects to the chat at /ui/
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse

from rag.errors import RagError
from rag.types import MODES as RETRIEVAL_MODES
from rag.config import DEFAULT_TOP_K
from rag.profile import active as active_profile
from rag.text import CITATION_MARKER
from rag.types import AnswerPart, Article, Citation

if TYPE_CHECKING:
    from rag.engine import Engine

__all__ = ["MODES", "build_ui", "make_filters", "mount_ui", "render_answer"]

log = logging.getLogger(__name__)

CSS_PATH = Path(__file__).parent / "static" / "chat.css"

_MODE_LABELS = {"hybrid": "混合检索（推荐）", "dense": "向量检索", "bm25": "关键词检索 BM25"}
MODES: tuple[tuple[str, str], ...] = tuple((_MODE_LABELS[mode], mode) for mode in RETRIEVAL_MODES)

UNEXPECTED_ERROR = "出错了：服务器内部错误，已记录到服务器日志。请稍后再试，或换个问法。"
REFUSED_BADGE = "未找到答案"

_NOT_WORD = re.compile(r"[\W_]+")

Messages = list[dict[str, str]]
Outputs = tuple[Messages, Messages, Messages, str]


# ----------------------------------------------------------------------------------- text


def _esc(text: str | None) -> str:
    """HTML-escape text (quotes too), keeping line breaks visible without blank lines."""
    return html.escape(text or "", quote=True).replace("\n", "<br>")


Span = tuple[int, int]


def part_spans(parts: Sequence[AnswerPart | dict[str, Any]]) -> dict[int, list[Span]]:
    """For each citation number, the spans of its passage that the answer quotes.

    >>> part_spans([{"text": "甲。", "n": 1, "chunk_id": "c", "span": [3, 6]}, {"text": "乙", "n": None}])
    {1: [(3, 6)]}
    """
    found: dict[int, list[Span]] = {}
    for part in parts:
        n, span = (part.get("n"), part.get("span")) if isinstance(part, dict) else (part.n, part.span)
        if n is not None and span:
            found.setdefault(int(n), []).append((int(span[0]), int(span[1])))
    return found


def highlight(passage: str, spans: Sequence[Span]) -> str:
    """Escaped passage HTML with the given [start, end) spans in `<mark>`."""
    out: list[str] = []
    pos = 0
    for start, end in sorted(set(spans)):
        start, end = max(start, pos), min(end, len(passage))
        if start >= end:
            continue
        out += [_esc(passage[pos:start]), "<mark>", _esc(passage[start:end]), "</mark>"]
        pos = end
    out.append(_esc(passage[pos:]))
    return "".join(out)


def _answer_text_html(answer: str, titles: dict[int, str]) -> str:
    """Escaped answer text with each `[n]` as a superscript that names its source."""

    def sup(match: re.Match[str]) -> str:
        n = int(match.group(1))
        title = html.escape(titles.get(n, ""), quote=True)
        return f'<sup class="rag-cite" title="{title}">[{n}]</sup>'

    return CITATION_MARKER.sub(sup, _esc(answer))


# ---------------------------------------------------------------------------------- cards


def _article_html(article: Article, passage: str) -> str:
    """The whole article in a <details>, with the cited passage's paragraphs marked."""
    cited = _NOT_WORD.sub("", passage)
    paragraphs = []
    for p in article.paragraphs:
        key = _NOT_WORD.sub("", p)
        hit = len(key) >= 8 and (key in cited or (len(cited) >= 8 and cited in key))
        cls = ' class="rag-cited-para"' if hit else ""
        paragraphs.append(f"<p{cls}>{_esc(p)}</p>")
    length = sum(len(p) for p in article.paragraphs)
    return (
        f'<details class="rag-article"><summary>阅读全文（{length} 字）</summary>'
        f'<div class="rag-article-body"><h4>{_esc(article.title)}</h4>'
        f"{''.join(paragraphs)}</div></details>"
    )


# How a card says where its date came from (Article.date_source, see rag.types.DATE_SOURCES).
DATE_LABELS = {
    "dateline": "据电头",
    "front_matter": "据文件元数据",
    "sidecar": "据 meta.jsonl",
    "inferred": "推断",
}


def _date_html(c: Citation, article: Article | None) -> str:
    """The date with where it came from; an inferred one says so, with its evidence on hover."""
    if not c.date:
        return "日期不详"
    label = DATE_LABELS.get(c.date_source or "", "")
    if not label:
        return _esc(c.date)
    evidence = html.escape((article.date_evidence if article else None) or "", quote=True)
    kind = html.escape(c.date_source or "", quote=True)
    return (f'<span class="rag-date rag-date-{kind}" title="{evidence}">{_esc(c.date)}'
            f'<span class="rag-date-source">（{label}）</span></span>')


def _card_html(c: Citation, spans: Sequence[Span], article: Article | None) -> str:
    parts = [_date_html(c, article)] + [_esc(x) for x in (c.publication, c.source) if x]
    meta = " · ".join(parts)
    full = _article_html(article, c.text) if article else '<div class="rag-muted">原文暂不可用</div>'
    return (
        f'<div class="rag-card"><div class="rag-card-head"><span class="rag-card-n">{c.n}</span>'
        f'<span class="rag-card-title">{_esc(c.title) or "（无标题）"}</span></div>'
        f'<div class="rag-card-meta">{meta}</div>'
        f'<div class="rag-passage">{highlight(c.text, spans)}</div>{full}</div>'
    )


def render_answer(
    answer: str,
    citations: Sequence[Citation],
    *,
    refused: bool = False,
    articles: dict[str, Article] | None = None,
    streaming: bool = False,
    parts: Sequence[AnswerPart | dict[str, Any]] = (),
) -> str:
    """The assistant message as HTML: answer text, refusal badge, then the source cards, each
    with the sentences the answer quotes from it (the parts' spans) highlighted.

    All text from the engine (answer, titles, passages, articles) is escaped here.
    """
    articles = articles or {}
    titles = {c.n: c.title for c in citations}
    text = _answer_text_html(answer, titles)
    cursor = '<span class="rag-cursor">▍</span>' if streaming else ""
    badge = f'<div class="rag-badge rag-badge-refused">{REFUSED_BADGE}</div>' if refused else ""
    out = [f'<div class="rag-answer{" rag-refused" if refused else ""}">{badge}']
    out.append(f'<div class="rag-answer-text">{text or "正在检索资料…"}{cursor}</div>')
    if citations:
        label = "最接近的资料（未能直接回答问题）" if refused else f"来源（{len(citations)}）"
        spans = part_spans(parts)  # a refusal has no parts: its sources answer nothing
        cards = "".join(_card_html(c, spans.get(c.n, []), articles.get(c.article_id)) for c in citations)
        out.append(f'<div class="rag-sources"><div class="rag-sources-title">{label}</div>{cards}</div>')
    out.append("</div>")
    return "".join(out)


def render_error(message: str) -> str:
    """A readable error bubble (the message is escaped)."""
    return f'<div class="rag-error"><span class="rag-badge rag-badge-error">无法回答</span>{_esc(message)}</div>'


# ----------------------------------------------------------------------------------- chat


def _fetch_articles(engine: Engine, citations: Sequence[Citation]) -> dict[str, Article]:
    """The cited articles by id; one that cannot be loaded is left out (its card says so)."""
    found: dict[str, Article] = {}
    for article_id in dict.fromkeys(c.article_id for c in citations):
        try:
            found[article_id] = engine.article(article_id)
        except RagError as exc:
            log.warning("article %s not shown: %s", article_id, exc)
        except Exception:
            log.exception("loading article %s failed", article_id)
    return found


def _citations(items: Sequence[dict[str, Any]]) -> list[Citation]:
    return [Citation(**item) for item in items]


def respond(
    question: str,
    display: Messages,
    history: Messages,
    top_k: float,
    mode: str,
    *,
    get_engine: Callable[[], Engine],
    filters: dict[str, Any] | None = None,
) -> Iterator[Outputs]:
    """Stream one chat turn. Yields (chatbot messages, display state, history state, textbox).

    `display` holds the HTML messages shown in the chat; `history` the plain
    {"role", "content"} turns that follow-up questions send to the engine.
    """
    question = (question or "").strip()
    if not question:
        yield display, display, history, ""
        return
    shown = [*display, {"role": "user", "content": _esc(question)}]
    pending = render_answer("", [], streaming=True)
    yield [*shown, {"role": "assistant", "content": pending}], display, history, ""
    try:
        engine = get_engine()
        text, cites, final, parts = "", [], None, []
        for event in engine.ask_stream(
            question, top_k=int(top_k), history=list(history) or None, mode=mode, filters=filters or None
        ):
            kind = event.get("event")
            if kind == "delta":
                text += event.get("text", "")
            elif kind == "citations":
                cites = _citations(event.get("citations", []))
            elif kind == "done":
                final = event["answer"]
                continue
            html_now = render_answer(text, cites, streaming=True)
            yield [*shown, {"role": "assistant", "content": html_now}], display, history, ""
        if final is not None:
            text, cites, parts = final["answer"], _citations(final.get("citations", [])), final.get("parts", [])
        refused = bool(final and final.get("refused"))
        body = render_answer(text, cites, refused=refused, articles=_fetch_articles(engine, cites), parts=parts)
        turn = [{"role": "user", "content": question}, {"role": "assistant", "content": text}]
        history = [*history, *turn]
    except RagError as exc:
        body = render_error(str(exc))
    except Exception:
        log.exception("chat turn failed for question %r", question)
        body = render_error(UNEXPECTED_ERROR)
    display = [*shown, {"role": "assistant", "content": body}]
    yield display, display, history, ""


def index_status(get_engine: Callable[[], Engine]) -> str:
    """One line about the loaded index, or the reason there is none (escaped HTML)."""
    try:
        info = get_engine().health()
    except RagError as exc:
        return f'<div class="rag-status rag-status-bad">{_esc(str(exc))}</div>'
    except Exception:
        log.exception("health check failed")
        return f'<div class="rag-status rag-status-bad">{_esc(UNEXPECTED_ERROR)}</div>'
    embedder = info.get("embedder", "?")
    if isinstance(embedder, dict):  # the manifest's {"id": ..., "dim": ...}
        embedder = embedder.get("id", "?")
    parts = [f"{info.get('articles', '?')} 篇文章", f"{info.get('chunks', '?')} 个段落", f"向量模型 {embedder}"]
    return f'<div class="rag-status">索引已加载：{_esc(" · ".join(parts))}</div>'


def make_filters(date_from: str | None, date_to: str | None, publications: Sequence[str] | None) -> dict[str, Any]:
    """The settings panel's filters as `/ask` takes them (empty fields left out).

    >>> make_filters("2024-01-01", "", ["大众日报"])
    {'date_from': '2024-01-01', 'publications': ['大众日报']}
    """
    filters: dict[str, Any] = {}
    for name, value in (("date_from", date_from), ("date_to", date_to)):
        value = (value or "").strip()
        if value:
            if not re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", value):
                raise RagError(f"日期请写成 2024-02-21 的样子（{'起始' if name == 'date_from' else '截止'}日期：{value}）")
            filters[name] = value
    if publications:
        filters["publications"] = list(publications)
    return filters


def publications_of(engine: Any) -> list[str]:
    """The newspapers named by the loaded articles (for the filter's choices)."""
    try:
        articles = engine.index.articles.values()
    except AttributeError:
        return []
    return sorted({a.publication for a in articles if getattr(a, "publication", None)})


AddArticles = Callable[[list[tuple[str, bytes]], str | None], Any]


def upload_articles(paths: Sequence[Any] | None, key: str | None, add: AddArticles | None) -> str:
    """Add the uploaded files to the index; one line saying what was added (escaped HTML)."""
    if add is None:
        return '<div class="rag-status rag-status-bad">此服务器未开放添加文章。</div>'
    files = []
    for item in paths or []:
        path = Path(getattr(item, "name", None) or str(item))
        files.append((path.name, path.read_bytes()))
    if not files:
        return '<div class="rag-status rag-status-bad">请先选择文件（.txt、.md、.html 或 .jsonl）。</div>'
    try:
        change = add(files, key or None)
    except RagError as exc:
        return f'<div class="rag-status rag-status-bad">{_esc(str(exc))}</div>'
    except Exception:
        log.exception("adding %d file(s) failed", len(files))
        return f'<div class="rag-status rag-status-bad">{_esc(UNEXPECTED_ERROR)}</div>'
    titles = "、".join(f"《{a.title}》" for a in change.articles[:5]) + ("等" if len(change.articles) > 5 else "")
    return f'<div class="rag-status">已添加 {len(change.articles)} 篇文章：{_esc(titles)}</div>'


# -------------------------------------------------------------------------------- layout

_HEADER = (
    '<div class="rag-header"><h1>报纸问答助手</h1>'
    "<p>根据已收录的报纸文章回答问题；答案中的 [n] 对应下方的来源卡片，点击“阅读全文”查看原文。</p></div>"
)


# Scrolling. While an answer streams, the chat's own autoscroll follows it. When the turn
# ends, scroll back up so the latest question sits at the top: with five source cards the
# chat would otherwise stay on the last card, below the answer. The chat's autoscroll fires
# 300 ms after its last update, so the jump waits 800 ms. On submit, go to the bottom first
# so that autoscroll (which only follows a chat already at the bottom) shows the new turn.
_SCROLL_BOX = """
const scrollBox = (el) => {
  let box = el && el.parentElement;
  while (box && box.scrollHeight <= box.clientHeight) box = box.parentElement;
  return box;
};
"""
_SCROLL_TO_BOTTOM = (
    "() => { const chat = document.querySelector('#rag-chat .rag-answer, #rag-chat .rag-error');"
    + _SCROLL_BOX
    + "const box = scrollBox(chat); if (box) box.scrollTop = box.scrollHeight; }"
)
_SCROLL_TO_LATEST = (
    "() => setTimeout(() => {"
    + _SCROLL_BOX
    + """
  const answers = document.querySelectorAll('#rag-chat .rag-answer, #rag-chat .rag-error');
  const last = answers[answers.length - 1];
  const box = scrollBox(last);
  if (!box) return;
  box.scrollTop += last.getBoundingClientRect().top - box.getBoundingClientRect().top - 110;
}, 800)"""
)


def _example_text(event: gr.SelectData) -> str:
    value = event.value
    return value.get("text", "") if isinstance(value, dict) else str(value)


def _reset() -> tuple[Messages, Messages, Messages, str]:
    return [], [], [], ""


def build_ui(get_engine: Callable[[], Engine], add_articles: AddArticles | None = None,
             key_required: bool = False) -> gr.Blocks:
    """The chat page. `get_engine` returns the app's engine or raises a RagError;
    `add_articles(files, api_key)` adds uploaded files (no upload control without it)."""

    def chat(question: str, display: Messages, history: Messages, top_k: float, mode: str,
             date_from: str = "", date_to: str = "", publications: list[str] | None = None) -> Iterator[Outputs]:
        try:
            filters = make_filters(date_from, date_to, publications)
        except RagError as exc:
            shown = [*display, {"role": "user", "content": _esc(question)},
                     {"role": "assistant", "content": render_error(str(exc))}]
            yield shown, shown, history, question
            return
        yield from respond(question, display, history, top_k, mode, get_engine=get_engine, filters=filters)

    def ask(question: str, history: list[dict[str, str]] | None = None, top_k: int = DEFAULT_TOP_K,
            mode: str = "hybrid") -> dict[str, Any]:
        """Answer a question as POST /ask does: {answer, refused, citations, timings_ms}."""
        return get_engine().ask(question, int(top_k), history or None, mode).to_dict()

    with gr.Blocks(title="报纸问答助手") as demo:
        display = gr.State([])
        history = gr.State([])
        with gr.Row(equal_height=False):
            with gr.Column(scale=4, min_width=360):
                gr.HTML(_HEADER)
                chatbot = gr.Chatbot(
                    elem_id="rag-chat",
                    show_label=False,
                    height="68vh",
                    layout="panel",
                    latex_delimiters=[],
                    buttons=[],
                    feedback_options=None,
                    placeholder="<div class='rag-placeholder'>有什么想了解的？试试下面的示例问题。</div>",
                    examples=[{"text": q} for q in active_profile().example_questions],  # the corpus profile's
                )
                with gr.Row(equal_height=True):
                    question = gr.Textbox(
                        elem_id="rag-question",
                        show_label=False,
                        placeholder="输入问题，按回车发送，例如：招远市2024年谋划了多少个以工代赈重点工程项目？",
                        max_lines=4,
                        scale=8,
                        autofocus=True,
                    )
                    send = gr.Button("发送", elem_id="rag-send", variant="primary", scale=1, min_width=80)
            with gr.Column(scale=1, min_width=220, elem_id="rag-side"):
                with gr.Accordion("设置", open=True):
                    top_k = gr.Slider(1, 10, value=DEFAULT_TOP_K, step=1, label="来源数量")
                    mode = gr.Radio(list(MODES), value="hybrid", label="检索方式")
                    date_from = gr.Textbox("", label="起始日期", placeholder="2024-01-01", max_lines=1,
                                           info="设定日期后，日期不详的文章不参与检索", elem_id="rag-date-from")
                    date_to = gr.Textbox("", label="截止日期", placeholder="2024-12-31", max_lines=1, elem_id="rag-date-to")
                    publications = gr.Dropdown([], value=[], multiselect=True, label="报纸", allow_custom_value=True,
                                               info="不选即全部",
                                               elem_id="rag-publications")
                if add_articles is not None:
                    with gr.Accordion("添加文章", open=False, elem_id="rag-add"):
                        files = gr.File(file_count="multiple", file_types=[".txt", ".md", ".html", ".htm", ".jsonl"],
                                        label="文章文件（.txt、.md、.html、.jsonl）", elem_id="rag-files")
                        key = gr.Textbox(label="API 密钥", type="password", max_lines=1, visible=key_required)
                        add = gr.Button("添加到索引", elem_id="rag-add-button", variant="secondary")
                        added = gr.HTML(elem_id="rag-added")
                new_chat = gr.Button("新对话", elem_id="rag-new", variant="secondary")
                status = gr.HTML(elem_id="rag-status")

        inputs = [question, display, history, top_k, mode, date_from, date_to, publications]
        outputs = [chatbot, display, history, question]
        # The engine is read-only after loading, so several chat turns may run at once.
        common = {"concurrency_id": "rag-chat", "concurrency_limit": 4, "api_visibility": "private"}
        for trigger in (question.submit, send.click, chatbot.example_select):
            trigger(None, js=_SCROLL_TO_BOTTOM)
        scroll = {"fn": None, "js": _SCROLL_TO_LATEST}
        # The one public chat event: gradio_client's `predict(question, api_name="/chat")`.
        # The conversation lives in the session's state, so a second call is a follow-up.
        question.submit(chat, inputs, outputs, **{**common, "api_visibility": "public"}, api_name="chat",
                        api_description="Ask a question; the chat keeps the conversation for follow-ups.").then(**scroll)
        send.click(chat, inputs, outputs, **common).then(**scroll)
        chatbot.example_select(_example_text, None, question, api_visibility="private").then(
            chat, inputs, outputs, **common
        ).then(**scroll)
        new_chat.click(_reset, None, [chatbot, display, history, question], api_visibility="private")
        chatbot.clear(lambda: ([], []), None, [display, history], api_visibility="private")
        gr.api(ask, api_name="ask", concurrency_id="rag-chat", concurrency_limit=4)

        def refresh() -> tuple[str, Any]:
            try:
                choices = publications_of(get_engine())
            except RagError:
                choices = []
            return index_status(get_engine), gr.update(choices=choices)

        demo.load(refresh, None, [status, publications], api_visibility="private")
        if add_articles is not None:
            add.click(lambda paths, k: upload_articles(paths, k, add_articles), [files, key], added,
                      api_visibility="private", concurrency_limit=1).then(
                refresh, None, [status, publications], api_visibility="private")
    return demo


def _theme() -> gr.themes.Base:
    # Local font names only: the page must not fetch web fonts (it may run offline).
    cjk = ["Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", "Source Han Sans SC", "sans-serif"]
    return gr.themes.Soft(primary_hue="blue", neutral_hue="slate", font=cjk, font_mono=["monospace"])


def mount_ui(app: FastAPI, get_engine: Callable[[], Engine], path: str = "/ui", *,
             add_articles: AddArticles | None = None, key_required: bool = False) -> FastAPI:
    """Mount the chat at `path` and, unless the app already has one, add `GET /` → `path`.

    The theme and CSS are given here, not to `gr.Blocks`: Gradio 6 takes them at mount
    (or launch) time and `mount_gradio_app` overwrites any set on the Blocks.
    """
    path = "/" + path.strip("/")
    app = gr.mount_gradio_app(
        app,
        build_ui(get_engine, add_articles, key_required),
        path=path,
        theme=_theme(),
        css_paths=[CSS_PATH],
        footer_links=["api", "gradio"],  # "Use via API": the /chat and /ask endpoints
        run_history=False,
    )
    if not any(getattr(r, "path", None) == "/" for r in app.router.routes):

        async def to_ui(request: Request) -> RedirectResponse:
            return RedirectResponse(url=f"{request.scope.get('root_path', '')}{path}/")

        app.add_api_route("/", to_ui, methods=["GET"], include_in_schema=False)
    return app
