"""``--dask`` on train, backtest, forecast and recommend (a contract extension).

On a LocalCluster of two workers over the small world: the Dask path's backtest P50 WAPE and
coverage within 0.01 of the single-process path's (here equal, the frames being equal); a
training run on Dask that registers the champion and tags its run; forecasts through
``forecast --dask`` equal to the single-process ones from the same champion; exit 2 for a bad
``--dask`` value or without the optional extra, before any output is written."""

from __future__ import annotations

import sys
from pathlib import Path

import lightgbm as lgb
import mlflow
import pandas as pd
import pytest

from features.calendar import QuarterCalendar
from features.names import FORECASTER_MODEL
from features.scoring import load_champion
from features.settings import Settings
from training.cli import main
from training.forecast import MODEL, backtest_forecaster, prepare_training_data
from training.jobs import train_all

pytest.importorskip("distributed")

import features.distributed as distributed  # noqa: E402
from features.distributed import DaskFrames, dask_client  # noqa: E402
from training.forecast.quantile_model import BOOSTER_TRAINER  # noqa: E402
from training.jobs.dask_training import boosters_on  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes, as ``--dask local:2`` starts them: the tasks travel pickled, and
    ``lightgbm.dask`` needs a process per worker."""
    with dask_client("local:2", processes=True) as client:
        yield client


@pytest.fixture(scope="module")
def single(small_world, fast_config):
    data = prepare_training_data(small_world, as_of=None, calendar=QuarterCalendar())
    return data, backtest_forecaster(data, fast_config)


def _close(result, expected) -> None:
    for metric in ("wape", "coverage_80"):
        assert result.metric(MODEL, metric) == pytest.approx(
            expected.metric(MODEL, metric), abs=0.01
        )


def test_dask_training_frame_equals_single_process(cluster, small_world, single) -> None:
    """The same frame, so the same backtest (WAPE, coverage) and the same fits."""
    data, _ = single
    frames = DaskFrames(cluster, small_world)
    on_dask = prepare_training_data(
        small_world, as_of=None, calendar=QuarterCalendar(), build_frame=frames.forecast_frame
    )
    pd.testing.assert_frame_equal(on_dask.frame, data.frame, rtol=1e-6)
    pd.testing.assert_frame_equal(on_dask.panel, data.panel)


def test_lightgbm_dask_boosters_backtest_like_single_process(cluster, fast_config, single):
    """On one worker ``lightgbm.dask`` trains the very boosters ``lightgbm.train`` does, so
    the conformal intervals are the same too (on two, data-parallel trees differ a little:
    ``benchmarks/dask_scale.py`` measures it)."""
    data, expected = single
    with boosters_on(cluster, workers=1):
        result = backtest_forecaster(data, fast_config)
    _close(result, expected)
    assert result.metric(MODEL, "wape") == pytest.approx(expected.metric(MODEL, "wape"))
    assert BOOSTER_TRAINER.get() is lgb.train  # put back


@pytest.fixture(scope="module")
def store(small_world, small_world_dir, fast_config, tmp_path_factory) -> Path:
    """A forecaster champion trained with its frames on Dask (threads: fast to start; no
    backtest and no recommender, to keep it short: both frames are compared elsewhere)."""
    root = tmp_path_factory.mktemp("dask_store")
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    mp.chdir(root)
    mp.setattr(distributed, "LOCAL_PROCESSES", False)
    with dask_client("local:2") as client:
        outcome = train_all(
            small_world,
            data_path=small_world_dir,
            as_of=None,
            settings=Settings(),
            config=fast_config,
            with_recommender=False,
            backtest=False,  # the test above compares backtests
            frames=DaskFrames(client, small_world),
        )
    assert outcome.forecaster.promoted
    yield root
    mp.undo()
    mlflow.set_tracking_uri(None)


def test_training_on_dask_registers_the_champion_and_tags_its_run(store) -> None:
    runs = mlflow.search_runs(search_all_experiments=True)
    trained = runs.loc[runs["tags.mlflow.runName"].str.startswith("forecaster ")]
    assert len(trained) == 1
    assert trained["tags.features.engine"].tolist() == ["dask"]
    assert trained["tags.dask.workers"].tolist() == ["2"]
    assert load_champion(FORECASTER_MODEL, mlflow.get_tracking_uri()).version == "1"


def test_forecast_on_dask_equals_single_process(store, small_world_dir, tmp_path) -> None:
    plain, on_dask = tmp_path / "plain.csv", tmp_path / "dask.csv"
    argv = ["forecast", "--data", str(small_world_dir), "--no-ledger", "--out"]
    assert main([*argv, str(plain)]) == 0
    assert main([*argv, str(on_dask), "--dask", "local:2"]) == 0
    expected = pd.read_csv(plain)
    assert len(expected) > 0
    pd.testing.assert_frame_equal(pd.read_csv(on_dask), expected, rtol=1e-6)


@pytest.mark.parametrize("value", ["local:0", "local:two", ""])
def test_bad_dask_value_exits_2(value, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["backtest", "--data", "x", "--out", "y.csv", "--dask", value])
    assert exc.value.code == 2
    assert "--dask" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "backtest", "forecast", "recommend"])
def test_dask_without_the_extra_exits_2(
    command, small_world_dir, monkeypatch, tmp_path, capsys
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out.csv"
    argv = [command, "--data", str(small_world_dir), "--dask", "local"]
    if command != "train":
        argv += ["--out", str(out)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "uv sync --extra dask" in captured.err
    assert captured.out == ""
    assert not out.exists() and not (tmp_path / "mlruns").exists()


def test_an_unreachable_scheduler_is_one_line_and_exit_1(
    small_world_dir, monkeypatch, tmp_path, capsys
) -> None:
    import dask

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out.csv"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        code = main(["backtest", "--data", str(small_world_dir), "--out", str(out), "--dask",
                     "tcp://127.0.0.1:9"])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert "partnercast backtest: --dask tcp://127.0.0.1:9: no Dask scheduler answered" in err
    assert "Traceback" not in err and not out.exists()
