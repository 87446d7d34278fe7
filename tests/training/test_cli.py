"""The `partnercast` command: exit codes and the stdout/stderr split of CLI_CONTRACT.md."""

from __future__ import annotations

import pytest

from tests.features.contract_data import valid_tables, write_tables
from training.cli import main


@pytest.mark.parametrize(
    "argv",
    [
        ["backtest", "--data", "x", "--out", "y.csv", "--horizon", "5"],
        ["forecast", "--data", "x", "--out", "y.csv", "--as-of", "2025-13-01"],
        ["recommend", "--data", "x", "--out", "y.csv", "--budget", "-5"],
        ["recommend", "--data", "x", "--out", "y.csv", "--budget", "nan"],
        ["demo-data", "--out", "x", "--partners", "0"],
        ["validate", "--data", "x", "--fy-start-month", "13"],
        ["no-such-command"],
        ["validate"],
    ],
)
def test_bad_flag_values_exit_2_with_a_message(argv, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "error" in captured.err


def test_bad_environment_setting_exits_2(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setenv("PARTNERCAST_FY_START_MONTH", "14")
    assert main(["validate", "--data", str(tmp_path)]) == 2
    assert "PARTNERCAST_FY_START_MONTH" in capsys.readouterr().err.upper()


def test_validate_valid_data_prints_a_summary_and_exits_0(tmp_path, capsys) -> None:
    folder = write_tables(tmp_path / "ok", valid_tables())
    assert main(["validate", "--data", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "partners" in out and "3" in out
    assert "2023-Q4 .. 2024-Q2" in out


def test_validate_reports_every_problem_on_stderr_and_exits_2(tmp_path, capsys) -> None:
    tables = valid_tables()
    tables["bookings"].loc[1, "partner_id"] = "P404"
    tables["opportunities"].loc[0, "amount"] = "-5"
    folder = write_tables(tmp_path / "bad", tables)
    assert main(["validate", "--data", str(folder)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "bookings.partner_id" in captured.err and "P404" in captured.err
    assert "opportunities.amount" in captured.err


def test_validate_rejects_invalid_none_rows_naming_table_column_rows(tmp_path, capsys) -> None:
    tables = valid_tables()
    tables["incentives"].loc[0, ["incentive", "cost", "randomized"]] = ["none", "0", "false"]
    tables["incentives"].loc[1, ["incentive", "cost", "randomized"]] = ["None", "50", "true"]
    folder = write_tables(tmp_path / "bad", tables)
    assert main(["validate", "--data", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "incentives.randomized" in err and "incentives.cost" in err
    assert "e.g. row 1: incentive='none', randomized=False" in err
    assert "e.g. row 2: incentive='None', cost=50.0" in err


def test_missing_folder_is_bad_input(tmp_path, capsys) -> None:
    assert main(["validate", "--data", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_demo_data_writes_a_valid_dataset_atomically(tmp_path, capsys) -> None:
    out = tmp_path / "demo"
    assert main(["demo-data", "--out", str(out), "--partners", "40", "--quarters", "8"]) == 0
    assert "wrote demo dataset" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} >= {"partners.csv", "bookings.csv", "_truth"}
    assert main(["validate", "--data", str(out)]) == 0
    # writing again replaces the folder whole and leaves no temporary folders behind
    assert main(["demo-data", "--out", str(out), "--partners", "30", "--quarters", "8"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]
    assert len((out / "partners.csv").read_text(encoding="utf-8").splitlines()) == 31


def test_demo_data_in_parts_writes_parquet_parts_that_validate(tmp_path, capsys) -> None:
    out = tmp_path / "demo"
    args = ["demo-data", "--out", str(out), "--partners", "40", "--quarters", "6"]
    assert main([*args, "--parts", "2"]) == 0
    assert "in 2 Parquet part(s)" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "bookings").iterdir()) == [
        "part-00000.parquet",
        "part-00001.parquet",
    ]
    assert not (out / "bookings.csv").exists()
    assert main(["validate", "--data", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # written whole
    assert main([*args, "--parts", "41"]) == 2
    assert "more parts than partners" in capsys.readouterr().err
