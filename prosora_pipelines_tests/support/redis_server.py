"""The Redis on 127.0.0.1:6379 that rate-limit tests use: reach it, or say why not.

When it cannot be reached the Redis cases skip with the reason, except under ``CI=true``,
where they fail: continuous integration must exercise the Redis limiter.
"""

from __future__ import annotations

import os
from functools import cache

import pytest
import redis

REDIS_URL = "redis://127.0.0.1:6379/0"


@cache
def _unreachable() -> str | None:
    """Why the Redis server cannot be used, or None; asked once per session."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as error:
        return f"Redis at {REDIS_URL} is unreachable: {error}"
    finally:
        client.close()
    return None


def connect_or_skip() -> redis.Redis:
    """A client of the test Redis; skips (fails under CI=true) when it is unreachable."""
    reason = _unreachable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true requires the Redis tests to run)")
        pytest.skip(reason)
    return redis.Redis.from_url(REDIS_URL)


def delete_keys(client: redis.Redis, pattern: str) -> None:
    keys = list(client.scan_iter(match=pattern))
    if keys:
        client.delete(*keys)
