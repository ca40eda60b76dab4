"""A simulated audience: what a post would earn, with effects planted on its features.

The learning loop can only be shown to learn if the truth is known. This simulator is that
truth: every user has a base engagement rate and an audience size, and each feature value
in ``PLANTED_EFFECTS`` multiplies the rate (1.30 = 30 % more engagement). Posts also get
multiplicative log-normal noise (``noise``, the standard deviation of the log), then the
interactions are drawn from a binomial over the impressions, as a platform would count them.

Everything is deterministic for a seed: the figures of a post depend only on the seed, the
user, the text and the posting time, never on the order of calls, so a draft scored before
and after learning is scored the same way. Features come from
``lib.engagement.features.post_features``, the code the learner uses, so "the hook",
"a link" and "morning" mean the same for the simulator and the learner.

Use::

    simulator = EngagementSimulator(seed=7)
    figures = simulator.simulate(text, "linkedin_post", "story", posted_at, "ana@example.com")
    figures.impressions, figures.reactions, figures.comments, figures.shares

``expected_rate`` is the noiseless rate, and ``expected_lift`` the lift of a feature value
against the average post of a given mix, which is what a correct learner should find.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from prosora_pipelines.lib.engagement.features import pattern_values, post_features

PLANTED_EFFECTS: Mapping[tuple[str, str], float] = {
    ("hook_type", "story"): 1.35,
    ("hook_type", "contrarian"): 0.80,
    ("hook_type", "question"): 1.10,
    ("has_link", "yes"): 0.70,
    ("hashtag_band", "4+"): 0.75,
    ("length_band", "short"): 1.20,
    ("length_band", "long"): 0.85,
    ("first_line_question", "yes"): 1.20,
    ("posted_hour_band", "morning"): 1.30,
    ("posted_hour_band", "night"): 0.70,
    ("posted_weekday", "sat"): 0.80,
    ("posted_weekday", "sun"): 0.80,
}
"""(feature, value) → multiplier of the engagement rate; values not listed multiply by 1."""


@dataclass(frozen=True)
class SimulatedEngagement:
    """What a post earned: counts as a platform export gives them."""

    impressions: int
    reactions: int
    comments: int
    shares: int

    @property
    def rate(self) -> float:
        return (self.reactions + self.comments + self.shares) / self.impressions


def _unit(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\x1f".join(parts).encode()).digest()[:8], "big")


@dataclass
class EngagementSimulator:
    """The simulated audience (see the module docstring).

    ``base_rates``/``audiences`` fix a user's base rate and typical impressions; users not
    listed get a base rate between 1.5 % and 5 % and an audience of 500 to 3000 drawn from
    the seed and their name. ``effects`` defaults to ``PLANTED_EFFECTS``; ``{}`` gives an
    audience that cares about nothing but the user."""

    seed: int
    effects: Mapping[tuple[str, str], float] = field(default_factory=lambda: PLANTED_EFFECTS)
    noise: float = 0.25
    base_rates: Mapping[str, float] = field(default_factory=dict)
    audiences: Mapping[str, int] = field(default_factory=dict)

    def _rng(self, *parts: str) -> np.random.Generator:
        return np.random.default_rng(_unit(str(self.seed), *parts))

    def base_rate(self, user: str) -> float:
        if user in self.base_rates:
            return self.base_rates[user]
        return float(self._rng("base", user).uniform(0.015, 0.05))

    def audience(self, user: str) -> int:
        if user in self.audiences:
            return self.audiences[user]
        return int(self._rng("audience", user).integers(500, 3000))

    def multiplier(self, values: Mapping[str, str]) -> float:
        """The product of the planted effects of a post's pattern values."""
        return math.prod(self.effects.get(item, 1.0) for item in values.items())

    def expected_rate(
        self,
        text: str,
        format_: str,
        hook_type: str | None,
        posted_at: datetime,
        user: str,
        *,
        timezone_name: str | None = None,
    ) -> float:
        """The noiseless engagement rate of the post for the user."""
        features = post_features(text, format_, hook_type, [], [], posted_at, timezone_name)
        return min(self.base_rate(user) * self.multiplier(pattern_values(features)), 0.9)

    def simulate(
        self,
        text: str,
        format_: str,
        hook_type: str | None,
        posted_at: datetime,
        user: str,
        *,
        timezone_name: str | None = None,
    ) -> SimulatedEngagement:
        """What the post earned: the expected rate with noise, counted over impressions."""
        expected = self.expected_rate(
            text, format_, hook_type, posted_at, user, timezone_name=timezone_name
        )
        rng = self._rng("post", user, text, posted_at.isoformat())
        impressions = max(int(self.audience(user) * rng.lognormal(0.0, 0.3)), 50)
        rate = min(expected * rng.lognormal(-(self.noise**2) / 2, self.noise), 0.9)
        interactions = int(rng.binomial(impressions, rate))
        comments = int(rng.binomial(interactions, 0.15))
        shares = int(rng.binomial(interactions - comments, 0.1))
        return SimulatedEngagement(
            impressions=impressions,
            reactions=interactions - comments - shares,
            comments=comments,
            shares=shares,
        )

    def expected_lift(
        self, feature: str, value: str, posts: Sequence[Mapping[str, str]]
    ) -> float | None:
        """The lift a correct learner finds for ``feature=value`` over ``posts`` (their
        pattern values): the mean multiplier of the posts with the value over that of all
        posts. None when no post has the value."""
        multipliers = [self.multiplier(post) for post in posts]
        having = [
            m for m, post in zip(multipliers, posts, strict=True) if post.get(feature) == value
        ]
        if not having:
            return None
        return (sum(having) / len(having)) / (sum(multipliers) / len(multipliers))


