"""``make bento``'s import step: the champion goes into a BentoML model store with labels
naming its MLflow version and run, and loads back with no tracking server configured.

Runs in a subprocess so the BentoML store lives in a temporary ``BENTOML_HOME``.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from features.names import FORECASTER_MODEL

from .conftest import ROOT, Store, champion_forecaster

pytestmark = pytest.mark.xdist_group("serving-bento")

SCRIPT = """
import json, os
from serving.bento import import_champions
from serving.champions import Champions, resolve_source
from serving.settings import ServingSettings

tags = import_champions(ServingSettings())
del os.environ["MLFLOW_TRACKING_URI"]  # from here on: no tracking server
settings = ServingSettings()
champion = Champions(settings).refresh().get("partnercast-forecaster")
frame = champion.scorer.forecast(["P00001", "P00007"], 2, num_threads=1)
print(json.dumps({
    "tags": tags, "source": resolve_source(settings), "version": champion.version,
    "run_id": champion.run_id, "wape": champion.metrics.get("lightgbm.wape.all"),
    "forecast": frame.to_json(orient="records", date_format="iso"),
}))
"""


def test_import_then_load_without_a_tracking_server(trained_store: Store, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARTNERCAST_", "MLFLOW_"))}
    env.update(
        MLFLOW_TRACKING_URI=trained_store.uri,
        BENTOML_HOME=str(tmp_path / "bentoml"),
        PYTHONPATH=str(ROOT),
        BENTOML_DO_NOT_TRACK="true",
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=tmp_path,  # no mlruns/ here: the embedded store does not exist
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    version = MlflowClient(trained_store.uri, trained_store.uri).get_model_version_by_alias(
        FORECASTER_MODEL, "champion"
    )
    assert out["source"] == "bentoml" and out["tags"][0].startswith(FORECASTER_MODEL + ":")
    assert (out["version"], out["run_id"]) == (str(version.version), version.run_id)
    assert out["wape"] is not None
    got = pd.read_json(io.StringIO(out["forecast"]), orient="records")
    want = champion_forecaster(trained_store).forecast(["P00001", "P00007"], 2)
    pd.testing.assert_series_equal(got["p50"], want["p50"].reset_index(drop=True))
