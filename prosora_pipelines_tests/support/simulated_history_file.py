"""The demo's simulated feedback history, as the engagement simulator makes it.

``python -m prosora_pipelines_tests.support.simulated_history_file`` rewrites the bundled
file (``lib.engagement.simulated_history.SAMPLE_HISTORY``); a test checks that the committed
file equals ``simulated_history()``, so changing the simulator without regenerating fails.
The posts (``synthetic_posts``) vary hook, length, hashtags, links, an opening question and
posting time independently, so the demo can learn the simulator's planted effects.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prosora_pipelines.lib.engagement.simulated_history import write_history
from prosora_pipelines_tests.support.engagement_simulator import (
    EngagementSimulator,
    synthetic_posts,
)

SEED = 2025
POSTS = 360
AUDIENCE_KEY = "demo"
# In the past wherever the demo runs: feedback from the future is refused.
START = datetime(2025, 1, 6, tzinfo=UTC)
DAYS = 180


def simulated_history() -> list[dict[str, Any]]:
    """The records of the bundled history (format in ``lib.engagement.simulated_history``)."""
    simulator = EngagementSimulator(
        seed=SEED, base_rates={AUDIENCE_KEY: 0.03}, audiences={AUDIENCE_KEY: 2000}
    )
    records = []
    for number, post in enumerate(
        synthetic_posts(SEED, POSTS, [AUDIENCE_KEY], START, days=DAYS), start=1
    ):
        figures = simulator.simulate(
            post.text, post.format, post.hook_type, post.posted_at, AUDIENCE_KEY
        )
        records.append(
            {
                "simulated": True,
                "id": f"simulated-{number:04d}",
                "format": post.format,
                "hook_type": post.hook_type,
                "text": post.text,
                "platform": "linkedin",
                "drafted_at": (post.posted_at - timedelta(hours=2)).isoformat(),
                "posted_at": post.posted_at.isoformat(),
                "impressions": figures.impressions,
                "reactions": figures.reactions,
                "comments": figures.comments,
                "shares": figures.shares,
            }
        )
    return records


if __name__ == "__main__":
    write_history(simulated_history())
