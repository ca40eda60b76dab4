"""What a test reads back from a run of Dagster assets: each materialized asset's metadata,
as plain values."""

from __future__ import annotations

from typing import Any

import dagster as dg


def materialized_metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    """Each materialized asset's metadata by asset key, values unwrapped from Dagster's
    metadata types."""
    found: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        if materialization is not None:
            found[materialization.asset_key.to_user_string()] = {
                key: getattr(value, "value", value)
                for key, value in materialization.metadata.items()
            }
    return found
