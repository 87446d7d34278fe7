"""``partnercast experiment-plan`` and ``experiment-report`` end to end on the small world
(the champion lookups patched with a hand-built recommender): the contract's columns,
the same files for the same seed, exit 2 naming table and column for bad input."""

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


@pytest.fixture
def patched(small_world_dir: Path, monkeypatch) -> PartnerRecommender:
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
