"""What every benchmark script here shares: timing a call, summarizing rounds, verdicts."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ParamSpec, TypeVar

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
