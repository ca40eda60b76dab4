"""The sensor that evaluates every automation condition of the code location.

Dagster's implicit automation sensor starts stopped, so assets that carry
``AutomationCondition.eager()`` would not follow an upstream materialization until
someone switched it on in the UI. This one is on from the start.
"""

import dagster as dg

automation_sensor = dg.AutomationConditionSensorDefinition(
    name="automation_sensor",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Materializes the assets whose automation conditions are met, e.g. source_health "
        "and articles after raw_entries is materialized on its own."
    ),
)
