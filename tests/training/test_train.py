"""Training runs: MLflow logging, registry, the quality gate and the champion alias."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from features.names import FORECASTER_MODEL
from features.scoring import NoChampionError, load_champion
from features.settings import Settings
from training.cli import main
from training.forecast import ForecastConfig
from training.forecast import config as config_module
from training.jobs import champion_version, train_forecaster
from training.jobs import forecaster_run as train_module

from .conftest import FAST


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    (tmp_path / "mlruns").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    yield Settings(store_dir=tmp_path / "mlruns")
    mlflow.set_tracking_uri(None)


def _client(settings: Settings) -> MlflowClient:
    uri = settings.resolved_tracking_uri
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _versions(settings: Settings) -> list[str]:
    return sorted(
        str(v.version)
        for v in _client(settings).search_model_versions(f"name='{FORECASTER_MODEL}'")
    )


@pytest.fixture
def lenient_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small worlds give noisy coverage: let coverage pass so the WAPE check is what is tested."""
    monkeypatch.setattr(train_module, "COVERAGE_RANGE", (0.0, 1.0))


def test_first_run_is_logged_registered_and_promoted(
    store, small_world, small_world_dir, fast_config, lenient_gate
) -> None:
    outcome = train_forecaster(
        small_world, data_path=small_world_dir, as_of=None, settings=store, config=fast_config
    )
    assert outcome.promoted and outcome.version == "1"
    client = _client(store)
    assert str(champion_version(client, FORECASTER_MODEL).version) == "1"
    run = client.get_run(outcome.run_id)
    assert run.data.params["data_digest"] and run.data.params["as_of"] == "2023-12-31"
    assert "lightgbm.wape.all" in run.data.metrics
    assert "lightgbm.wape_ratio_vs_seasonal_naive.all" in run.data.metrics
    # settings chosen among the candidates, each a nested run; the choice and its reason
    assert run.data.tags["candidate.chosen"] in {"default", "money_weighted"}
    assert "coverage" in run.data.tags["candidate.reason"]
    assert "selection.forward_wape" in run.data.metrics
    nested = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{outcome.run_id}'"
    )
    assert {r.info.run_name for r in nested} == {"candidate default", "candidate money_weighted"}
    artifacts = {a.path for a in client.list_artifacts(outcome.run_id)}
    assert {
        "backtest_metrics.csv",
        "calibration.png",
        "fan_charts.png",
        "feature_importance.csv",
        "forecast_config.json",
    } <= artifacts
    loaded = load_champion(FORECASTER_MODEL, store.resolved_tracking_uri)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{FORECASTER_MODEL}@champion")
    via_pyfunc = pyfunc.predict(pd.DataFrame({"partner_id": ["P00002"]}), params={"horizon": 2})
    assert via_pyfunc["horizon"].tolist() == [1, 2]
    pd.testing.assert_frame_equal(via_pyfunc, loaded.model.forecaster.forecast(["P00002"], 2))


def test_gate_refuses_a_worse_model_and_keeps_the_champion(
    store, small_world, small_world_dir, fast_config, lenient_gate
) -> None:
    train_forecaster(
        small_world, data_path=small_world_dir, as_of=None, settings=store, config=fast_config
    )
    worse = ForecastConfig(
        horizon=4,
        folds=2,
        seed=7,
        params={**FAST, "n_estimators": 1, "learning_rate": 0.01, "offset_column": None},
    )
    outcome = train_forecaster(
        small_world, data_path=small_world_dir, as_of=None, settings=store, config=worse
    )
    assert not outcome.promoted and outcome.version == "2"
    assert any("FAILED: WAPE" in r for r in outcome.decision.reasons)
    client = _client(store)
    assert str(champion_version(client, FORECASTER_MODEL).version) == "1"
    assert client.get_model_version(FORECASTER_MODEL, "2").tags["quality_gate"].startswith("failed")


def test_champion_config_keeps_its_settings_when_the_defaults_change(
    store, small_world, small_world_dir, fast_config, lenient_gate, monkeypatch
) -> None:
    """The saved config spells out every default: the gate's re-backtest of the champion
    after a change of ``DEFAULT_PARAMS`` runs the champion's settings, not today's."""
    train_forecaster(
        small_world, data_path=small_world_dir, as_of=None, settings=store, config=fast_config
    )
    was = dict(config_module.DEFAULT_PARAMS)
    monkeypatch.setitem(config_module.DEFAULT_PARAMS, "max_features", 7)
    monkeypatch.setitem(config_module.DEFAULT_PARAMS, "tail_trees", 1.0)
    champion = train_module.champion_config(_client(store))
    estimator = champion.estimator()
    assert estimator.max_features == was["max_features"] == 40
    assert estimator.tail_trees == was["tail_trees"] == 0.34
    assert estimator.n_estimators == FAST["n_estimators"] == 25
    assert all(champion.resolved().params[k] == v for k, v in was.items() if k not in FAST)
    # the candidate with today's defaults is not the champion: the gate re-backtests it
    assert champion.resolved() != fast_config.resolved()


