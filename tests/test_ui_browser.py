"""The chat UI in a real headless Chromium against a real uvicorn server.

Needs Debian's `chromium` and `chromium-driver` (apt) and `selenium` (pip). Every test serves
`rag.api.create_app` with uvicorn: over the corpus indexed with the real e5 model, over an
engine that returns markup (to check it is shown as text), and with no index at all.
"""

from __future__ import annotations

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

import httpx  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from selenium.common.exceptions import NoAlertPresentException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from rag.api import create_app  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.types import Answer, Article, Citation, Refusal  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = ROOT / "docs" / "screenshot.png"
QUESTION = "招远市2024年谋划了多少个以工代赈重点工程项目？"
REPLY = "#rag-chat .rag-answer, #rag-chat .rag-error"
LAST_REPLY_HTML = (
    "const r = document.querySelectorAll(arguments[0]); return r.length ? r[r.length - 1].outerHTML : '';"
)
# Where an element's top is, relative to the viewport (to check what the user sees).
TOP = "return arguments[0].getBoundingClientRect().top"
HOSTILE = '正文<script>alert(1)</script>与<img src=x onerror="window.__xss=1">结尾。'


# ------------------------------------------------------------------------------ servers


class HostileEngine:
    """An engine whose passage, title, answer and article all carry markup."""

    def ask_stream(self, question: str, top_k: int = 5, **_: Any) -> Iterator[dict[str, Any]]:
        cite = Citation(1, "c1", "evil", "<b>标题</b>", "2024-01-01", "evil.html", HOSTILE, 1.0)
        answer = Answer([], [cite], Refusal("not_found", [], "正文与结尾<script>window.__xss=2</script>"))
        yield {"event": "delta", "text": answer.answer}
        yield {"event": "done", "answer": answer.to_dict()}

    def article(self, article_id: str) -> Article:
        return Article(article_id, "<b>标题</b>", None, "evil.html", [HOSTILE, "<i>第二段</i>"])

    def health(self) -> dict[str, Any]:
        return {"articles": 1, "chunks": 1, "embedder": "none"}


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
    """Type, send, wait until the last reply has finished streaming and settled; return it."""
    box = driver.find_element(By.CSS_SELECTOR, "#rag-question textarea")
    box.clear()
    box.send_keys(question)
    before = len(driver.find_elements(By.CSS_SELECTOR, REPLY))
    driver.find_element(By.ID, "rag-send").click()

    def settled(d: Any) -> bool:
        html = d.execute_script(LAST_REPLY_HTML, REPLY)
        done = bool(html) and "rag-cursor" not in html
        done = done and len(d.find_elements(By.CSS_SELECTOR, REPLY)) > before
        if done and html == getattr(settled, "last", None):
            return True
        settled.last = html  # type: ignore[attr-defined]
        return False

    WebDriverWait(driver, 120, poll_frequency=0.4).until(settled)
    return driver.find_elements(By.CSS_SELECTOR, REPLY)[-1]


# --------------------------------------------------------------------------------- tests


def test_answer_with_source_cards_and_screenshot(
    serve: Callable[[FastAPI], str], browser: Any, e5_index: Path
) -> None:
    base = serve(create_app(Settings(index_dir=e5_index, embedder="e5")))
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

    # After the turn the chat scrolls back up to the answer (not down to the last card).
    WebDriverWait(browser, 10).until(lambda d: 0 < d.execute_script(TOP, answer) < 400)
    body = cards[0].find_element(By.CLASS_NAME, "rag-article-body")
    assert not body.is_displayed()
    cards[0].find_element(By.TAG_NAME, "summary").click()
    WebDriverWait(browser, 10).until(lambda d: body.is_displayed())
    assert "9个" in body.text, "the card opens the whole article"

    ActionChains(browser).move_to_element(browser.find_element(By.CLASS_NAME, "rag-header")).perform()
    time.sleep(0.3)
    SCREENSHOT.parent.mkdir(exist_ok=True)
    browser.save_screenshot(str(SCREENSHOT))

    follow_up = _ask(browser, "那胶州呢？")  # a second turn, sent with the first as history
    assert len(browser.find_elements(By.CSS_SELECTOR, "#rag-chat .rag-answer")) == 2
    assert follow_up.find_element(By.CLASS_NAME, "rag-answer-text").text.strip()
    WebDriverWait(browser, 10).until(lambda d: 0 < d.execute_script(TOP, follow_up) < 400)


def test_markup_in_documents_renders_as_text(serve: Callable[[FastAPI], str], browser: Any) -> None:
    app = create_app(Settings(index_dir=Path("unused")), engine=HostileEngine())  # type: ignore[arg-type]
    _open(browser, serve(app) + "/ui/")
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


def test_missing_index_shows_its_message(
    serve: Callable[[FastAPI], str], browser: Any, tmp_path: Path
) -> None:
    base = serve(create_app(Settings(index_dir=tmp_path / "no-index", build_if_missing=False)))
    detail = httpx.get(base + "/health").json()["detail"]
    assert detail, "the app reports why no index is loaded"
    _open(browser, base + "/ui/")
    WebDriverWait(browser, 30).until(lambda d: detail in d.find_element(By.ID, "rag-status").text)
    error = _ask(browser, QUESTION)
    assert detail in error.text and "无法回答" in error.text
    assert "Traceback" not in browser.find_element(By.ID, "rag-chat").text
