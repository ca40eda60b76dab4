"""API load benchmark: how many requests a second does the API serve under a realistic mix,
how fast is each route, and does it fail or grow in memory while it does?

The other benchmarks time the library in-process. This one goes through everything a client
goes through: HTTP, the middleware, token checks, the rate limiter, FastAPI's thread pool, the
shared query engine and the SQLite app database, in ``--workers`` uvicorn processes (1).

Set-up, in a temporary directory: ``prosora materialize`` runs the ingest job over the bundled
sample (catalog, fetch, articles, embeddings, trends) with PROSORA_HOME and DAGSTER_HOME there;
then the API starts as a subprocess (``python -m uvicorn prosora_pipelines.api.app:create_app
--factory --workers N`` on a free loopback port) with a random 40-character HS256 secret, the
SQLite app database in that home, the extractive generator and a rate limit so high it never
refuses (the limiter is not what is measured). Its log goes to a file. Once ``/ready`` answers
200, every one of 8 users (HS256 tokens from ``mint_token``) asks queries until it has
variants to post feedback on (a question the sample covers thinly gets none), and one search
runs.

Load: ``--clients`` (32) concurrent asyncio clients, sharing one ``httpx.AsyncClient``, each
acting for one of the users, for ``--seconds`` (60). With ``--think 0`` (the default) each
client sends its next request as soon as the last one is answered: a closed loop that keeps 32
requests in the server at all times and so measures capacity; by Little's law each request
then takes 32 / (requests/s) on average, however fast the code is. With ``--think T`` each
client pauses a random time (exponential, mean T seconds) after each answer, like a person
reading it, and the clients start spread over the first T seconds rather than all at once:
that measures the latency users see at the load those 32 users offer. The mix: 50% ``GET
/api/v1/search`` (a labelled sample query, k 5, 10 or 20), 15% ``POST /api/v1/queries`` (a
labelled sample query, one format, 3 variants, the extractive generator), 20% ``GET
/api/v1/users/me/history`` and 15% ``POST /api/v1/variants/{id}/feedback`` on a variant an
earlier query of that user returned, posted in the past. A probe outside the mix asks ``GET
/health`` every 0.25 s: its latency is the server's own queueing (event loop and thread
pool), not any route's work.

Printed: requests/s; per route the count, p50/p95/p99/max latency seen by the client, 4xx and
5xx counts and transport errors (by status and message below the table, and every 5xx and
transport error with the second it happened); the work the server reports in the responses
(search ``took_ms``, query ``processing_time_ms``); the server's RSS after warm-up and at the
end (``VmRSS``, and ``VmHWM``, the peak, from ``/proc``, summed over uvicorn and its workers);
the CPU time the server and the load generator used during the load; the exceptions the
server's log names; and the targets: no 5xx, search p95 <= 50 ms, extractive query p95 <= 500
ms.

The server is always terminated, also on an error or when the time limit (``--time-limit``,
default ``--seconds`` + 150 s) passes.

Run: ``.venv/bin/python benchmarks/api_load.py`` from the repository root (about 2 minutes 10 s,
45 s of it materializing), or ``--seconds 10`` for a quick look; ``--keep-log PATH`` keeps the
server log.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import re
import secrets
import shutil
import socket
import string
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.measuring import start_time_limit, stop_time_limit, verdict  # noqa: E402
from prosora_pipelines.lib.access.tokens import TokenConfig, mint_token  # noqa: E402
from prosora_pipelines.lib.sample_corpus import load_sample_truth  # noqa: E402
from prosora_pipelines.settings import DAGSTER_INSTANCE_CONFIG  # noqa: E402

API = "/api/v1"
USERS = 8
SEED = 20261122
SEARCH, QUERY, HISTORY, FEEDBACK = "search", "query", "history", "feedback"
MIX = {SEARCH: 50, QUERY: 15, HISTORY: 20, FEEDBACK: 15}
ROUTES = {
    SEARCH: "GET  /api/v1/search",
    QUERY: "POST /api/v1/queries",
    HISTORY: "GET  /api/v1/users/me/history",
    FEEDBACK: "POST /api/v1/variants/{id}/feedback",
}
SEARCH_K = (5, 10, 20)
HISTORY_LIMITS = (10, 20)
FORMATS = ("linkedin_post", "x_thread", "blog_outline")
PLATFORM_OF = {"linkedin_post": "linkedin", "x_thread": "x", "blog_outline": "blog"}
VARIANTS_KEPT = 60  # per user, the newest variant ids feedback is posted on
WARM_UP_QUERIES = 10  # a user's tries at a question the sample answers with drafts
SEARCH_P95_TARGET_MS = 50.0
QUERY_P95_TARGET_MS = 500.0
PROBE_INTERVAL_SECONDS = 0.25
REQUEST_TIMEOUT_SECONDS = 30.0
READY_TIMEOUT_SECONDS = 90.0
MATERIALIZE_TIMEOUT_SECONDS = 240.0
RATE_LIMIT_PER_MINUTE = 1_000_000_000
QUICK = {"seconds": 3.0, "clients": 2}
"""``--quick``: the whole run with the shortest load, a smoke run."""
EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Timeout)\w*)(?::\s?(.*))?$")


@dataclass
class RouteStats:
    seconds: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    server_ms: list[float] = field(default_factory=list)
    messages: Counter[str] = field(default_factory=Counter)

    def add(self, seconds: float, status: str) -> None:
        self.seconds.append(seconds)
        self.statuses[status] += 1

    def count(self, prefix: str) -> int:
        return sum(n for status, n in self.statuses.items() if status.startswith(prefix))

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(np.asarray(self.seconds), q)) * 1000 if self.seconds else 0.0


@dataclass
class User:
    email: str
    token: str
    variants: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=VARIANTS_KEPT))

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class ServerFailedError(RuntimeError):
    """The API did not start or answer as it must for a measurement to mean anything."""


def venv_python() -> str:
    candidate = REPO_ROOT / ".venv" / "bin" / "python"
    return str(candidate) if candidate.exists() else sys.executable


def prosora_command() -> list[str]:
    script = Path(venv_python()).parent / "prosora"
    if script.exists():
        return [str(script)]
    return [venv_python(), "-c", "from prosora_pipelines.cli import app; app()"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def base_environment(scratch: Path, secret: str) -> dict[str, str]:
    """This process's environment without any Prosora, database, Redis or LLM setting, and
    with the benchmark's own."""
    dropped = ("DATABASE_URL", "REDIS_URL", "GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("PROSORA_") and name not in dropped
    }
    env.update(
        {
            "PROSORA_HOME": str(scratch / "home"),
            "DAGSTER_HOME": str(scratch / "dagster"),
            "PROSORA_JWT_SECRET": secret,
            "PROSORA_GENERATOR": "extractive",
            "PROSORA_API_RATE_LIMIT_PER_MINUTE": str(RATE_LIMIT_PER_MINUTE),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "NO_PROXY": "*",
            "no_proxy": "*",
        }
    )
    return env


