"""Learning patterns: what works for each user, as effects with intervals.

Contract of the rows this module writes to ``learning_patterns`` (``appdb.models.LearningPattern``)
and that the engine, the API and the CLI read:

- one row per user × pattern, where a pattern is a feature and one of its values
  (``features.pattern_values``): ``user_id`` the user, ``pattern_type`` the feature name
  (``hook_type``, ``length_band``, ``hashtag_band``, ``has_link``, ``posted_weekday``,
  ``posted_hour_band``, ... — ``features.PATTERN_FEATURES``);
- ``pattern_data``::

      {
        "value": "story",              # the feature's value this row is about
        "lift": 1.18,                  # multiplicative effect on the engagement rate against
                                       # the user's own baseline: 1.18 = +18 %, 0.9 = -10 %
        "interval": [1.05, 1.32],      # 90 % interval of the lift
        "samples": 57,                 # the user's observations with this value
        "user_baseline_rate": 0.031,   # the user's mean engagement rate
        "pooled_lift": 1.12,           # the all-users lift the user's is shrunk toward
        "version": 3,                  # counts up each time the row's figures change
        "history": [                   # the previous figures, oldest first
          {"lift": ..., "interval": [...], "samples": ..., "computed_at": "ISO 8601"}
        ],
        "computed_at": "ISO 8601"
      }

- ``confidence`` in [0, 1]: how sure the data is of the effect's direction (the posterior
  probability that the lift lies on the side of 1.0 it was estimated on, rescaled from
  [0.5, 1] to [0, 1]);
- ``active`` only when the interval excludes 1.0 (no effect) and ``samples`` ≥
  ``MIN_SAMPLES``; inactive rows are kept, with their history, and stop steering drafts.

Rows are upserted: a re-run over the same observations changes nothing (same figures, same
version, no new history entry); new figures move the old ones into ``history``.
"""

from __future__ import annotations

MIN_SAMPLES = 8
"""The fewest observations with a value before its pattern may be active."""
INTERVAL_LEVEL = 0.90
