"""Per-client rate limiting for the question endpoints (off unless RAG_ASK_RATE_LIMIT is set).

A sliding window: a client may ask `per_minute` questions in any 60 seconds. Clients are
told apart by their API key when one is sent, else by their address. In memory and per
process: with several server processes each keeps its own count.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

__all__ = ["RateLimiter"]

WINDOW_S = 60.0


class RateLimiter:
    def __init__(self, per_minute: int, clock=time.monotonic) -> None:
        if per_minute < 1:
            raise ValueError(f"per_minute must be >= 1, got {per_minute}")
        self.per_minute = per_minute
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, client: str) -> int:
        """0 when the client may go ahead (and counts the request), else seconds to wait."""
        now = self._clock()
        with self._lock:
            times = self._seen.setdefault(client, deque())
            while times and times[0] <= now - WINDOW_S:
                times.popleft()
            if len(times) >= self.per_minute:
                return max(1, math.ceil(times[0] + WINDOW_S - now))
            times.append(now)
            if len(self._seen) > 10_000:  # forget idle clients so the table cannot grow without bound
                for key in [k for k, v in self._seen.items() if not v or v[-1] <= now - WINDOW_S]:
                    del self._seen[key]
            return 0