def materialize(scratch: Path, env: dict[str, str]) -> float:
    """``prosora materialize`` over the bundled sample; its wall seconds."""
    (scratch / "dagster").mkdir()
    shutil.copy(DAGSTER_INSTANCE_CONFIG, scratch / "dagster" / "dagster.yaml")
    log = scratch / "materialize.log"
    started = time.perf_counter()
    with log.open("wb") as out:
        finished = subprocess.run(
            [*prosora_command(), "materialize"],
            cwd=REPO_ROOT,
            env={**env, "COLUMNS": "160"},
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=MATERIALIZE_TIMEOUT_SECONDS,
            check=False,
        )
    if finished.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise ServerFailedError(f"prosora materialize failed ({finished.returncode}):\n{tail}")
    return time.perf_counter() - started


def start_server(
    env: dict[str, str], port: int, log: Path, workers: int
) -> subprocess.Popen[bytes]:
    command = [
        venv_python(),
        "-m",
        "uvicorn",
        "prosora_pipelines.api.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
    ]
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=out, stderr=out)


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is not None:
        return
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=15)


def log_tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@dataclass(frozen=True)
class ServerUsage:
    """Memory and CPU time of the server: the uvicorn process and its workers together."""

    rss_mib: float
    peak_mib: float
    cpu_seconds: float


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (uvicorn's workers are its children)."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").iterdir():
            children = (task / "children").read_text().split()
            pending.extend(int(child) for child in children)
    return found


def server_usage(pid: int) -> ServerUsage:
    """Summed VmRSS and VmHWM (MiB), and user plus system CPU seconds, of ``pid``'s tree."""
    rss = peak = cpu = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for member in process_tree(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name == "VmRSS":
                rss += int(value.split()[0]) / 1024
            elif name == "VmHWM":
                peak += int(value.split()[0]) / 1024
        # Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
        fields = Path(f"/proc/{member}/stat").read_text().rpartition(")")[2].split()
        cpu += (int(fields[11]) + int(fields[12])) / ticks
    return ServerUsage(rss, peak, cpu)


def mint_users(secret: str) -> list[User]:
    config = TokenConfig(algorithm="HS256", secret=secret)
    users = []
    for number in range(USERS):
        email = f"load{number}@bench.example"
        token = mint_token(config, email, name=f"Load {number}", ttl=timedelta(hours=2))
        users.append(User(email=email, token=token))
    return users


async def wait_until_ready(
    http: httpx.AsyncClient, server: subprocess.Popen[bytes], log: Path
) -> dict[str, Any]:
    deadline = time.perf_counter() + READY_TIMEOUT_SECONDS
    last = "no answer"
    while time.perf_counter() < deadline:
        if server.poll() is not None:
            raise ServerFailedError(f"the API exited ({server.returncode}):\n{log_tail(log)}")
        try:
            response = await http.get("/ready")
        except httpx.TransportError as error:
            last = type(error).__name__
        else:
            if response.status_code == 200:
                ready: dict[str, Any] = response.json()
                return ready
            last = f"{response.status_code} {response.text[:300]}"
        await asyncio.sleep(0.25)
    raise ServerFailedError(f"/ready did not answer 200 in {READY_TIMEOUT_SECONDS:.0f} s: {last}")


def query_body(rng: random.Random, texts: list[str]) -> dict[str, Any]:
    return {
        "text": rng.choice(texts),
        "options": {"formats": [rng.choice(FORMATS)], "variants_per_format": 3},
    }


def remember_variants(user: User, answer: dict[str, Any]) -> None:
    for variant in answer.get("variants", []):
        user.variants.append((variant["id"], variant["format"]))


async def warm_up(http: httpx.AsyncClient, users: list[User], texts: list[str]) -> float:
    """Queries for each user until it has variants to post feedback on (the first loads the
    model; a question the sample covers thinly is answered without drafts), and one search;
    their wall seconds."""
    rng = random.Random(SEED)
    started = time.perf_counter()
    for user in users:
        for _ in range(WARM_UP_QUERIES):
            response = await http.post(
                f"{API}/queries", json=query_body(rng, texts), headers=user.headers
            )
            if response.status_code != 201:
                raise ServerFailedError(
                    f"warm-up query: {response.status_code} {response.text[:500]}"
                )
            remember_variants(user, response.json())
            if user.variants:
                break
        else:
            raise ServerFailedError(f"no drafts in {WARM_UP_QUERIES} warm-up queries")
    response = await http.get(
        f"{API}/search", params={"q": texts[0], "k": 10}, headers=users[0].headers
    )
    if response.status_code != 200:
        raise ServerFailedError(f"warm-up search: {response.status_code} {response.text[:500]}")
    return time.perf_counter() - started


async def one_request(
    http: httpx.AsyncClient, action: str, user: User, rng: random.Random, texts: list[str]
) -> httpx.Response:
    if action == SEARCH:
        params: dict[str, str | int] = {"q": rng.choice(texts), "k": rng.choice(SEARCH_K)}
        return await http.get(f"{API}/search", params=params, headers=user.headers)
    if action == QUERY:
        return await http.post(f"{API}/queries", json=query_body(rng, texts), headers=user.headers)
    if action == HISTORY:
        params = {"limit": str(rng.choice(HISTORY_LIMITS))}
        return await http.get(f"{API}/users/me/history", params=params, headers=user.headers)
    variant_id, content_format = rng.choice(user.variants)
    # The API refuses a posting time more than a day before the variant was drafted (in
    # the warm-up, minutes ago).
    posted_at = datetime.now(UTC) - timedelta(seconds=rng.randint(1, 60))
    impressions = rng.randint(100, 20_000)
    body = {
        "platform": PLATFORM_OF[content_format],
        "posted_at": posted_at.replace(microsecond=0).isoformat(),
        "impressions": impressions,
        "reactions": rng.randint(0, impressions // 20),
        "comments": rng.randint(0, impressions // 200),
        "shares": rng.randint(0, impressions // 400),
        "clicks": rng.randint(0, impressions // 50),
    }
    return await http.post(f"{API}/variants/{variant_id}/feedback", json=body, headers=user.headers)


def error_message(response: httpx.Response) -> str:
    try:
        message = str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = response.text
    return message[:200]


async def client(
    number: int,
    http: httpx.AsyncClient,
    user: User,
    texts: list[str],
    began: float,
    deadline: float,
    stats: dict[str, RouteStats],
    incidents: list[tuple[float, str, str]],
    think_seconds: float,
) -> None:
    """Sends one request after another until ``deadline``; ``incidents`` gets the time
    since ``began``, route and status of every 5xx and transport error."""
    rng = random.Random(SEED + number)
    actions, weights = list(MIX), list(MIX.values())
    if think_seconds:  # users arrive spread over one think time, not all in the same instant
        await asyncio.sleep(rng.uniform(0, think_seconds))
    while time.perf_counter() < deadline:
        action = rng.choices(actions, weights)[0]
        started = time.perf_counter()
        try:
            response = await one_request(http, action, user, rng, texts)
        except httpx.TransportError as error:  # timeouts included
            kind = "timeout" if isinstance(error, httpx.TimeoutException) else type(error).__name__
            stats[action].add(time.perf_counter() - started, kind)
            stats[action].messages[f"{kind} {error!r}"] += 1
            incidents.append((time.perf_counter() - began, ROUTES[action], kind))
            await asyncio.sleep(0.1)
            continue
        elapsed = time.perf_counter() - started
        stats[action].add(elapsed, str(response.status_code))
        if response.status_code >= 400:
            stats[action].messages[f"{response.status_code} {error_message(response)}"] += 1
            if response.status_code >= 500:
                incidents.append(
                    (elapsed + started - began, ROUTES[action], str(response.status_code))
                )
        if action == QUERY and response.status_code == 201:
            answer = response.json()
            remember_variants(user, answer)
            stats[action].server_ms.append(float(answer["processing_time_ms"]))
        elif action == SEARCH and response.status_code == 200:
            stats[action].server_ms.append(float(response.json()["took_ms"]))
        if think_seconds:
            pause = rng.expovariate(1 / think_seconds)
            await asyncio.sleep(min(pause, max(0.0, deadline - time.perf_counter())))


async def probe(http: httpx.AsyncClient, deadline: float, seconds: list[float]) -> None:
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            await http.get("/health")
        except httpx.TransportError:
            await asyncio.sleep(PROBE_INTERVAL_SECONDS)
            continue
        seconds.append(time.perf_counter() - started)
        await asyncio.sleep(PROBE_INTERVAL_SECONDS)


@dataclass
class LoadResult:
    stats: dict[str, RouteStats]
    incidents: list[tuple[float, str, str]]
    probe_seconds: list[float]
    wall_seconds: float
    warm_up_seconds: float
    ready_seconds: float
    ready: dict[str, Any]
    usage_start: ServerUsage
    usage_end: ServerUsage
    client_cpu_seconds: float


async def drive(
    base_url: str,
    server: subprocess.Popen[bytes],
    log: Path,
    users: list[User],
    texts: list[str],
    clients: int,
    seconds: float,
    think_seconds: float,
) -> LoadResult:
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4)
    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, timeout=REQUEST_TIMEOUT_SECONDS, trust_env=False
    ) as http:
        started = time.perf_counter()
        ready = await wait_until_ready(http, server, log)
        ready_seconds = time.perf_counter() - started
        warm_up_seconds = await warm_up(http, users, texts)
        usage_start = server_usage(server.pid)
        client_cpu = time.process_time()
        stats = {action: RouteStats() for action in MIX}
        probe_seconds: list[float] = []
        incidents: list[tuple[float, str, str]] = []
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(
            probe(http, deadline, probe_seconds),
            *(
                client(
                    number,
                    http,
                    users[number % len(users)],
                    texts,
                    started,
                    deadline,
                    stats,
                    incidents,
                    think_seconds,
                )
                for number in range(clients)
            ),
        )
        wall = time.perf_counter() - started
        usage_end = server_usage(server.pid)
        client_cpu = time.process_time() - client_cpu
    return LoadResult(
        stats,
        sorted(incidents),
        probe_seconds,
        wall,
        warm_up_seconds,
        ready_seconds,
        ready,
        usage_start,
        usage_end,
        client_cpu,
    )


def log_failures(log: Path) -> Counter[str]:
    """The exception each ``Exception in ASGI application`` in the server log ended with
    (the last exception line of the traceback that follows it)."""
    failures: Counter[str] = Counter()
    current: str | None = None
    inside = False
    for line in [*log.read_text(errors="replace").splitlines(), "INFO: end"]:
        if line.startswith(("INFO:", "WARNING:", "ERROR:", "unhandled ")):
            if inside:
                failures[current or "(no exception line)"] += 1
            inside = "Exception in ASGI application" in line
            current = None
            continue
        match = EXCEPTION_LINE.match(line)
        if inside and match:
            current = f"{match.group(1)}: {(match.group(2) or '')[:160]}"
    return failures


def report(result: LoadResult, log: Path, clients: int) -> None:
    stats = result.stats
    total = sum(len(route.seconds) for route in stats.values())
    print(
        f"server ready {result.ready_seconds:.1f} s after start "
        f"(index {result.ready.get('index_table')}, {result.ready.get('embedding_model')}); "
        f"warm-up ({USERS} queries, 1 search) {result.warm_up_seconds:.1f} s"
    )
    print()
    print(
        f"{total} requests in {result.wall_seconds:.1f} s from {clients} clients: "
        f"{total / result.wall_seconds:.1f} requests/s"
    )
    print()
    header = (
        f"  {'route':<38} {'count':>6} {'share':>6} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8} {'4xx':>5} {'5xx':>5} {'other':>5}"
    )
    print(header)
    for action, route in stats.items():
        count = len(route.seconds)
        other = count - route.count("2") - route.count("4") - route.count("5")
        print(
            f"  {ROUTES[action]:<38} {count:>6} {count / max(total, 1):>6.0%} "
            f"{route.percentile_ms(50):>8.1f} {route.percentile_ms(95):>8.1f} "
            f"{route.percentile_ms(99):>8.1f} {max(route.seconds, default=0) * 1000:>8.1f} "
            f"{route.count('4'):>5} {route.count('5'):>5} {other:>5}"
        )
    for action, route in stats.items():
        failed = {status: n for status, n in route.statuses.items() if not status.startswith("2")}
        if failed:
            print(f"  {ROUTES[action]}: " + ", ".join(f"{s} x{n}" for s, n in failed.items()))
            for message, n in route.messages.most_common(5):
                print(f"    {n} x {message}")
    if result.incidents:
        print(
            "  5xx and transport errors, seconds into the load: "
            + ", ".join(
                f"{at:.1f} {status} {route.split()[-1]}"
                for at, route, status in result.incidents[:20]
            )
        )
    print()
    print("work the server reports in its answers (p50 / p95 ms):")
    for action, label in ((SEARCH, "search took_ms"), (QUERY, "query processing_time_ms")):
        values = np.asarray(stats[action].server_ms or [0.0])
        print(f"  {label:<26} {np.percentile(values, 50):7.1f} / {np.percentile(values, 95):7.1f}")
    probe_ms = np.asarray(result.probe_seconds or [0.0]) * 1000
    print(
        f"  GET /health probe, every {PROBE_INTERVAL_SECONDS} s ({len(probe_ms)}): "
        f"p50 {np.percentile(probe_ms, 50):.1f}, p95 {np.percentile(probe_ms, 95):.1f}, "
        f"max {probe_ms.max():.1f} ms"
    )
    start, end = result.usage_start, result.usage_end
    print(
        f"server RSS: {start.rss_mib:.0f} MiB after warm-up, {end.rss_mib:.0f} MiB at the end "
        f"({end.rss_mib - start.rss_mib:+.0f} MiB); peak (VmHWM) {end.peak_mib:.0f} MiB"
    )
    server_cpu = end.cpu_seconds - start.cpu_seconds
    print(
        f"CPU during the load: server {server_cpu:.1f} s ({server_cpu / result.wall_seconds:.2f} "
        f"cores, {server_cpu / max(total, 1) * 1000:.1f} ms a request), load generator "
        f"{result.client_cpu_seconds:.1f} s ({result.client_cpu_seconds / result.wall_seconds:.2f} "
        f"cores), of {os.cpu_count()} cores"
    )
    failures = log_failures(log)
    print(f"server log: {sum(failures.values())} unhandled exceptions")
    for line, n in failures.most_common(8):
        print(f"  {n} x {line}")
    print()
    server_errors = sum(route.count("5") for route in stats.values())
    search_p95 = stats[SEARCH].percentile_ms(95)
    query_p95 = stats[QUERY].percentile_ms(95)
    print(f"target zero 5xx: {server_errors} 5xx, {verdict(server_errors == 0)}")
    print(
        f"target search p95 <= {SEARCH_P95_TARGET_MS:.0f} ms: {search_p95:.1f} ms, "
        f"{verdict(search_p95 <= SEARCH_P95_TARGET_MS)}"
    )
    print(
        f"target extractive query p95 <= {QUERY_P95_TARGET_MS:.0f} ms: {query_p95:.1f} ms, "
        f"{verdict(query_p95 <= QUERY_P95_TARGET_MS)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="load duration (60)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (32)")
    parser.add_argument(
        "--time-limit", type=int, default=None, help="whole run, seconds (--seconds + 150)"
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers (1)")
    parser.add_argument(
        "--think", type=float, default=0.0, help="mean think time between requests, s (0)"
    )
    parser.add_argument("--keep-log", type=Path, default=None, help="copy the server log here")
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK}")
    args = parser.parse_args()
    if args.quick:
        vars(args).update(QUICK)
    time_limit = args.time_limit or int(args.seconds) + 150
    start_time_limit(time_limit)
    began = time.perf_counter()
    texts = [item["q"] for item in load_sample_truth().queries]
    secret = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
    users = mint_users(secret)
    print(
        f"API load benchmark: {args.clients} clients, {args.seconds:g} s, {USERS} users, "
        f"{len(texts)} sample queries; {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"httpx {httpx.__version__}; {args.workers} uvicorn worker(s), think time {args.think:g} s"
    )
    with tempfile.TemporaryDirectory(prefix="prosora-api-load-") as scratch_name:
        scratch = Path(scratch_name)
        env = base_environment(scratch, secret)
        print(f"materialized the sample in {materialize(scratch, env):.1f} s")
        log = scratch / "server.log"
        port = free_port()
        server = start_server(env, port, log, args.workers)
        try:
            result = asyncio.run(
                drive(
                    f"http://127.0.0.1:{port}",
                    server,
                    log,
                    users,
                    texts,
                    args.clients,
                    args.seconds,
                    args.think,
                )
            )
        finally:
            stop_server(server)
            if args.keep_log:
                shutil.copy(log, args.keep_log)
        stop_time_limit()
        report(result, log, args.clients)
    print(f"whole run {time.perf_counter() - began:.0f} s (limit {time_limit} s)")


if __name__ == "__main__":
    main()
