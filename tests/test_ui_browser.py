"""The chat UI in a real headless Chromium against a real uvicorn server.

Needs Debian's `chromium` and `chromium-driver` (apt) and `selenium` (pip). The answer test
serves `_real_app()`; the hostile-passage and error tests serve the UI over fakes, because
they need an engine that returns markup or fails on purpose.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
    pytest.skip(
        "needs Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver",
        allow_module_level=True,
    )
webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")

from fastapi import FastAPI  # noqa: E402
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from rag.errors import IndexMissingError  # noqa: E402
from rag.types import Answer, Article, Citation  # noqa: E402
from ui.app import mount_ui  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
SCREENSHOT = ROOT / "docs" / "screenshot.png"
QUESTION = "招远市2024年谋划了多少个以工代赈重点工程项目？"
# Scroll the chat so the question above this answer is at the top of the screenshot.
SHOW_QUESTION = """
arguments[0].scrollIntoView({block: 'start'});
let box = arguments[0].parentElement;
while (box && box.scrollHeight <= box.clientHeight) box = box.parentElement;
if (box) box.scrollTop -= 140;
"""
HOSTILE = '正文<script>alert(1)</script>与<img src=x onerror="window.__xss=1">结尾。'


# ------------------------------------------------------------------------------ engines


def _bigrams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)}


class CorpusEngine:
    """A stand-in for rag.engine.Engine until it lands: it answers from corpus/ with the
    sentence that shares the most character bigrams with the question."""

    def __init__(self, corpus: Path) -> None:
        self.articles: dict[str, Article] = {}
        self.sentences: list[tuple[str, str]] = []  # (article id, sentence)
        for path in sorted(corpus.glob("*.txt")):
            raw = re.sub(r"^---.*?---", "", path.read_text(encoding="utf-8"), flags=re.S)
            text = re.sub(r"<[^>]+>|\s+", "", raw)
            parts = [s for s in re.findall(r"[^。！？]+[。！？]?", text) if len(s) > 4]
            paras = ["".join(parts[i : i + 4]) for i in range(0, len(parts), 4)]
            art = Article(path.stem, paras[0][:24], None, path.name, paras)
            self.articles[art.id] = art
            self.sentences += [(art.id, s) for s in parts]

    def _cite(self, n: int, article_id: str, sentence: str) -> Citation:
        art = self.articles[article_id]
        para = next(p for p in art.paragraphs if sentence in p)
        return Citation(n, f"{article_id}-{n}", article_id, art.title, art.date, art.source, para, 1.0)

    def ask_stream(self, question: str, top_k: int = 5, **_: Any) -> Iterator[dict[str, Any]]:
        q = _bigrams(question)
        ranked = sorted(self.sentences, key=lambda s: -len(q & _bigrams(s[1])))[:top_k]
        cites = [self._cite(i + 1, aid, s) for i, (aid, s) in enumerate(ranked)]
        text = f"{ranked[0][1].rstrip('。')}[1]。"
        for i in range(0, len(text), 6):
            yield {"event": "delta", "text": text[i : i + 6]}
            time.sleep(0.02)
        yield {"event": "citations", "citations": [c.to_dict() for c in cites]}
        yield {"event": "done", "answer": Answer(text, False, cites).to_dict()}

    def article(self, article_id: str) -> Article:
        return self.articles[article_id]

    def health(self) -> dict[str, Any]:
        n = len(self.sentences)
        return {"articles": len(self.articles), "chunks": n, "embedder": "fake", "version": "0"}


class HostileEngine(CorpusEngine):
    """Returns a passage and an article that carry markup."""

    def ask_stream(self, question: str, top_k: int = 5, **_: Any) -> Iterator[dict[str, Any]]:
        cite = Citation(1, "c1", "evil", "<b>标题</b>", "2024-01-01", "evil.html", HOSTILE, 1.0)
        answer = Answer("正文与结尾[1]。<script>window.__xss=2</script>", True, [cite])
        yield {"event": "delta", "text": answer.answer}
        yield {"event": "done", "answer": answer.to_dict()}

    def article(self, article_id: str) -> Article:
        return Article(article_id, "<b>标题</b>", None, "evil.html", [HOSTILE, "<i>第二段</i>"])


def _missing() -> Any:
    raise IndexMissingError("索引不存在：请先运行 `rag index corpus/` 建立索引。")


# ------------------------------------------------------------------------------ servers


def _real_app() -> FastAPI:
    # One line to switch to the real stack once it lands:
    #   return create_app(Settings(index_dir=ROOT / "index", embedder="e5"))
    engine = CorpusEngine(CORPUS)
    return mount_ui(FastAPI(), lambda: engine)


def _fake_app(get_engine: Callable[[], Any]) -> FastAPI:
    return mount_ui(FastAPI(), get_engine)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def serve() -> Iterator[Callable[[FastAPI], str]]:
    """Start uvicorn servers in threads; returns their base URLs; stops them at the end."""
    import uvicorn

    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(app: FastAPI) -> str:
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 120
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--window-size=1280,1100", "--lang=zh-CN",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


# ------------------------------------------------------------------------------- helpers


def _open(driver: Any, url: str) -> None:
    driver.get(url)
    WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#rag-question textarea"))


def _ask(driver: Any, question: str) -> Any:
    """Type, send, and wait until the last assistant message has finished streaming."""
    box = driver.find_element(By.CSS_SELECTOR, "#rag-question textarea")
    box.clear()
    box.send_keys(question)
    driver.find_element(By.ID, "rag-send").click()

    def finished(d: Any) -> Any:
        done = d.find_elements(By.CSS_SELECTOR, "#rag-chat .rag-answer, #rag-chat .rag-error")
        busy = d.find_elements(By.CSS_SELECTOR, "#rag-chat .rag-cursor")
        return done[-1] if done and not busy else False

    return WebDriverWait(driver, 120).until(finished)


# --------------------------------------------------------------------------------- tests


def test_answer_with_source_cards_and_screenshot(serve: Callable[[FastAPI], str], browser: Any) -> None:
    base = serve(_real_app())
    _open(browser, base + "/")  # GET / redirects to the chat
    assert browser.current_url.rstrip("/").endswith("/ui")
    examples = browser.find_element(By.ID, "rag-chat").text
    assert QUESTION in examples, "example questions are shown on first load"

    answer = _ask(browser, QUESTION)
    assert "9个" in answer.find_element(By.CLASS_NAME, "rag-answer-text").text
    cards = answer.find_elements(By.CLASS_NAME, "rag-card")
    assert cards and cards[0].find_element(By.CLASS_NAME, "rag-card-title").text.strip()
    marked = cards[0].find_element(By.CSS_SELECTOR, ".rag-passage mark").text
    assert "9个" in marked, "the answering sentence is highlighted in the passage"
    assert answer.find_element(By.CSS_SELECTOR, ".rag-answer-text .rag-cite").text == "[1]"

    browser.execute_script(SHOW_QUESTION, answer)
    time.sleep(0.3)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    browser.save_screenshot(str(SCREENSHOT))

    body = cards[0].find_element(By.CLASS_NAME, "rag-article-body")
    assert not body.is_displayed()
    cards[0].find_element(By.TAG_NAME, "summary").click()
    WebDriverWait(browser, 10).until(lambda d: body.is_displayed())
    assert "9个" in body.text, "the card opens the whole article"


def test_markup_in_documents_renders_as_text(serve: Callable[[FastAPI], str], browser: Any) -> None:
    engine = HostileEngine(CORPUS)
    _open(browser, serve(_fake_app(lambda: engine)) + "/ui/")
    answer = _ask(browser, "有什么？")
    time.sleep(0.5)  # give an injected onerror handler time to fire, if one got through
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert  # noqa: B018
    assert browser.execute_script("return window.__xss === undefined")
    chat = browser.find_element(By.ID, "rag-chat")
    assert not chat.find_elements(By.CSS_SELECTOR, ".rag-answer img, .rag-answer script, .rag-answer b")
    passage = answer.find_element(By.CLASS_NAME, "rag-passage").text
    assert "<script>alert(1)</script>" in passage and "<img src=x" in passage
    assert answer.find_element(By.CLASS_NAME, "rag-card-title").text == "<b>标题</b>"
    assert "未找到答案" in answer.find_element(By.CLASS_NAME, "rag-badge-refused").text
    answer.find_element(By.TAG_NAME, "summary").click()
    assert "<i>第二段</i>" in answer.find_element(By.CLASS_NAME, "rag-article-body").text


def test_missing_index_shows_its_message(serve: Callable[[FastAPI], str], browser: Any) -> None:
    _open(browser, serve(_fake_app(_missing)) + "/ui/")
    WebDriverWait(browser, 30).until(
        lambda d: "索引不存在" in d.find_element(By.ID, "rag-status").text
    )
    error = _ask(browser, QUESTION)
    assert "索引不存在" in error.text and "rag index" in error.text
    assert "Traceback" not in browser.find_element(By.ID, "rag-chat").text

