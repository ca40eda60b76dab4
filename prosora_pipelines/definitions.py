"""The code location: every definition under ``prosora_pipelines/defs``, found by dg.

Runs execute in process by default, whether started by a job, the UI's "Materialize" or
``dagster asset materialize``: the steps are short and share one embedding model, so a
process per step would spend its time importing and loading instead of working.
"""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(executor=dg.in_process_executor),
    )
