"""Embedding benchmark: what does the article index asset cost on top of the bare model?

The ``article_index`` asset chunks articles with the model's tokenizer, encodes only chunks
whose ids are not stored yet, writes them to LanceDB with ``merge_insert`` in batches of
256, deletes stale chunks and refreshes the full-text (and, from 5,000 rows, vector)
indexes; all of that is :func:`prosora_pipelines.lib.index.article_embedding.index_articles`.
Encoding should dominate, so this benchmark compares, on the same chunk texts:

(a) a bare ``SentenceTransformer.encode`` call (batch 64, unit vectors), the floor;
(b) ``index_articles`` into an empty LanceDB folder: chunking, encoding, writing, indexing;
(c) re-runs of (b) on the same index where 1% of the articles are new, which should cost
    about 1% of (b) plus a fixed overhead (chunking every article, reading stored ids,
    ``optimize``);
(d) the peak RSS of a full ``index_articles`` over N_d and 10×N_d chunks, each in a fresh
    subprocess so peaks do not mix: the batching should keep memory flat as the corpus
    grows.

Texts are real: pieces of the bundled sample corpus's articles, each piece made its own
one-chunk article (its source article's title, 170–210 words trimmed until the tokenizer
says it fits one chunk), so that (a) and (b) encode exactly the same strings. Piece ``i``
starts at a golden-ratio rotation through the corpus's words, so any number of distinct
pieces can be cut, spread evenly, and new pieces for (c) are new text.

(a) and (b) run in interleaved rounds, alternating which goes first; medians are reported.

Run: ``.venv/bin/python benchmarks/embed.py`` from the repository root (``--help`` for the
sizes: ``--chunks``, ``--rss-chunks``, ``--rounds``; ``--quick`` for a smoke run of seconds).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from benchmarks.measuring import Timing, start_time_limit, stop_time_limit, timed, verdict  # noqa: E402
from prosora_pipelines.lib.articles.building import Article, articles_frame  # noqa: E402
from prosora_pipelines.lib.index.article_embedding import (  # noqa: E402
    CHUNK_OVERLAP_TOKENS,
    IndexingReport,
    article_chunks,
    index_articles,
)
from prosora_pipelines.lib.index.chunking import Tokenizer, chunk_article  # noqa: E402
from prosora_pipelines.lib.index.embedding import (  # noqa: E402
    DEFAULT_MODEL,
    Embedder,
    load_embedder,
    resolve_model_path,
)
from prosora_pipelines.lib.index.vector_store import ArticleIndex, table_name_for  # noqa: E402
from prosora_pipelines.lib.sample_corpus import sample_articles  # noqa: E402

DEFAULT_CHUNKS = 500
DEFAULT_RSS_CHUNKS = 200
RSS_FACTOR = 10
DEFAULT_ROUNDS = 2
INCREMENTAL_RUNS = 3
NEW_FRACTION = 0.01
BATCH_SIZE = 64  # the Settings default (embedding_batch_size)
PIECE_WORDS = (170, 210)  # before trimming to one chunk
TRIM_WORDS = 4
GOLDEN = (5**0.5 - 1) / 2
DEFAULT_TIME_LIMIT_SECONDS = 900
QUICK = {"chunks": 16, "rss_chunks": 4, "rounds": 1}
"""``--quick``: every step at the smallest size, a smoke run of seconds."""
WARM_UP_TEXTS = 64
RATIO_TARGET = 0.85
INCREMENTAL_TARGET = 0.05
RSS_GROWTH_TARGET = 1.3


@dataclass(frozen=True)
class Corpus:
    """The sample corpus as one stream of words, with the article each word came from."""

    words: list[str]
    owner: list[int]
    articles: list[Article]


def load_corpus() -> Corpus:
    articles, _ = sample_articles()
    canonical = sorted((a for a in articles if a.duplicate_of is None), key=lambda a: a.id)
    words: list[str] = []
    owner: list[int] = []
    for index, article in enumerate(canonical):
        found = article.text.split()
        words += found
        owner += [index] * len(found)
    return Corpus(words=words, owner=owner, articles=canonical)


def fit_one_chunk(title: str, words: list[str], tokenizer: Tokenizer, max_tokens: int) -> str:
    """The longest prefix of ``words`` (in steps) that chunking keeps as one chunk."""
    while True:
        body = " ".join(words)
        chunks = chunk_article(
            "probe",
            title,
            body,
            tokenizer,
            max_tokens=max_tokens,
            overlap_tokens=CHUNK_OVERLAP_TOKENS,
        )
        if len(chunks) == 1:
            return body
        words = words[:-TRIM_WORDS]


def piece_article(corpus: Corpus, index: int, embedder: Embedder) -> Article:
    """Article ``index``: a one-chunk piece of the corpus at a golden-ratio rotation, with
    the rest of its fields from the article it starts in."""
    total = len(corpus.words)
    start = int(((index + 1) * GOLDEN) % 1.0 * total)
    low, high = PIECE_WORDS
    length = low + (index * 7919) % (high - low + 1)
    words = [corpus.words[(start + k) % total] for k in range(length)]
    source = corpus.articles[corpus.owner[start]]
    text = fit_one_chunk(source.title, words, embedder.tokenizer, embedder.info.max_tokens)
    url = f"https://bench.invalid/articles/{index}"
    return dataclasses.replace(
        source,
        id=f"bench-{index:07d}",
        url=url,
        canonical_url=url,
        text=text,
        word_count=len(text.split()),
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
    )


def pieces_frame(corpus: Corpus, indices: range, embedder: Embedder) -> pl.DataFrame:
    """The articles frame (the library's own columns) of pieces ``indices``."""
    pieces = [piece_article(corpus, index, embedder) for index in indices]
    texts = {piece.text for piece in pieces}
    if len(texts) != len(pieces):
        raise RuntimeError(
            f"only {len(texts)} distinct pieces among {len(pieces)}; the corpus has "
            f"{len(corpus.words)} words, ask for fewer chunks"
        )
    return articles_frame(pieces)


def mib(kib: int) -> str:
    return f"{kib / 1024:,.0f} MiB"


def stored_vectors(index: ArticleIndex, embedder: Embedder) -> dict[str, np.ndarray]:
    table = index.open(table_name_for(embedder.info))
    rows = table.search().select(["chunk_id", "vector"]).limit(table.count_rows()).to_arrow()
    ids = rows.column("chunk_id").to_pylist()
    vectors = np.asarray(rows.column("vector").to_pylist(), dtype=np.float32)
    return dict(zip(ids, vectors, strict=True))


def max_rss_kib() -> int:
    """The process's peak resident set (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_status_kib(field_name: str) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (peak since start or reset) from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field_name}")


def reset_peak_rss() -> bool:
    """Reset the peak-RSS mark (Linux ``clear_refs``); False where that is not possible.

    Only the memory map's mark (``VmHWM``) resets: ``ru_maxrss`` also keeps the peak seen
    by every thread that has exited, and torch's loader threads have, so it cannot.
    """
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return memory_status_kib("VmHWM") <= memory_status_kib("VmRSS") * 1.02


def rss_child(chunks: int, device: str) -> None:
    """Subprocess body for (d): one full index_articles; prints its RSS figures as JSON."""
    embedder = load_embedder(DEFAULT_MODEL, device, "auto")
    frame = pieces_frame(load_corpus(), range(chunks), embedder)
    load_peak = max_rss_kib()
    before = memory_status_kib("VmRSS")
    # Loading torch and the model peaks well above what indexing needs; with the mark
    # reset, VmHWM afterwards is the peak of index_articles alone.
    reset = reset_peak_rss()
    with tempfile.TemporaryDirectory(prefix="bench-embed-rss-") as folder:
        seconds, report = timed(
            index_articles, frame, embedder, ArticleIndex(folder), batch_size=BATCH_SIZE
        )
    print(
        json.dumps(
            {
                "chunks": report.chunks,
                "encoded": report.encoded,
                "seconds": seconds,
                "load_peak_kib": load_peak,
                "before_kib": before,
                "peak_kib": memory_status_kib("VmHWM") if reset else max_rss_kib(),
                "maxrss_kib": max_rss_kib(),
                "reset": reset,
            }
        )
    )


def run_rss(chunks: int, device: str, deadline: float) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, __file__, "--rss-child", str(chunks), "--device", device],
        capture_output=True,
        text=True,
        timeout=max(1.0, deadline - time.monotonic()),
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"RSS subprocess for {chunks} chunks failed:\n{completed.stderr}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    if result["chunks"] != chunks or result["encoded"] != chunks:
        raise RuntimeError(f"RSS subprocess indexed {result}, expected {chunks} chunks")
    return result


def run_benchmark(args: argparse.Namespace, deadline: float) -> None:
    import lancedb
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    chunks: int = args.chunks
    new_count = max(1, round(chunks * NEW_FRACTION))
    rss_sizes = (args.rss_chunks, args.rss_chunks * RSS_FACTOR)
    embedder = load_embedder(DEFAULT_MODEL, args.device, "auto")
    model = SentenceTransformer(
        str(resolve_model_path(DEFAULT_MODEL)), device=args.device, local_files_only=True
    )
    corpus = load_corpus()
    frame = pieces_frame(corpus, range(chunks), embedder)
    rows = article_chunks(frame, embedder)
    if len(rows) != chunks:
        raise RuntimeError(f"{chunks} articles made {len(rows)} chunks, expected one each")
    texts = [row["text"] for row in rows]
    tokens = [len(embedder.tokenizer(text)["input_ids"]) for text in texts]

    print(
        f"Embedding benchmark: N = {chunks} chunks (--chunks), one per article, cut from the "
        f"{len(corpus.articles)} canonical sample articles ({len(corpus.words):,} words); "
        f"{statistics.median(tokens):.0f} tokens median ({min(tokens)}–{max(tokens)}) of "
        f"{embedder.info.max_tokens}"
    )
    print(
        f"{os.cpu_count()} CPUs, device {embedder.info.device} ({embedder.info.precision}), "
        f"{torch.get_num_threads()} torch threads; Python {platform.python_version()}, "
        f"torch {torch.__version__}, sentence-transformers {sentence_transformers.__version__}, "
        f"lancedb {lancedb.__version__}; batch {BATCH_SIZE}"
    )
    print()

    # Warm both copies of the model (first calls allocate and pick kernels).
    model.encode(texts[:WARM_UP_TEXTS], batch_size=BATCH_SIZE, show_progress_bar=False)
    embedder.encode(texts[:WARM_UP_TEXTS], batch_size=BATCH_SIZE)

    raw = Timing("(a) SentenceTransformer.encode")
    full = Timing("(b) index_articles into an empty LanceDB")
    reports: list[IndexingReport] = []
    raw_vectors = np.zeros((0, embedder.info.dimension), dtype=np.float32)
    workdir = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    try:
        folder = workdir / "index-0"
        for round_number in range(args.rounds):
            folder = workdir / f"index-{round_number}"
            order = ("a", "b") if round_number % 2 == 0 else ("b", "a")
            for step in order:
                if step == "a":
                    seconds, raw_vectors = timed(
                        model.encode,
                        texts,
                        batch_size=BATCH_SIZE,
                        normalize_embeddings=True,
                        show_progress_bar=False,
                    )
                    raw.seconds.append(seconds)
                else:
                    seconds, report = timed(
                        index_articles, frame, embedder, ArticleIndex(folder), batch_size=BATCH_SIZE
                    )
                    full.seconds.append(seconds)
                    reports.append(report)
            if round_number + 1 < args.rounds:
                shutil.rmtree(folder)
        for report in reports:
            if report.encoded != chunks or report.chunks != chunks:
                raise RuntimeError(f"index_articles encoded {report.encoded} of {chunks}")

        # Same strings, same model: the stored vectors should match (a)'s.
        index = ArticleIndex(folder)
        stored = stored_vectors(index, embedder)
        agreement = min(
            float(np.dot(stored[row["chunk_id"]], vector))
            for row, vector in zip(rows, raw_vectors, strict=True)
        )

        # (c): successive re-runs on the same index, each with 1% new articles.
        incremental = Timing(f"(c) re-run, {new_count} new articles (1%) each time")
        grown = frame
        next_index = chunks
        for _ in range(INCREMENTAL_RUNS):
            added = pieces_frame(corpus, range(next_index, next_index + new_count), embedder)
            next_index += new_count
            grown = pl.concat([grown, added])
            seconds, report = timed(index_articles, grown, embedder, index, batch_size=BATCH_SIZE)
            incremental.seconds.append(seconds)
            if report.encoded != new_count or report.deleted != 0:
                raise RuntimeError(
                    f"1% re-run encoded {report.encoded} (expected {new_count}), "
                    f"deleted {report.deleted}"
                )
        # Where a re-run's fixed cost goes: the same again with nothing new, and chunking.
        unchanged = Timing("    re-run, nothing new")
        rechunk = Timing(f"    article_chunks alone, all {grown.height} articles")
        for _ in range(INCREMENTAL_RUNS):
            seconds, report = timed(index_articles, grown, embedder, index, batch_size=BATCH_SIZE)
            unchanged.seconds.append(seconds)
            if report.encoded != 0:
                raise RuntimeError(f"an unchanged re-run encoded {report.encoded} chunks")
            seconds, _rows = timed(article_chunks, grown, embedder)
            rechunk.seconds.append(seconds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    # (d): fresh processes, smaller and 10× larger.
    rss = [run_rss(size, args.device, deadline) for size in rss_sizes]

    encode = statistics.median(r.encode_seconds for r in reports)
    write = statistics.median(r.write_seconds for r in reports)
    ratio = raw.median / full.median
    print(f"(a), (b): median of {args.rounds} interleaved rounds (--rounds), order alternating")
    print(f"{'approach':<46}{'seconds':>9}{'range':>14}{'chunks/s':>10}{'vs (a)':>8}")
    for timing in (raw, full):
        print(
            f"{timing.label:<46}{timing.median:>9.2f}{timing.spread:>14}"
            f"{chunks / timing.median:>10.1f}{raw.median / timing.median:>8.2f}"
        )
    rest = full.median - encode - write
    print(
        f"    (b) split: encode {encode:.2f} s, LanceDB writes + index refresh {write:.2f} s, "
        f"chunking and bookkeeping {rest:.2f} s"
    )
    print(f"    stored vectors vs (a): lowest cosine {agreement:.6f}")
    print()
    print(f"(c): median of {INCREMENTAL_RUNS} runs each, on the index (b) built, in this order")
    print(f"{'re-run':<46}{'seconds':>9}{'range':>14}{'of (b)':>10}")
    for timing in (incremental, unchanged, rechunk):
        print(
            f"{timing.label:<46}{timing.median:>9.2f}{timing.spread:>14}"
            f"{timing.median / full.median:>10.3f}"
        )
    print()
    print(
        f"(d): peak RSS of a full index_articles, each size in a fresh process "
        f"(--rss-chunks {args.rss_chunks}, ×{RSS_FACTOR})"
    )
    print(
        f"{'chunks':>8}{'seconds':>9}{'ru_maxrss':>12}{'RSS before':>12}"
        f"{'indexing peak':>15}{'added':>10}"
    )
    for result in rss:
        added = result["peak_kib"] - result["before_kib"]
        print(
            f"{result['chunks']:>8}{result['seconds']:>9.1f}{mib(result['maxrss_kib']):>12}"
            f"{mib(result['before_kib']):>12}{mib(result['peak_kib']):>15}{mib(added):>10}"
        )
    print(
        "    ru_maxrss: the whole process's peak, set while loading torch and the model "
        f"({mib(rss[0]['load_peak_kib'])} before indexing began);"
    )
    print(
        "    RSS before: resident once model and articles are loaded; indexing peak: VmHWM "
        "with the mark reset just before index_articles"
    )
    if not all(result["reset"] for result in rss):
        print("!! the peak-RSS mark could not be reset: 'indexing peak' is ru_maxrss")
    growth = rss[1]["peak_kib"] / rss[0]["peak_kib"]
    maxrss_growth = rss[1]["maxrss_kib"] / rss[0]["maxrss_kib"]
    added_growth = (rss[1]["peak_kib"] - rss[1]["before_kib"]) / max(
        1, rss[0]["peak_kib"] - rss[0]["before_kib"]
    )
    print(
        f"    growth ×{RSS_FACTOR} chunks: indexing peak {growth:.2f}×, ru_maxrss "
        f"{maxrss_growth:.2f}×, memory indexing added {added_growth:.2f}×"
    )

    fraction = incremental.median / full.median
    print()
    print("targets")
    print(f"  (b) chunks/s ≥ {RATIO_TARGET} of (a): {ratio:.2f} — {verdict(ratio >= RATIO_TARGET)}")
    print(
        f"  1% re-run ≤ {INCREMENTAL_TARGET} of the full run: {fraction:.3f} — "
        f"{verdict(fraction <= INCREMENTAL_TARGET)}"
    )
    print(
        f"  indexing peak RSS at {rss_sizes[1]} chunks ≤ {RSS_GROWTH_TARGET}× that at "
        f"{rss_sizes[0]}: {growth:.2f}× — {verdict(growth <= RSS_GROWTH_TARGET)} "
        f"(ru_maxrss: {maxrss_growth:.2f}×)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=DEFAULT_CHUNKS, help="N for (a)–(c)")
    parser.add_argument(
        "--rss-chunks",
        type=int,
        default=DEFAULT_RSS_CHUNKS,
        help=f"N_d for (d); it also runs {RSS_FACTOR}×N_d",
    )
    parser.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="rounds of (a), (b)")
    parser.add_argument("--device", default="cpu", help="torch device for (a)–(d)")
    parser.add_argument(
        "--time-limit", type=int, default=DEFAULT_TIME_LIMIT_SECONDS, help="seconds, then stop"
    )
    parser.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK}")
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        vars(args).update(QUICK)
    if args.rss_child is not None:
        rss_child(args.rss_child, args.device)
        return
    if args.chunks < 1 or args.rss_chunks < 1 or args.rounds < 1:
        parser.error("--chunks, --rss-chunks and --rounds must be positive")
    start_time_limit(args.time_limit)
    try:
        run_benchmark(args, time.monotonic() + args.time_limit)
    finally:
        stop_time_limit()


if __name__ == "__main__":
    main()
