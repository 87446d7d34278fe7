"""The across-seeds summary of ``benchmarks/scenarios.py --seed 42,7,11`` on hand-made rows."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    path = ROOT / "benchmarks" / "scenarios.py"
    spec = importlib.util.spec_from_file_location("scenarios_bench", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def _measured(seed: int, model: float, given: str, wape: float) -> dict:
    forecast = {"scenario": "demo", "WAPE": wape, "x best baseline": 0.9, "x ridge": 0.8}
    forecast |= {"gap closed": 0.5, "coverage 80": 0.8}
    incentive = {"scenario": "demo", "model": model, "avg effect": 0.7, "segment effect": 0.9}
    incentive |= {"reported / true": float("nan"), "partners given": given}
    return {"seed": seed, "forecaster": [forecast], "recommender": [incentive]}


def _cells(table: str) -> dict[str, str]:
    header, _, row = (line.strip("| ") for line in table.strip().splitlines()[-3:])
    return dict(zip(header.split(" | "), row.split(" | "), strict=True))


def test_each_seed_is_shown_and_the_mean_only_where_every_seed_has_a_number(bench) -> None:
    measured = [_measured(42, 0.6, "10/100", 0.5), _measured(7, 0.0, "0/100", 0.7)]
    out = bench.across_seeds(measured)
    assert out.startswith("## Across world seeds 42, 7")
    forecaster, recommender = out.split("### Recommender")
    cells = _cells(forecaster)
    assert cells["WAPE"] == "0.500 / 0.700" and cells["WAPE mean"] == "0.600"
    cells = _cells(recommender)
    assert cells["model"] == "0.600 / 0.000" and cells["model mean"] == "0.300"
    assert cells["partners given"] == "10/100 / 0/100"  # text: shown, never averaged
    assert cells["reported / true"] == "n/a / n/a"  # no number at any seed: no mean
    assert "reported / true mean" not in cells and "partners given mean" not in cells
