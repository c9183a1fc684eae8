"""Retry policy: which failures to retry and how long to wait. Pure functions."""

from __future__ import annotations

import email.utils
import random
import time

# Statuses worth another attempt: timeout, rate limit, and server-side failures.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
INITIAL_RETRY_DELAY = 0.5  # seconds
MAX_RETRY_DELAY = 8.0
MAX_RETRY_AFTER = 60.0  # a server asking for longer than this is not worth waiting for


def should_retry(
    status_code: int | None, attempt: int, max_retries: int, retry_after: float | None = None
) -> bool:
    """``status_code`` None means a connection error or timeout. ``attempt`` counts from 0.

    A server asking for more than MAX_RETRY_AFTER seconds is down for maintenance or
    rate-limiting hard: the caller gets its error now instead of a long silent wait.
    """
    if attempt >= max_retries or (retry_after is not None and retry_after > MAX_RETRY_AFTER):
        return False
    return status_code is None or status_code in RETRY_STATUSES


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if _looks_like_date(value) else None
        if parsed is None:
            return None
        seconds = parsed.timestamp() - (time.time() if now is None else now)
    if seconds != seconds or seconds < 0:  # NaN or in the past
        return 0.0
    return seconds


def _looks_like_date(value: str) -> bool:
    try:
        return email.utils.parsedate_to_datetime(value) is not None
    except (TypeError, ValueError, IndexError):
        return False


def retry_delay(attempt: int, retry_after: float | None, rng: random.Random | None = None) -> float:
    """Exponential backoff with up to 25% jitter; the server's Retry-After wins when given."""
    if retry_after is not None:
        return retry_after
    base = min(MAX_RETRY_DELAY, INITIAL_RETRY_DELAY * 2.0**attempt)
    return base * (1 - 0.25 * (rng or random).random())
