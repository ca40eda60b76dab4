"""What every benchmark script here shares: timing a call, summarizing rounds, verdicts,
and a time limit for the whole run."""

from __future__ import annotations

import os
import signal
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import ParamSpec, TypeVar

REPO_ROOT = Path(__file__).resolve().parents[1]

P = ParamSpec("P")
T = TypeVar("T")


def timed(action: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> tuple[float, T]:
    """Wall seconds of one call, and what it returned."""
    started = time.perf_counter()
    value = action(*args, **kwargs)
    return time.perf_counter() - started, value


@dataclass
class Timing:
    """Wall times of one approach over the rounds, with how many items each round handled."""

    label: str
    items: int = 0
    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def spread(self) -> str:
        if len(self.seconds) == 1:
            return "(1 run)"
        return f"{min(self.seconds):.2f}–{max(self.seconds):.2f}"


def verdict(held: bool) -> str:
    return "met" if held else "NOT MET"


def start_time_limit(seconds: int) -> None:
    """After ``seconds``, raise TimeoutError in the main thread: a stuck run ends with an
    error instead of holding ``make bench`` forever."""

    def out_of_time(_signum: int, _frame: FrameType | None) -> None:
        raise TimeoutError(f"benchmark passed its {seconds} s time limit")

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(seconds)


def stop_time_limit() -> None:
    signal.alarm(0)


def shared_dir() -> Path:
    """The team's shared data: ``PROSORA_SHARED_DIR``, else ``../shared`` beside the checkout."""
    return Path(os.environ.get("PROSORA_SHARED_DIR", REPO_ROOT.parent / "shared"))
