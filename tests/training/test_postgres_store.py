"""MLflow's tracking store and registry on a real PostgreSQL server (the one the ledger's
tests start): ``partnercast train`` registers and promotes there, and ``forecast`` loads
the champion back. What docs/operator.md tells an operator to set, tried end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from features.names import CHAMPION, FORECASTER_MODEL, RECOMMENDER_MODEL

pytestmark = pytest.mark.xdist_group("crash-safety")
PARTNERCAST = Path(sys.executable).with_name("partnercast")


def test_train_and_forecast_on_a_postgresql_tracking_store(
    postgres_server, small_world_dir: Path, tmp_path: Path
) -> None:
    url = postgres_server.new_database()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARTNERCAST_", "MLFLOW_"))}
    env["MLFLOW_TRACKING_URI"] = url
    train = subprocess.run(
        [str(PARTNERCAST), "train", "--data", str(small_world_dir), "--no-backtest"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert train.returncode == 0, train.stderr[-3000:]
    client = MlflowClient(url, url)
    for name in (FORECASTER_MODEL, RECOMMENDER_MODEL):
        assert str(client.get_model_version_by_alias(name, CHAMPION).version) == "1"
    assert not (tmp_path / "mlruns" / "mlflow.db").exists()  # nothing in the embedded store

    out = tmp_path / "forecast.csv"
    forecast = subprocess.run(
        [str(PARTNERCAST), "forecast", "--data", str(small_world_dir), "--horizon", "2",
         "--out", str(out), "--no-ledger"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert forecast.returncode == 0, forecast.stderr[-3000:]
    assert len(out.read_text().splitlines()) == 1 + 2 * 120
