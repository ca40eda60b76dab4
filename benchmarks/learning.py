"""Learning benchmark: how long (and how much memory) the learning loop's three steps take
at 1k, 10k and 100k observations, and how the model's hold-out error falls with more data.

Steps, each timed on its own, the way the ``engagement`` job runs them:

- observations: ``build_observations`` from feedback rows (features, the prior's prediction,
  the table), with text embeddings looked up from vectors computed beforehand: the posts are
  drawn from a pool of distinct texts (``--texts``), embedded once by the real model, whose
  throughput is printed on its own line so the cost of embedding every post can be worked
  out (texts ÷ texts per second);
- patterns: ``estimate_patterns`` and ``upsert_patterns`` into a SQLite app database;
- model: ``train`` (tuning, the candidate, every baseline, metrics) with no promoted model;
- fine-tune: the embedding fine-tune's trainer (``lib/index/finetuning.finetune``) on the
  bundled sample's title ↔ body pairs for a fixed number of steps, in pairs per second on
  whatever device the embedding model uses (``PROSORA_EMBEDDING_DEVICE=cuda`` on a GPU host).

Memory is the peak resident set size during the step (Linux: ``/proc/self/clear_refs``
resets it, ``VmHWM`` reads it), so allocations of NumPy, polars and SQLite all count.

Data: users with base rates between 1.5 % and 5 %, posts whose hook, length, hashtags, link
and posting hour vary independently, and engagement drawn from the base rate times planted
effects on those features, with log-normal noise, as a binomial over the impressions. This
generator is the benchmark's own (benchmarks do not import test helpers), simpler than the
tests' engagement simulator.

Run: ``.venv/bin/python benchmarks/learning.py`` from the repository root; ``--quick`` runs
1k observations from 64 texts only and two fine-tune steps. On a GPU host:
``PROSORA_EMBEDDING_DEVICE=cuda .venv/bin/python benchmarks/learning.py --sizes 1000``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ParamSpec, TypeVar

import polars as pl
from sqlalchemy.orm import Session, sessionmaker

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402

from benchmarks.measuring import start_time_limit, stop_time_limit, timed  # noqa: E402
from prosora_pipelines.lib.appdb.engine import make_engine, make_session_factory  # noqa: E402
from prosora_pipelines.lib.appdb.migrations import migrate  # noqa: E402
from prosora_pipelines.lib.appdb.repository import get_or_create_user  # noqa: E402
from prosora_pipelines.lib.engagement.features import embedding_text  # noqa: E402
from prosora_pipelines.lib.engagement.observations import (  # noqa: E402
    FeedbackPost,
    build_observations,
)
from prosora_pipelines.lib.engagement.patterns import (  # noqa: E402
    PatternChanges,
    estimate_patterns,
    upsert_patterns,
)
from prosora_pipelines.lib.engagement.training import train  # noqa: E402
from prosora_pipelines.lib.index.embedding import (  # noqa: E402
    choose_device,
    load_embedder,
    resolve_model_path,
)
from prosora_pipelines.lib.index.finetuning import (  # noqa: E402
    FinetuneConfig,
    finetune,
    title_body_pairs,
)
from prosora_pipelines.lib.sample_corpus import sample_articles  # noqa: E402

SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (1_000,)
TEXTS = 600
QUICK_TEXTS = 64
FINETUNE_STEPS = 20
QUICK_FINETUNE_STEPS = 2
FINETUNE_BATCH = 32
USERS = 20
TIME_LIMIT_SECONDS = 3600
HOOKS = {
    "story": (1.3, "Last spring I sat with a founder who had run out of runway."),
    "data": (1.0, "62% of fintech teams changed course this quarter."),
    "contrarian": (0.8, "Everyone says speed wins in payments. It does not."),
    "question": (1.1, "What would open banking look like if the rules changed tomorrow?"),
}
SENTENCES = (
    "The evidence points the same way across markets.",
    "Costs fell while compliance work grew.",
    "Teams that planned early shipped with fewer surprises.",
    "Customers noticed the difference within weeks.",
    "Investors asked harder questions about risk.",
    "Smaller firms leaned on partners for the heavy lifting.",
)
P = ParamSpec("P")
T = TypeVar("T")
HOUR_EFFECT = {hour: (1.3 if 6 <= hour < 12 else 0.7 if hour < 6 else 1.0) for hour in range(24)}


def texts_pool(count: int, rng: np.random.Generator) -> list[tuple[str, str, float]]:
    """``count`` distinct posts: (text, hook, the text's planted multiplier)."""
    pool = []
    for index in range(count):
        hook = list(HOOKS)[index % len(HOOKS)]
        effect, opening = HOOKS[hook]
        sentences = int(rng.choice([4, 14, 30]))
        body = " ".join(str(rng.choice(SENTENCES)) for _ in range(sentences))
        link = f" https://example.org/p/{index}" if rng.random() < 0.35 else ""
        tags = " ".join(f"#topic{i}" for i in range(int(rng.choice([0, 2, 5]))))
        effect *= (0.7 if link else 1.0) * (0.75 if tags.count("#") > 3 else 1.0)
        effect *= 1.2 if sentences == 4 else 0.85 if sentences == 30 else 1.0
        pool.append((f"{opening} ({index})\n\n{body}{link}\n\n{tags}".strip(), hook, effect))
    return pool


def feedback(
    count: int, pool: Sequence[tuple[str, str, float]], rng: np.random.Generator
) -> list[FeedbackPost]:
    users = [str(uuid.UUID(int=index + 1)) for index in range(USERS)]
    base = {user: float(rng.uniform(0.015, 0.05)) for user in users}
    start = datetime(2025, 1, 1, tzinfo=UTC)
    posts = []
    for index in range(count):
        text, hook, effect = pool[int(rng.integers(0, len(pool)))]
        user = users[int(rng.integers(0, USERS))]
        posted = start + timedelta(minutes=int(index * 525_600 / count + rng.integers(0, 1440)))
        rate = min(base[user] * effect * HOUR_EFFECT[posted.hour] * rng.lognormal(-0.03, 0.25), 0.9)
        impressions = int(rng.integers(300, 3000))
        interactions = int(rng.binomial(impressions, rate))
        posts.append(
            FeedbackPost(
                feedback_id=str(uuid.UUID(int=10**9 + index)),
                recorded_at=posted + timedelta(days=2),
                user_id=user,
                variant_id=str(uuid.UUID(int=2 * 10**9 + index)),
                platform="linkedin",
                posted_at=posted,
                drafted_at=posted - timedelta(hours=2),
                impressions=impressions,
                reactions=interactions,
                comments=0,
                shares=0,
                format="linkedin_post",
                text=text,
                hook_type=hook,
                query_domains={"finance": 1.0},
                cited_tiers=("premium", "standard"),
                timezone=None,
            )
        )
    return posts


def by_id_reader(by_id: dict[str, FeedbackPost]) -> Callable[[Iterable[str]], list[FeedbackPost]]:
    """What ``build_observations`` reads feedback with: here, from memory."""
    return lambda ids: [by_id[i] for i in ids]


def learn_patterns(table: pl.DataFrame, sessions: sessionmaker[Session]) -> PatternChanges:
    with sessions.begin() as session:
        return upsert_patterns(session, estimate_patterns(table), datetime.now(UTC))


def peak_reset() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def memory_mib(field: str) -> float | None:
    """``VmHWM`` (peak) or ``VmRSS`` (now) of this process, in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def measured(label: str, size: int, action: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``action``'s value, with its wall time and peak memory printed."""
    before = memory_mib("VmRSS")
    resettable = peak_reset()
    seconds, value = timed(action, *args, **kwargs)
    peak = memory_mib("VmHWM") if resettable else None
    memory = (
        f"{peak:,.0f} MiB peak RSS, {peak - before:+,.0f} MiB over the start"
        if peak is not None and before is not None
        else "peak RSS n/a"
    )
    print(f"  {label:<13} {size:>7,} observations: {seconds:8.2f} s, {memory}")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1k observations, 64 texts")
    parser.add_argument("--sizes", type=int, nargs="+", help="observation counts")
    parser.add_argument("--texts", type=int, help="distinct post texts in the pool")
    args = parser.parse_args()
    sizes: Iterable[int] = args.sizes or (QUICK_SIZES if args.quick else SIZES)
    text_count = args.texts or (QUICK_TEXTS if args.quick else TEXTS)
    start_time_limit(TIME_LIMIT_SECONDS)
    rng = np.random.default_rng(7)
    print(f"Learning benchmark: {os.cpu_count()} CPUs, {USERS} users, {text_count} texts")
    pool = texts_pool(text_count, rng)
    embedder = load_embedder()
    embedder.encode([embedding_text(text) for text, _, _ in pool[:8]])  # load the model
    started = time.perf_counter()
    vectors = embedder.encode([embedding_text(text) for text, _, _ in pool])
    seconds = time.perf_counter() - started
    print(
        f"embedding: {len(pool)} post openings in {seconds:.2f} s, "
        f"{len(pool) / seconds:,.1f} texts/s (the cost of embedding every post)"
    )
    vector_of = {embedding_text(text): vectors[i] for i, (text, _, _) in enumerate(pool)}

    def embed(texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return np.stack([vector_of[text] for text in texts]).astype(np.float32)

    curve = []
    with tempfile.TemporaryDirectory(prefix="prosora-learning-bench-") as scratch:
        for size in sizes:
            posts = feedback(size, pool, rng)
            by_id = {post.feedback_id: post for post in posts}
            versions = {post.feedback_id: post.recorded_at for post in posts}
            build = measured(
                "observations",
                size,
                build_observations,
                None,
                versions,
                by_id_reader(by_id),
                embed,
            )
            url = f"sqlite:///{Path(scratch) / f'app-{size}.db'}"
            migrate(url)
            engine = make_engine(url)
            sessions = make_session_factory(engine)
            with sessions.begin() as session:
                ids = {}
                for number in range(USERS):
                    user = get_or_create_user(session, f"user{number}@example.com", "u")
                    ids[str(uuid.UUID(int=number + 1))] = str(user.id)
            table = build.table.with_columns(build.table["user_id"].replace(ids))

            changes = measured("patterns", size, learn_patterns, table, sessions)
            engine.dispose()
            report = measured("model", size, train, table, None)
            print(f"    {changes.created} pattern rows; {report.reason}")
            scores = report.scores
            curve.append((size, scores))
    print("\nHold-out metrics against the number of observations (newest 20 % held out)")
    print(
        f"{'observations':>12} | {'model MAE':>9} | {'user-mean MAE':>13} | {'ratio':>5} "
        f"| {'pairwise':>8} | {'Spearman':>8}"
    )
    for size, scores in curve:
        model, baseline = scores["linear"], scores["user_mean"]
        pairwise = model.pairwise_accuracy
        spearman = model.spearman
        print(
            f"{size:>12,} | {model.mae:>9.5f} | {baseline.mae:>13.5f} | "
            f"{model.mae / baseline.mae:>5.2f} | "
            f"{'n/a' if pairwise is None else f'{pairwise:.3f}':>8} | "
            f"{'n/a' if spearman is None else f'{spearman:.3f}':>8}"
        )
    finetune_throughput(QUICK_FINETUNE_STEPS if args.quick else FINETUNE_STEPS)
    stop_time_limit()


def finetune_throughput(steps: int) -> None:
    """Pairs per second of the embedding fine-tune on this machine's device."""
    articles, _ = sample_articles()
    pairs = title_body_pairs((a.title, a.text) for a in articles if a.duplicate_of is None)
    device = choose_device(os.environ.get("PROSORA_EMBEDDING_DEVICE", "auto"))
    config = FinetuneConfig(batch_size=FINETUNE_BATCH, max_steps=steps)
    with tempfile.TemporaryDirectory(prefix="prosora-finetune-bench-") as scratch:
        run = finetune(
            resolve_model_path("all-MiniLM-L6-v2"), pairs, Path(scratch) / "model", config, device
        )
    print(
        f"\nfine-tune: {run.steps} steps of {run.batch_size} pairs on {run.device} "
        f"({run.precision}) in {run.seconds:.1f} s, {run.pairs_per_second:,.1f} pairs/s"
    )


if __name__ == "__main__":
    main()
