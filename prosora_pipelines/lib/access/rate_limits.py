"""Per-key rate limits for the API, so one caller cannot starve the others or run up LLM
costs; the same decisions in one process (:class:`MemoryRateLimiter`) or shared by every
API process through Redis (:class:`RedisRateLimiter`).

The algorithm is GCRA, the generic cell rate algorithm. It allows what a token bucket of
``capacity`` units refilled at ``capacity / window_seconds`` units per second allows, but
its state is one number per key: the theoretical arrival time (TAT), the moment the bucket
will be full again. That makes the Redis version a single GET and SET in one Lua script,
the key's TTL is exactly "until full", and a key whose TAT has passed is the same as a key
never seen, so forgetting it is free. A refused hit changes nothing, so a client retrying
too early does not push its own wait further.

Times are compared within :data:`TOLERANCE_SECONDS`, Redis's clock resolution, so float
rounding never refuses a hit that arrives exactly when enough is available.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import redis

TOLERANCE_SECONDS = 1e-6
# The memory limiter sweeps no more often than this many keys, so small tables cost nothing.
MIN_SWEEP_SIZE = 1024

# KEYS[1] holds the TAT in server-clock seconds. ARGV: seconds per unit, window seconds,
# cost, tolerance. Returns {allowed (1 or 0), seconds until full, seconds until allowed}.
# Floats travel as %.17g strings: Redis would truncate a returned number to an integer, and
# Lua's default formatting keeps only 14 digits.
_GCRA_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local seconds_per_unit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tolerance = tonumber(ARGV[4])
local tat = math.max(tonumber(redis.call('GET', KEYS[1])) or now, now)
local new_tat = tat + cost * seconds_per_unit
local overshoot = new_tat - now - window
if overshoot > tolerance then
  return {0, string.format('%.17g', tat - now), string.format('%.17g', overshoot)}
end
redis.call('SET', KEYS[1], string.format('%.17g', new_tat),
  'PX', math.ceil((new_tat - now) * 1000))
return {1, string.format('%.17g', new_tat - now), '0'}
"""


@dataclass(frozen=True)
class RateLimit:
    """``capacity`` units of cost per ``window_seconds``, all usable at once as a burst."""

    capacity: int
    window_seconds: float

    def __post_init__(self) -> None:
        if self.capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {self.capacity}")
        if not (math.isfinite(self.window_seconds) and self.window_seconds > 0):
            raise ValueError(f"window_seconds must be positive, not {self.window_seconds}")

    @property
    def seconds_per_unit(self) -> float:
        return self.window_seconds / self.capacity


@dataclass(frozen=True)
class Decision:
    """The answer to one hit, with what the API needs for rate-limit headers.

    ``remaining`` counts whole units usable now; ``reset_seconds`` runs until the bucket is
    full again; ``retry_after_seconds``, set only when refused, runs until this hit's cost
    would be allowed.
    """

    allowed: bool
    limit: int
    remaining: int
    reset_seconds: float
    retry_after_seconds: float | None


class RateLimiter(Protocol):
    def hit(self, key: str, limit: RateLimit, cost: int = 1) -> Decision:
        """Spend ``cost`` units of ``key``'s budget under ``limit`` if they are available.

        The key is the whole identity of the budget: callers under different limits should
        use different keys (e.g. ``"search:alice@example.com"``).
        """
        ...


class MemoryRateLimiter:
    """GCRA in this process's memory, for a single API process and for tests. Thread-safe.
    Keys whose bucket is full again are swept whenever the table has doubled since the last
    sweep, so memory stays proportional to the keys active within their window."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._arrivals: dict[str, float] = {}
        self._sweep_at_size = MIN_SWEEP_SIZE

    @property
    def tracked_keys(self) -> int:
        """How many keys hold state, for metrics."""
        return len(self._arrivals)

    def hit(self, key: str, limit: RateLimit, cost: int = 1) -> Decision:
        _check_cost(limit, cost)
        with self._lock:
            now = self._clock()
            tat = max(self._arrivals.get(key, now), now)
            new_tat = tat + cost * limit.seconds_per_unit
            overshoot = new_tat - now - limit.window_seconds
            if overshoot > TOLERANCE_SECONDS:
                return _decision(
                    limit, allowed=False, until_full=tat - now, until_allowed=overshoot
                )
            self._arrivals[key] = new_tat
            self._sweep(now)
        return _decision(limit, allowed=True, until_full=new_tat - now, until_allowed=0.0)

    def _sweep(self, now: float) -> None:
        if len(self._arrivals) < self._sweep_at_size:
            return
        self._arrivals = {key: tat for key, tat in self._arrivals.items() if tat > now}
        self._sweep_at_size = max(2 * len(self._arrivals), MIN_SWEEP_SIZE)


class RedisRateLimiter:
    """GCRA in Redis, one atomic Lua script per hit, timed by the Redis server's clock so
    every API process agrees whatever its own clock says. Each key expires when its bucket
    is full again. Redis errors propagate: whether to fail open or closed is the API's call.
    Needs Redis 5 or later, where a script may write after reading ``TIME``."""

    def __init__(self, client: redis.Redis, prefix: str = "prosora:ratelimit:") -> None:
        self.prefix = prefix
        self._script = client.register_script(_GCRA_SCRIPT)

    def hit(self, key: str, limit: RateLimit, cost: int = 1) -> Decision:
        _check_cost(limit, cost)
        allowed, until_full, until_allowed = self._script(
            keys=[self.prefix + key],
            args=[limit.seconds_per_unit, limit.window_seconds, cost, TOLERANCE_SECONDS],
        )
        return _decision(
            limit,
            allowed=allowed == 1,
            until_full=float(until_full),
            until_allowed=float(until_allowed),
        )


def _check_cost(limit: RateLimit, cost: int) -> None:
    if cost < 1:
        raise ValueError(f"cost must be at least 1, not {cost}")
    if cost > limit.capacity:
        raise ValueError(
            f"cost {cost} exceeds the limit's capacity of {limit.capacity}:"
            " such a request could never be allowed"
        )


def _decision(
    limit: RateLimit, *, allowed: bool, until_full: float, until_allowed: float
) -> Decision:
    used_units = math.ceil((until_full - TOLERANCE_SECONDS) / limit.seconds_per_unit)
    return Decision(
        allowed=allowed,
        limit=limit.capacity,
        remaining=max(0, limit.capacity - used_units),
        reset_seconds=until_full,
        retry_after_seconds=None if allowed else until_allowed,
    )
