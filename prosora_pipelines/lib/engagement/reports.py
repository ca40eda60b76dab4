"""Learning results as a person reads them: tables of effects and a plot of them.

The plot is an SVG drawn here (a dot per lift, a line for its interval, a vertical line at
"no effect"), small enough to embed in Dagster metadata as a data URI, so no plotting
library is needed for a handful of rows.
"""

from __future__ import annotations

import base64
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from html import escape

from prosora_pipelines.lib.engagement.patterns import PatternEstimate

PLOT_WIDTH = 640
ROW_HEIGHT = 18
LABEL_WIDTH = 260


def top_effects(
    estimates: Sequence[PatternEstimate], per_user: int
) -> dict[str, list[PatternEstimate]]:
    """Per user, the active effects furthest from no effect, strongest first."""
    grouped: dict[str, list[PatternEstimate]] = defaultdict(list)
    for estimate in estimates:
        if estimate.active:
            grouped[estimate.user_id].append(estimate)
    return {
        user: sorted(effects, key=lambda e: -abs(math.log(e.lift)))[:per_user]
        for user, effects in sorted(grouped.items())
    }


def effects_markdown(
    estimates: Sequence[PatternEstimate], names: Mapping[str, str], per_user: int = 5
) -> str:
    """A markdown table of each user's strongest active effects (``names``: user id → how
    to show the user)."""
    lines = [
        "| user | pattern | lift | 90% interval | samples | confidence |",
        "|---|---|---|---|---|---|",
    ]
    for user, effects in top_effects(estimates, per_user).items():
        for effect in effects:
            low, high = effect.interval
            lines.append(
                f"| {names.get(user, user)} | {effect.feature}={effect.value} "
                f"| {effect.lift - 1:+.0%} | {low - 1:+.0%} to {high - 1:+.0%} "
                f"| {effect.samples} | {effect.confidence:.2f} |"
            )
    if len(lines) == 2:
        lines.append("| — | no active pattern yet | | | | |")
    return "\n".join(lines)


def effects_svg(effects: Sequence[tuple[str, PatternEstimate]]) -> str:
    """A forest plot of labelled effects on a log scale (module docstring)."""
    bounds = [bound for _, effect in effects for bound in effect.interval] or [1.0]
    low = min(min(bounds), 0.9)
    high = max(max(bounds), 1.1)
    span = math.log(high) - math.log(low)
    plot = PLOT_WIDTH - LABEL_WIDTH - 20

    def x(value: float) -> float:
        return LABEL_WIDTH + plot * (math.log(value) - math.log(low)) / span

    height = ROW_HEIGHT * (len(effects) + 2)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{PLOT_WIDTH}" height="{height}" '
        'font-family="sans-serif" font-size="11">',
        f'<line x1="{x(1.0):.1f}" y1="0" x2="{x(1.0):.1f}" y2="{height - ROW_HEIGHT}" '
        'stroke="#999" stroke-dasharray="3,3"/>',
        f'<text x="{x(1.0):.1f}" y="{height - 4}" text-anchor="middle">no effect</text>',
    ]
    for row, (label, effect) in enumerate(effects, start=1):
        y = row * ROW_HEIGHT
        colour = "#1a7f37" if effect.lift >= 1 else "#b42318"
        parts.append(f'<text x="4" y="{y + 4}">{escape(label)}</text>')
        parts.append(
            f'<line x1="{x(effect.interval[0]):.1f}" y1="{y}" x2="{x(effect.interval[1]):.1f}" '
            f'y2="{y}" stroke="{colour}" stroke-width="2"/>'
        )
        parts.append(f'<circle cx="{x(effect.lift):.1f}" cy="{y}" r="4" fill="{colour}"/>')
    parts.append("</svg>")
    return "".join(parts)


def effects_plot_markdown(
    estimates: Sequence[PatternEstimate], names: Mapping[str, str], per_user: int = 5
) -> str:
    """The strongest active effects as an embedded SVG image in markdown."""
    labelled = [
        (f"{names.get(user, user)[:24]} {effect.feature}={effect.value}", effect)
        for user, effects in top_effects(estimates, per_user).items()
        for effect in effects
    ]
    encoded = base64.b64encode(effects_svg(labelled).encode()).decode()
    return f"![effects with 90% intervals](data:image/svg+xml;base64,{encoded})"
