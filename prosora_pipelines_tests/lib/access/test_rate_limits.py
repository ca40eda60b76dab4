"""Why: rate limits keep one caller from starving the others or running up LLM costs, and
the API's headers promise callers exact numbers, so bursts, refills, costs and reported
values must be right, concurrent requests must never slip past the limit, and the Redis
limiter shared by every API process must decide exactly like the in-memory one.

Every behaviour runs on both limiters: the memory one on an injected clock, so it is exact,
and the Redis one at 127.0.0.1:6379 on the server's real clock with short windows, so its
times are compared within a tolerance. When Redis cannot be reached its cases are skipped
with the reason, except under ``CI=true``, where they fail."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import cast

import pytest
import redis

from prosora_pipelines.lib.access.rate_limits import (
    MIN_SWEEP_SIZE,
    Decision,
    MemoryRateLimiter,
    RateLimit,
    RateLimiter,
    RedisRateLimiter,
)
from prosora_pipelines_tests.support.redis_server import REDIS_URL, connect_or_skip, delete_keys

# The Redis cases run on real time: a hit and a sleep take a little longer than planned.
REDIS_TIME_TOLERANCE = 0.1


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class Harness:
    """A limiter and the way to let time pass for it."""

    limiter: RateLimiter
    advance: Callable[[float], None]
    time_tolerance: float

    def approx(self, seconds: float) -> object:
        return pytest.approx(seconds, abs=self.time_tolerance)


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = connect_or_skip()
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"prosora-test:ratelimit:{uuid.uuid4().hex}:"
    yield prefix
    delete_keys(redis_client, f"{prefix}*")


@pytest.fixture
def redis_limiter(redis_client: redis.Redis, redis_prefix: str) -> RedisRateLimiter:
    return RedisRateLimiter(redis_client, prefix=redis_prefix)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["memory", "redis"])
def harness(request: pytest.FixtureRequest, clock: FakeClock) -> Harness:
    if request.param == "memory":
        return Harness(MemoryRateLimiter(clock), clock.advance, time_tolerance=1e-9)
    limiter = request.getfixturevalue("redis_limiter")
    return Harness(limiter, time.sleep, time_tolerance=REDIS_TIME_TOLERANCE)


def test_burst_up_to_capacity_then_refused(harness: Harness) -> None:
    limit = RateLimit(capacity=5, window_seconds=60)
    burst = [harness.limiter.hit("alice", limit) for _ in range(5)]
    assert [decision.allowed for decision in burst] == [True] * 5
    assert [decision.remaining for decision in burst] == [4, 3, 2, 1, 0]
    assert [decision.limit for decision in burst] == [5] * 5
    assert burst[0].reset_seconds == harness.approx(12)
    assert burst[-1].reset_seconds == harness.approx(60)
    assert all(decision.retry_after_seconds is None for decision in burst)

    refused = harness.limiter.hit("alice", limit)
    assert not refused.allowed
    assert (refused.limit, refused.remaining) == (5, 0)
    assert refused.retry_after_seconds is not None and refused.retry_after_seconds > 0
    assert refused.retry_after_seconds == harness.approx(12)
    assert refused.reset_seconds == harness.approx(60)


def test_budget_refills_over_time(harness: Harness) -> None:
    limit = RateLimit(capacity=4, window_seconds=1.0)
    for _ in range(4):
        assert harness.limiter.hit("alice", limit).allowed
    assert not harness.limiter.hit("alice", limit).allowed

    harness.advance(0.6)
    first, second, third = (harness.limiter.hit("alice", limit) for _ in range(3))
    assert (first.allowed, first.remaining) == (True, 1)
    assert (second.allowed, second.remaining) == (True, 0)
    assert not third.allowed
    assert third.retry_after_seconds == harness.approx(0.15)

    harness.advance(1.0)
    assert harness.limiter.hit("alice", limit).remaining == 3


def test_cost_spends_that_many_units(harness: Harness) -> None:
    limit = RateLimit(capacity=5, window_seconds=60)
    spent = harness.limiter.hit("alice", limit, cost=3)
    assert (spent.allowed, spent.remaining) == (True, 2)
    assert spent.reset_seconds == harness.approx(36)

    too_dear = harness.limiter.hit("alice", limit, cost=3)
    assert (too_dear.allowed, too_dear.remaining) == (False, 2)
    assert too_dear.retry_after_seconds == harness.approx(12)

    exact = harness.limiter.hit("alice", limit, cost=2)
    assert (exact.allowed, exact.remaining) == (True, 0)


def test_impossible_costs_are_value_errors(harness: Harness) -> None:
    limit = RateLimit(capacity=3, window_seconds=60)
    with pytest.raises(ValueError, match="cost 4 exceeds the limit's capacity of 3"):
        harness.limiter.hit("alice", limit, cost=4)
    with pytest.raises(ValueError, match="cost must be at least 1"):
        harness.limiter.hit("alice", limit, cost=0)
    assert harness.limiter.hit("alice", limit).remaining == 2


def test_keys_are_independent(harness: Harness) -> None:
    limit = RateLimit(capacity=2, window_seconds=60)
    for _ in range(3):
        harness.limiter.hit("alice", limit)
    assert not harness.limiter.hit("alice", limit).allowed
    bob = harness.limiter.hit("bob", limit)
    assert (bob.allowed, bob.remaining) == (True, 1)


def test_concurrent_hits_never_exceed_capacity(harness: Harness) -> None:
    limit = RateLimit(capacity=50, window_seconds=3600)
    start = threading.Barrier(8)

    def hammer(_: int) -> list[Decision]:
        start.wait()
        return [harness.limiter.hit("alice", limit) for _ in range(25)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        decisions = [decision for batch in pool.map(hammer, range(8)) for decision in batch]
    assert len(decisions) == 200
    assert sum(decision.allowed for decision in decisions) == limit.capacity
    allowed_remaining = sorted(decision.remaining for decision in decisions if decision.allowed)
    assert allowed_remaining == list(range(limit.capacity))


def test_limit_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="capacity must be at least 1"):
        RateLimit(capacity=0, window_seconds=60)
    for window in [0, -1, float("inf"), float("nan")]:
        with pytest.raises(ValueError, match="window_seconds must be positive"):
            RateLimit(capacity=1, window_seconds=window)


def test_memory_limiter_forgets_full_buckets(clock: FakeClock) -> None:
    limiter = MemoryRateLimiter(clock)
    year = RateLimit(capacity=1, window_seconds=365 * 24 * 3600)
    assert limiter.hit("yearly", year).allowed
    limit = RateLimit(capacity=1, window_seconds=1)
    largest = 0
    for number in range(5 * MIN_SWEEP_SIZE):
        assert limiter.hit(f"caller-{number}", limit).allowed
        largest = max(largest, limiter.tracked_keys)
        clock.advance(1)
    assert largest <= MIN_SWEEP_SIZE
    assert not limiter.hit("yearly", year).allowed
    assert limiter.hit("caller-0", limit).allowed


def test_redis_keys_expire_when_the_bucket_is_full_again(
    redis_client: redis.Redis, redis_prefix: str, redis_limiter: RedisRateLimiter
) -> None:
    redis_limiter.hit("alice", RateLimit(capacity=5, window_seconds=10), cost=2)
    ttl_ms = cast(int, redis_client.pttl(f"{redis_prefix}alice"))
    assert 3000 < ttl_ms <= 4000


def test_redis_limiters_on_separate_connections_share_budgets(
    redis_prefix: str, redis_limiter: RedisRateLimiter
) -> None:
    """Two API processes, each with its own connection, draw on one budget."""
    limit = RateLimit(capacity=5, window_seconds=60)
    redis_limiter.hit("alice", limit, cost=3)
    with redis.Redis.from_url(REDIS_URL) as other_process:
        assert (
            RedisRateLimiter(other_process, prefix=redis_prefix).hit("alice", limit).remaining == 1
        )


def _scenario(limiter: RateLimiter, advance: Callable[[float], None]) -> list[Decision]:
    limit = RateLimit(capacity=5, window_seconds=1.0)
    decisions = [limiter.hit("alice", limit, cost) for cost in [1, 1, 3, 1]]
    advance(0.5)
    decisions += [limiter.hit("alice", limit, cost) for cost in [2, 1]]
    advance(1.0)
    decisions.append(limiter.hit("alice", limit, 5))
    return decisions


def test_memory_and_redis_decide_alike(clock: FakeClock, redis_limiter: RedisRateLimiter) -> None:
    in_memory = _scenario(MemoryRateLimiter(clock), clock.advance)
    in_redis = _scenario(redis_limiter, time.sleep)
    allowed = [True, True, True, False, True, False, True]
    assert [decision.allowed for decision in in_memory] == allowed
    for expected, actual in zip(in_memory, in_redis, strict=True):
        assert (actual.allowed, actual.limit, actual.remaining) == (
            expected.allowed,
            expected.limit,
            expected.remaining,
        )
        assert actual.reset_seconds == pytest.approx(
            expected.reset_seconds, abs=REDIS_TIME_TOLERANCE
        )
        if expected.retry_after_seconds is None:
            assert actual.retry_after_seconds is None
        else:
            assert actual.retry_after_seconds == pytest.approx(
                expected.retry_after_seconds, abs=REDIS_TIME_TOLERANCE
            )
