"""``partnercast experiment-plan`` and ``experiment-report`` end to end on the small world
(the champion lookups patched with a hand-built recommender): the contract's columns,
the same files for the same seed, exit 2 naming table and column for bad input; the plan
logged as an MLflow run that the report finds for its quarter."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from features.data import load_dataset
from features.names import NONE
from features.reporting.experiments import REPORT_COLUMNS
from features.scoring import NoChampionError, PartnerRecommender
from tests.features.test_experiment_plan import random_recommender
from training.cli import experiment_commands, main
from training.jobs.experiment_record import (
    PLAN_EXPERIMENT,
    find_experiment_plan,
    plan_followed,
    plan_strata,
)


@pytest.fixture
def patched(small_world_dir: Path, monkeypatch, tmp_path) -> PartnerRecommender:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}")
    (tmp_path / "mlruns").mkdir(exist_ok=True)
    monkeypatch.chdir(tmp_path)  # the run's artifacts land under ./mlruns
    recommender = random_recommender(load_dataset(small_world_dir), ("rebate", "mdf"))
    monkeypatch.setattr(experiment_commands, "recommender_as_of", lambda ds, a, s: recommender)

    def no_champion(*args, **kwargs):
        raise NoChampionError("no champion in this test")

    monkeypatch.setattr(experiment_commands, "load_champion", no_champion)
    return recommender


def test_the_plan_writes_the_contract_columns_and_repeats_by_seed(
    small_world_dir, patched, tmp_path, capsys
) -> None:
    runs = []
    for name in ("a", "b"):
        out, rows, mde = (tmp_path / f"{name}{k}.csv" for k in ("", "_rows", "_mde"))
        args = ["experiment-plan", "--data", str(small_world_dir), "--share", "0.3"]
        args += ["--seed", "9", "--out", str(out), "--incentives", str(rows), "--mde", str(mde)]
        assert main(args) == 0
        runs.append((out.read_bytes(), rows.read_bytes(), mde.read_bytes()))
    assert runs[0] == runs[1]
    plan = pd.read_csv(tmp_path / "a.csv")
    assert list(plan.columns[:4]) == ["partner_id", "arm", "stratum", "randomized"]
    assert set(plan["arm"]) <= {"rebate", "mdf", NONE}
    rows = pd.read_csv(tmp_path / "a_rows.csv")
    assert list(rows.columns) == [
        "partner_id",
        "incentive",
        "starts_on",
        "ends_on",
        "cost",
        "randomized",
    ]
    assert (rows["starts_on"] == "2024-01-01").all()  # the quarter after the data ends
    stdout = capsys.readouterr().out
    assert f"partners drawn: {int(plan['randomized'].sum())} of {len(plan)}" in stdout


def test_the_report_writes_the_contract_columns(small_world_dir, patched, tmp_path) -> None:
    out = tmp_path / "report.csv"
    assert main(["experiment-report", "--data", str(small_world_dir), "--out", str(out)]) == 0
    report = pd.read_csv(out)
    assert list(report.columns[: len(REPORT_COLUMNS)]) == REPORT_COLUMNS
    assert (report["ci_low"] <= report["effect"]).all()
    assert (report["effect"] <= report["ci_high"]).all()
    assert set(report["segment"]) >= {"all"}
    pooled = tmp_path / "pooled.csv"
    args = ["experiment-report", "--data", str(small_world_dir), "--pooled", "--out", str(pooled)]
    assert main(args) == 0
    assert (pd.read_csv(pooled)["quarters"] > 1).all()


def test_a_quarter_without_a_test_exits_2(small_world_dir, patched, tmp_path, capsys) -> None:
    out = tmp_path / "report.csv"
    args = ["experiment-report", "--data", str(small_world_dir), "--quarter", "2030-01-01"]
    assert main([*args, "--out", str(out)]) == 2
    assert "incentives: no randomized rows starting in the quarter of 2030-01-01" in (
        capsys.readouterr().err
    )
    assert not out.exists()


def test_data_without_randomized_rows_exits_2_naming_table_and_column(
    small_world_dir, patched, tmp_path, capsys
) -> None:
    folder = tmp_path / "plain"
    shutil.copytree(small_world_dir, folder)
    incentives = pd.read_csv(folder / "incentives.csv")
    incentives = incentives[incentives["incentive"] != NONE].assign(randomized=False)
    incentives.to_csv(folder / "incentives.csv", index=False)
    out = tmp_path / "report.csv"
    assert main(["experiment-report", "--data", str(folder), "--out", str(out)]) == 2
    assert "incentives, column randomized: none of the" in capsys.readouterr().err


def test_invalid_none_rows_exit_2_before_anything_runs(
    small_world_dir, patched, tmp_path, capsys
) -> None:
    folder = tmp_path / "bad"
    shutil.copytree(small_world_dir, folder)
    incentives = pd.read_csv(folder / "incentives.csv")
    incentives.loc[incentives["incentive"] == NONE, "cost"] = 10.0
    incentives.to_csv(folder / "incentives.csv", index=False)
    out = tmp_path / "plan.csv"
    args = ["experiment-plan", "--data", str(folder), "--share", "0.2", "--out", str(out)]
    assert main(args) == 2
    assert "incentives" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("share", ["0", "1.5", "-0.2", "abc"])
def test_a_share_outside_0_1_is_a_flag_error(small_world_dir, tmp_path, share) -> None:
    args = ["experiment-plan", "--data", str(small_world_dir), "--share", share]
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--out", str(tmp_path / "plan.csv")])
    assert exit_.value.code == 2


def test_the_plan_is_an_mlflow_run_the_report_finds(
    small_world_dir, patched, tmp_path, capsys
) -> None:
    import mlflow

    out = tmp_path / "plan.csv"
    args = ["experiment-plan", "--data", str(small_world_dir), "--share", "0.3", "--seed", "4"]
    assert main([*args, "--out", str(out)]) == 0
    assert "recorded as MLflow run" in capsys.readouterr().out
    plan = pd.read_csv(out, dtype={"partner_id": str})
    runs = mlflow.search_runs(experiment_names=[PLAN_EXPERIMENT])
    assert len(runs) == 1
    run = runs.iloc[0]
    assert run["tags.quarter_start"] == "2024-01-01"
    assert (run["params.share"], run["params.seed"], run["params.budget"]) == ("0.3", "4", "none")
    assert run["metrics.drawn"] == plan["randomized"].sum()
    found = find_experiment_plan(pd.Timestamp("2024-01-01"), settings=_settings())
    assert found is not None and found["run_id"] == run["run_id"]
    drawn = plan[plan["randomized"]][["partner_id", "arm"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(found["drawn"], drawn)
    assert find_experiment_plan(pd.Timestamp("2023-10-01"), settings=_settings()) is None
    # how faithfully the quarter ran it: every arm as planned, then one changed
    assert plan_followed(found, drawn) == (len(drawn), len(drawn))
    changed = drawn.assign(arm=[NONE if a != NONE else "mdf" for a in drawn["arm"]])
    changed.loc[1:, "arm"] = drawn.loc[1:, "arm"]
    assert plan_followed(found, changed) == (len(drawn) - 1, len(drawn))


def test_the_strata_table_counts_every_drawn_partner_once(small_world_dir, patched) -> None:
    from features.calendar import QuarterCalendar
    from features.reporting.experiment_plan import plan_experiment

    ds = load_dataset(small_world_dir)
    plan = plan_experiment(patched, ds, share=0.5, seed=1, calendar=QuarterCalendar(1))
    strata = plan_strata(plan)
    assert strata["partners"].sum() == len(plan.assignments)
    assert strata["drawn"].sum() == plan.drawn
    arms = [c for c in strata.columns if c not in ("stratum", "partners", "drawn")]
    assert (strata[arms].sum(axis=1) == strata["drawn"]).all()
    spread = strata[arms].max(axis=1) - strata[arms].min(axis=1)
    assert (spread <= 1).all()  # a stratum's arms differ by at most one partner


def test_the_report_names_the_plan_run_of_its_quarter(
    small_world_dir, patched, tmp_path, capsys
) -> None:
    import dataclasses

    from features.calendar import QuarterCalendar
    from features.reporting.experiment_plan import plan_experiment
    from training.jobs.experiment_record import log_experiment_plan

    ds = load_dataset(small_world_dir)
    plan = plan_experiment(patched, ds, share=0.3, seed=2, calendar=QuarterCalendar(1))
    quarter = pd.Timestamp("2023-10-01")  # the small world's last randomized quarter
    log_experiment_plan(
        dataclasses.replace(plan, quarter_start=quarter),
        settings=_settings(),
        data_dir=small_world_dir,
    )
    out = tmp_path / "report.csv"
    args = ["experiment-report", "--data", str(small_world_dir), "--quarter", "2023-10-01"]
    assert main([*args, "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "plan run " in stdout and "(share 0.3, seed 2)" in stdout
    assert "drawn partners ran their planned arm" in stdout


def _settings():
    from features.settings import Settings

    return Settings()