_OPENINGS = {
    "data": "{n}% of {topic} teams changed course this quarter.",
    "story": "Last spring I sat with a {topic} founder who had run out of runway.",
    "contrarian": "Everyone says {topic} is about speed. It is not.",
    "question": "What would {topic} look like if regulation arrived tomorrow?",
}
_TOPICS = ("fintech", "payments", "AI policy", "open banking", "product strategy", "data privacy")
_SENTENCES = (
    "The evidence points the same way across markets.",
    "Costs fell while compliance work grew.",
    "Teams that planned early shipped with fewer surprises.",
    "The rules reward clear records and plain explanations.",
    "Customers noticed the difference within weeks.",
    "Investors asked harder questions about risk.",
    "Smaller firms leaned on partners for the heavy lifting.",
    "The gap between leaders and laggards widened.",
)


@dataclass(frozen=True)
class SyntheticPost:
    """A post written for a test: its inputs to the features, and who posted it when."""

    text: str
    format: str
    hook_type: str
    posted_at: datetime
    user: str


def synthetic_posts(
    seed: int, count: int, users: Sequence[str], start: datetime, *, days: int = 180
) -> list[SyntheticPost]:
    """``count`` posts whose hook, length, hashtags, link, opening question and posting time
    vary independently, so each planted effect shows on its own; in time order."""
    rng = np.random.default_rng(seed)
    posts = []
    for index in range(count):
        hook = str(rng.choice(list(_OPENINGS)))
        topic = str(rng.choice(_TOPICS))
        opening = _OPENINGS[hook].format(n=int(rng.integers(10, 90)), topic=topic)
        if hook != "question" and rng.random() < 0.3:
            opening = opening.rstrip(".") + "?"
        sentences = int(rng.choice([4, 14, 30]))
        body = " ".join(str(rng.choice(_SENTENCES)) for _ in range(sentences))
        tags = int(rng.choice([0, 2, 5]))
        hashtags = " ".join(f"#{topic.replace(' ', '')}{i}" for i in range(tags))
        link = f" Read more: https://example.org/post/{index}" if rng.random() < 0.35 else ""
        text = f"{opening}\n\n{body}{link}\n\n{hashtags}".strip()
        offset = timedelta(
            days=float(days * index / count),
            hours=float(rng.integers(0, 24)),
            minutes=float(rng.integers(0, 60)),
        )
        posts.append(
            SyntheticPost(
                text=text,
                format="linkedin_post",
                hook_type=hook,
                posted_at=start + offset,
                user=users[int(rng.integers(0, len(users)))],
            )
        )
    return sorted(posts, key=lambda post: post.posted_at)
