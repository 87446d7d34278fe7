"""The `partnercast` command: exit codes and the stdout/stderr split of CLI_CONTRACT.md."""

from __future__ import annotations

import pytest

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
