"""Why: the learning patterns asset shows people its strongest effects as a table and a plot;
both must list only active effects, strongest first, and the plot must be a valid image."""

from __future__ import annotations

import base64
import re
from xml.etree import ElementTree

from prosora_pipelines.lib.engagement.patterns import PatternEstimate
from prosora_pipelines.lib.engagement.reports import effects_markdown, effects_plot_markdown


def _estimate(
    value: str, lift: float, interval: tuple[float, float], samples: int = 30
) -> PatternEstimate:
    return PatternEstimate("u1", "hook_type", value, lift, interval, samples, 0.03, lift, 0.9)


ESTIMATES = [
    _estimate("story", 1.3, (1.1, 1.5)),
    _estimate("contrarian", 0.6, (0.5, 0.75)),
    _estimate("data", 1.02, (0.9, 1.1)),  # interval spans no effect: inactive
    _estimate("question", 1.5, (1.2, 1.8), samples=3),  # too few samples: inactive
]


def test_the_table_lists_active_effects_strongest_first() -> None:
    table = effects_markdown(ESTIMATES, {"u1": "ana@example.com"})
    rows = table.splitlines()[2:]
    assert [row.split("|")[2].strip() for row in rows] == [
        "hook_type=contrarian",
        "hook_type=story",
    ]
    assert "| ana@example.com | hook_type=contrarian | -40% | -50% to -25% | 30 | 0.90 |" in rows
    assert "no active pattern" in effects_markdown([ESTIMATES[2]], {})


def test_the_plot_is_an_svg_with_a_mark_per_active_effect() -> None:
    markdown = effects_plot_markdown(ESTIMATES, {"u1": "ana@example.com"})
    encoded = re.fullmatch(r"!\[[^\]]+\]\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert encoded is not None
    svg = ElementTree.fromstring(base64.b64decode(encoded.group(1)))
    circles = svg.findall("{http://www.w3.org/2000/svg}circle")
    assert len(circles) == 2
    labels = [text.text for text in svg.findall("{http://www.w3.org/2000/svg}text")]
    assert "ana@example.com hook_type=story" in labels
