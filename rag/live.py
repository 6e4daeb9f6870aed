"""The engine a server answers with, replaced whole when the index changes.

Used by the API (`app.state.live`): readers take `current()` once per request; writers
(adding or removing articles) go through `update()`, one at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rag.engine import Engine
from rag.errors import IndexMissingError, RagError
from rag.index import load_index
from rag.uploads import Change, corpus_of

__all__ = ["RELOAD_CHECK_S", "LiveEngine"]

log = logging.getLogger(__name__)

# How often a request looks at the index's manifest for a change made by another process
# (`rag add`, `rag index`): one stat call at most this often.
RELOAD_CHECK_S = 2.0


def _stamp(index_dir: Path | None) -> tuple[int, int] | None:
    if index_dir is None:
        return None
    try:
        stat = (Path(index_dir) / "manifest.json").stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def _index_dir(engine: Any) -> Path | None:
    """The engine's index folder (None for a stand-in engine without one, as in tests)."""
    return getattr(getattr(engine, "index", None), "path", None)


class LiveEngine:
    """The engine the app answers with, replaced whole when the index changes.

    Readers take `current()` once per request and keep that engine to the end, so an answer
    never mixes two indexes. Writers (`update`) run one at a time under a lock, build the
    new index beside the old one (rag.index swaps folders atomically), load it, and then
    replace the reference in one assignment. A change made on disk by another process is
    picked up the same way, checked at most every RELOAD_CHECK_S seconds.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.lock = threading.Lock()
        self._checked = time.monotonic()
        self._stamp: tuple[int, int] | None = None

    def adopt(self, engine: Engine) -> None:
        self.app.state.engine = engine
        self._stamp = _stamp(_index_dir(engine))

    def current(self) -> Engine:
        engine = self.app.state.engine
        if engine is None:
            raise IndexMissingError(self.app.state.engine_error or "no index is loaded")
        if time.monotonic() - self._checked >= RELOAD_CHECK_S:
            self._checked = time.monotonic()
            if self._stamp is None:
                self._stamp = _stamp(_index_dir(engine))
            elif _stamp(_index_dir(engine)) not in (None, self._stamp) and self.lock.acquire(blocking=False):
                try:
                    self._reload(engine)
                finally:
                    self.lock.release()
        return self.app.state.engine

    def _reload(self, engine: Engine) -> None:
        try:
            self.adopt(engine.with_index(load_index(engine.index.path, engine.embedder.id)))
            log.info("the index at %s changed on disk; now answering from the new one", engine.index.path)
        except RagError as exc:  # half-way through another process's swap: keep the old one, look again later
            log.warning("index changed on disk but could not be loaded yet: %s", exc)

    def update(self, change: Callable[[Engine, Path], Change]) -> Change:
        """Run `change(engine, corpus folder)` (an add or delete) and answer from the new index."""
        engine = self.current()
        with self.lock:
            engine = self.app.state.engine
            corpus = corpus_of(engine.index.path, self.app.state.settings.corpus_dir)
            result = change(engine, corpus)
            self.adopt(engine.with_index(load_index(engine.index.path, engine.embedder.id)))
        return result
