import pytest

from rag.ratelimit import RateLimiter


def test_sliding_window_per_client():
    now = [0.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    assert limiter.check("a") == 0 and limiter.check("a") == 0
    assert limiter.check("a") == 60  # the oldest of the two leaves the window in 60 s
    assert limiter.check("b") == 0  # another client has its own count
    now[0] = 30.0
    assert limiter.check("a") == 30
    now[0] = 60.0
    assert limiter.check("a") == 0  # refused requests did not count


def test_limit_must_be_positive():
    with pytest.raises(ValueError, match="per_minute must be >= 1, got 0"):
        RateLimiter(0)
