"""Every notebook runs top to bottom on a tiny demo world with a throw-away MLflow store,
and every committed notebook is stored without outputs or execution counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("notebooks")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
NAMES = [p.name for p in NOTEBOOKS]


def test_there_are_notebooks() -> None:
    assert {"01_explore.ipynb", "02_retrain.ipynb", "03_incentives.ipynb"} <= set(NAMES)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_committed_without_outputs(path: Path) -> None:
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, "a notebook without code"
    assert "parameters" in code[0].get("metadata", {}).get("tags", []), (
        "the first code cell holds the parameters (tagged 'parameters')"
    )
    for i, cell in enumerate(code):
        assert cell.get("outputs") == [], f"code cell {i} has outputs: clear them before committing"
        assert cell.get("execution_count") is None, f"code cell {i} has an execution count"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory):
    """A tmp folder (the kernels' cwd) and the environment the notebooks read."""
    root = tmp_path_factory.mktemp("notebooks")
    (root / "mlruns").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PARTNERCAST_NB_FAST", "1")
        mp.setenv("PARTNERCAST_NB_DATA", str(root / "demo"))  # absent: the notebook writes it
        mp.delenv("PARTNERCAST_NB_AS_OF", raising=False)
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
        mp.setenv("MPLBACKEND", "Agg")
        mp.setenv("PYTHONWARNINGS", "ignore")
        yield root


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_notebook_runs(path: Path, workspace: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(workspace)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.get("output_type") == "error"
    ]
    assert not errors
    if path.name == "02_retrain.ipynb":
        assert (workspace / "mlruns" / "mlflow.db").exists()
