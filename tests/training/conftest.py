"""Small simulated worlds shared by the training tests (built once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.data import Dataset, load_dataset
from features.world import simulate_world, write_world
from training.forecast import ForecastConfig

FAST = {"n_estimators": 25, "learning_rate": 0.15, "num_leaves": 15, "min_child_samples": 10}


@pytest.fixture(scope="session")
def small_world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world") / "demo"
    write_world(simulate_world(partners=120, quarters=12, seed=3), out)
    return out


@pytest.fixture(scope="session")
def small_world(small_world_dir: Path) -> Dataset:
    return load_dataset(small_world_dir)


@pytest.fixture(scope="session")
def fast_config() -> ForecastConfig:
    return ForecastConfig(horizon=4, folds=2, params=FAST, seed=7)