def test_a_run_that_dies_midway_leaves_the_registry_as_it_was(
    store, small_world, small_world_dir, fast_config, lenient_gate, monkeypatch
) -> None:
    train_forecaster(
        small_world, data_path=small_world_dir, as_of=None, settings=store, config=fast_config
    )

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("killed while fitting")

    monkeypatch.setattr(train_module, "fit_forecaster", killed)
    with pytest.raises(KeyboardInterrupt):
        train_forecaster(
            small_world, data_path=small_world_dir, as_of=None, settings=store, config=fast_config
        )
    assert _versions(store) == ["1"]
    assert str(champion_version(_client(store), FORECASTER_MODEL).version) == "1"
    runs = mlflow.search_runs(experiment_names=[train_module.EXPERIMENT])
    parent = "tags.mlflow.parentRunId"
    runs = runs[runs[parent].isna()] if parent in runs else runs  # not the candidates' runs
    assert sorted(runs["status"]) == ["FAILED", "FINISHED"] or "KILLED" in set(runs["status"])


def test_cli_train_then_forecast_with_aggregates(
    store, small_world_dir, fast_config, lenient_gate, monkeypatch, capsys, tmp_path
) -> None:
    monkeypatch.setattr(train_module, "tuned_config", lambda client, seed: fast_config)
    assert main(["train", "--data", str(small_world_dir)]) == 0
    assert "promoted to champion" in capsys.readouterr().out
    out, agg = tmp_path / "f.csv", tmp_path / "agg.csv"
    assert (
        main(
            [
                "forecast",
                "--data",
                str(small_world_dir),
                "--horizon",
                "2",
                "--out",
                str(out),
                "--aggregates",
                str(agg),
            ]
        )
        == 0
    )
    forecast = pd.read_csv(out)
    assert list(forecast.columns) == ["partner_id", "quarter_start", "horizon", "p10", "p50", "p90"]
    assert set(forecast["quarter_start"]) == {"2024-01-01", "2024-04-01"}
    assert (forecast["p10"] <= forecast["p50"]).all() and (forecast["p50"] <= forecast["p90"]).all()
    groups = pd.read_csv(agg)
    assert set(groups["level"]) == {"region", "tier", "partner_type", "total"}
    total = groups[groups["level"] == "total"].set_index("horizon")["p50"]
    for level, g in groups.groupby("level"):
        assert g.groupby("horizon")["p50"].sum().to_numpy() == pytest.approx(total.to_numpy()), (
            level
        )


def test_forecast_on_invalid_data_exits_2_and_writes_nothing(store, tmp_path, capsys) -> None:
    from tests.features.contract_data import valid_tables, write_tables

    tables = valid_tables()
    tables["bookings"].loc[0, "booked_on"] = "not a date"
    folder = write_tables(tmp_path / "bad", tables)
    out = tmp_path / "f.csv"
    assert main(["forecast", "--data", str(folder), "--out", str(out)]) == 2
    assert "bookings.booked_on" in capsys.readouterr().err
    assert not out.exists()


def test_forecast_without_a_champion_says_so(store, small_world_dir, tmp_path, capsys) -> None:
    out = tmp_path / "f.csv"
    assert main(["forecast", "--data", str(small_world_dir), "--out", str(out)]) == 1
    assert "partnercast train" in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(NoChampionError):
        load_champion(FORECASTER_MODEL, store.resolved_tracking_uri)


def test_group_backtest_is_logged(store, small_world, small_world_dir, fast_config, lenient_gate):
    outcome = train_forecaster(
        small_world, data_path=small_world_dir, as_of=None, settings=store, config=fast_config
    )
    run = _client(store).get_run(outcome.run_id)
    for level in ("region", "tier", "partner_type", "total"):
        assert 0.0 <= run.data.metrics[f"group.{level}.coverage_80"] <= 1.0
        assert run.data.metrics[f"group.{level}.wape"] < run.data.metrics["lightgbm.wape.all"]
