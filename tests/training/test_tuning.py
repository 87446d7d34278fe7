"""Tuning: trials are nested MLflow runs, the best settings feed the next train."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from features.names import FORECASTER_MODEL
from features.settings import Settings
from training.cli import main
from training.jobs.forecaster_run import TUNED_PARAMS_TAG, tuned_config


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    yield Settings(store_dir=tmp_path)
    mlflow.set_tracking_uri(None)


def test_tune_runs_nested_trials_and_stores_the_best(store, small_world_dir, capsys) -> None:
    assert main(["tune", "--data", str(small_world_dir), "--trials", "3", "--folds", "2"]) == 0
    out = capsys.readouterr().out
    assert "best WAPE" in out and "default WAPE" in out
    client = MlflowClient(tracking_uri=store.resolved_tracking_uri)
    tags = client.get_registered_model(FORECASTER_MODEL).tags
    best = json.loads(tags[TUNED_PARAMS_TAG])
    assert set(best) >= {"num_leaves", "learning_rate", "n_estimators"}
    runs = mlflow.search_runs(experiment_names=["partnercast"])
    parents = runs[runs["tags.mlflow.parentRunId"].isna()]
    children = runs[runs["tags.mlflow.parentRunId"].notna()]
    assert len(parents) == 1 and len(children) == 3
    assert set(children["tags.mlflow.parentRunId"]) == set(parents["run_id"])
    # the next train uses exactly these settings
    assert tuned_config(client, seed=1).params == best
