"""Every notebook under notebooks/ runs top to bottom on the materialized sample, in a fresh
PROSORA_HOME of its own, and is committed without outputs (so diffs stay readable and no
figures from one machine's data are passed off as current)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from prosora_pipelines_tests.support.materialized import copied_home

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
# The retrieval notebook indexes the real feeds (about 6k chunks) in one cell: minutes on
# two CPU cores.
CELL_TIMEOUT_SECONDS = 600


def test_the_notebooks_folder_has_notebooks() -> None:
    assert [path.name for path in NOTEBOOKS if path.name == "trends.ipynb"] == ["trends.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_committed_notebooks_have_no_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    with_outputs = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
    ]
    assert with_outputs == [], f"clear the outputs of {path.name} (cells {with_outputs})"


@pytest.mark.integration
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_runs_top_to_bottom_on_the_sample(
    path: Path, materialized_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = copied_home(materialized_home, tmp_path / "prosora-home")
    monkeypatch.setenv("PROSORA_HOME", str(home))
    # Importing Streamlit (the app's tests do, in this process) sets MPLBACKEND=Agg, which a
    # kernel started from here would inherit and draw no inline figure with.
    monkeypatch.delenv("MPLBACKEND", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_SECONDS,
        kernel_name="python3",
        resources={"metadata": {"path": str(work)}},
    ).execute()
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output.output_type == "error"]
    figures = [output for output in outputs if "image/png" in output.get("data", {})]
    assert figures, f"{path.name} drew no figure"
