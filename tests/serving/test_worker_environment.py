"""``partnercast serve`` hands its settings to the BentoML worker through the environment.

The worker may run in another directory, so paths travel resolved, and every setting the
worker reads comes back equal when the worker rebuilds its settings from that environment.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from serving.run import worker_environment
from serving.settings import ServingSettings


def test_settings_survive_the_trip_to_the_worker(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("PARTNERCAST_", "MLFLOW_")):
            monkeypatch.delenv(name)
    given = ServingSettings(
        data_dir=Path("exports/latest"),
        store_dir=Path("store"),
        fy_start_month=2,
        seed=9,
        mdf_incentive="Marketing Funds",
        record_forecasts=False,
        reload_seconds=5,
    )
    env = worker_environment(given)
    assert env["PARTNERCAST_DATA_DIR"] == str(tmp_path / "exports" / "latest")
    assert env["PARTNERCAST_LEDGER_URL"] == f"sqlite:///{tmp_path / 'store' / 'ledger.db'}"
    monkeypatch.chdir(tmp_path.parent)  # the worker starts elsewhere
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    rebuilt = ServingSettings()
    for field in (
        "fy_start_month",
        "seed",
        "mdf_incentive",
        "record_forecasts",
        "reload_seconds",
        "max_batch",
        "model_source",
    ):
        assert getattr(rebuilt, field) == getattr(given, field), field
    assert rebuilt.data_dir == tmp_path / "exports" / "latest"
    assert rebuilt.resolved_ledger_url == env["PARTNERCAST_LEDGER_URL"]
    assert rebuilt.store_dir == tmp_path / "store"


@pytest.mark.parametrize("url", ["postgresql://u:p@db/ledger"])
def test_an_explicit_ledger_url_is_passed_as_it_is(url) -> None:
    assert worker_environment(ServingSettings(ledger_url=url))["PARTNERCAST_LEDGER_URL"] == url
