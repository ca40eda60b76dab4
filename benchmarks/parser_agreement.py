"""Parser agreement: could a faster parser replace feedparser without changing what we store?

feedparser is pure Python and costs most of an ingest's CPU time. ``fastfeedparser`` (lxml
with a Rust core) and ``feedparser-rs`` (Rust, feedparser's API) are much faster. A parser
may replace feedparser only if it reads the same feeds the same way, so this script parses
every snapshot in ``../shared/feeds/real`` and ``../shared/feeds/tricky`` with all three and
prints, per corpus and parser:

- feeds whose document is read the same (both give entries, or both give none), and feeds
  whose bozo verdict agrees (fastfeedparser has no such flag, so it counts as never bozo);
- feeds with the same number of items, and among items matched by position, the share with
  the same title, link, id and date (published, else updated, as a UTC instant);
- parse time for the whole corpus, against feedparser's.

Run: ``.venv/bin/python benchmarks/parser_agreement.py`` from the repository root
(``--quick``: the first 10 feeds of each corpus). The two candidate parsers are in the
``dev`` extra; they are not used by the pipelines.
"""

from __future__ import annotations

import argparse
import calendar
import gzip
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import fastfeedparser  # noqa: E402
import feedparser  # noqa: E402
import feedparser_rs  # noqa: E402
from dateutil.parser import isoparse  # noqa: E402

from benchmarks.measuring import shared_dir  # noqa: E402

CORPORA = ("real", "tricky")
FIELDS = ("title", "link", "id", "date")
QUICK_FEEDS = 10


@dataclass(frozen=True)
class Reading:
    """What one parser made of one document, in the terms our ingestion uses."""

    bozo: bool
    items: list[dict[str, object]]
    seconds: float


@dataclass
class Agreement:
    feeds: int = 0
    same_readability: int = 0
    same_bozo: int = 0
    same_count: int = 0
    items_compared: int = 0
    same_fields: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIELDS, 0))
    seconds: float = 0.0
    disagreements: list[str] = field(default_factory=list)


def _struct_date(entry: Any) -> datetime | None:
    for name in ("published_parsed", "updated_parsed"):
        value = entry.get(name)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), UTC)
    return None


def _iso_date(entry: Any) -> datetime | None:
    for name in ("published", "updated"):
        value = entry.get(name)
        if value:
            try:
                parsed = isoparse(value)
            except ValueError:
                return None
            # feedparser keeps whole seconds; fractions are not a disagreement.
            parsed = parsed.replace(microsecond=0)
            return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _item(entry: Any, date: datetime | None) -> dict[str, object]:
    return {
        "title": entry.get("title") or None,
        "link": entry.get("link") or None,
        "id": entry.get("id") or None,
        "date": date,
    }


def read_feedparser(body: bytes) -> Reading:
    started = time.perf_counter()
    parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    seconds = time.perf_counter() - started
    items = [_item(entry, _struct_date(entry)) for entry in parsed.entries]
    return Reading(bool(parsed.bozo), items, seconds)


def read_feedparser_rs(body: bytes) -> Reading:
    started = time.perf_counter()
    parsed = feedparser_rs.parse(body)
    seconds = time.perf_counter() - started
    items = [_item(entry, _struct_date(entry)) for entry in parsed.entries]
    return Reading(bool(parsed.bozo), items, seconds)


def read_fastfeedparser(body: bytes) -> Reading:
    """fastfeedparser has no bozo flag (it reads what it can and says nothing): never bozo."""
    started = time.perf_counter()
    parsed = fastfeedparser.parse(body)
    seconds = time.perf_counter() - started
    items = [_item(entry, _iso_date(entry)) for entry in parsed.get("entries", [])]
    return Reading(False, items, seconds)


def compare(name: str, reference: Reading, candidate: Reading, agreement: Agreement) -> None:
    agreement.feeds += 1
    agreement.seconds += candidate.seconds
    agreement.same_readability += bool(reference.items) == bool(candidate.items)
    agreement.same_bozo += reference.bozo == candidate.bozo
    if len(reference.items) == len(candidate.items):
        agreement.same_count += 1
    else:
        agreement.disagreements.append(
            f"{name}: {len(reference.items)} items vs {len(candidate.items)}"
        )
    for ours, theirs in zip(reference.items, candidate.items, strict=False):
        agreement.items_compared += 1
        for name_ in FIELDS:
            if ours[name_] == theirs[name_]:
                agreement.same_fields[name_] += 1
            elif len(agreement.disagreements) < 200:
                agreement.disagreements.append(
                    f"{name}: {name_} {ours[name_]!r:.60} vs {theirs[name_]!r:.60}"
                )


def _body(path: Path) -> bytes:
    data = path.read_bytes()
    # The gzipped snapshot is gunzipped by our own repair step before any parser sees it.
    return gzip.decompress(data) if path.suffix == ".gz" else data


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "n/a"


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    options.add_argument("--show", type=int, default=8, help="disagreements listed per parser")
    options.add_argument("--quick", action="store_true", help=f"the first {QUICK_FEEDS} feeds")
    arguments = options.parse_args()
    candidates: dict[str, Callable[[bytes], Reading]] = {
        "fastfeedparser": read_fastfeedparser,
        "feedparser-rs": read_feedparser_rs,
    }
    print(
        f"feedparser {feedparser.__version__} against fastfeedparser "
        f"{getattr(fastfeedparser, '__version__', '?')} and feedparser-rs "
        f"{getattr(feedparser_rs, '__version__', '?')}"
    )
    for corpus in CORPORA:
        folder = shared_dir() / "feeds" / corpus
        files = sorted(p for p in folder.glob("*") if p.suffix in {".xml", ".gz"})
        files = files[:QUICK_FEEDS] if arguments.quick else files
        if not files:
            sys.exit(f"no feed snapshots in {folder} (set PROSORA_SHARED_DIR to the shared folder)")
        bodies = {path.name: _body(path) for path in files}
        references = {name: read_feedparser(body) for name, body in bodies.items()}
        reference_seconds = sum(reading.seconds for reading in references.values())
        reference_items = sum(len(reading.items) for reading in references.values())
        print()
        print(
            f"{corpus}: {len(files)} feeds, {reference_items} items by feedparser "
            f"in {reference_seconds:.2f} s"
        )
        header = f"{'parser':<16}{'readable':>9}{'bozo':>8}{'count':>8}"
        header += "".join(f"{name:>8}" for name in FIELDS) + f"{'seconds':>9}{'speed':>8}"
        print(header)
        for label, read in candidates.items():
            agreement = Agreement()
            for name, body in bodies.items():
                compare(name, references[name], read(body), agreement)
            row = (
                f"{label:<16}"
                f"{_percent(agreement.same_readability, agreement.feeds):>9}"
                f"{_percent(agreement.same_bozo, agreement.feeds):>8}"
                f"{_percent(agreement.same_count, agreement.feeds):>8}"
            )
            for name in FIELDS:
                row += f"{_percent(agreement.same_fields[name], agreement.items_compared):>8}"
            speed = reference_seconds / agreement.seconds if agreement.seconds else 0.0
            print(row + f"{agreement.seconds:>9.2f}{speed:>7.1f}×")
            for line in agreement.disagreements[: arguments.show]:
                print(f"    {line}")
    print()
    print("percentages: feeds (readable, bozo, count) or items (fields) that agree with feedparser")


if __name__ == "__main__":
    main()
