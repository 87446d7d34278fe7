"""``partnercast what-if`` end to end on the hand-worked recommender of
``tests/features/test_what_if.py`` (the champion lookup patched): the group file, the
budget's dropped rows on stdout, exit 2 for every bad plan, nothing written then."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.features.test_what_if import recommender
from training.cli import main, what_if_command


@pytest.fixture
def cli(small_world_dir: Path, monkeypatch, tmp_path: Path):
    monkeypatch.setattr(what_if_command, "recommender_as_of", lambda ds, args, s: recommender())

    def run(plan_text: str | None, *extra: str) -> tuple[int, Path]:
        out = tmp_path / "groups.csv"
        args = ["what-if", "--data", str(small_world_dir), "--out", str(out), *extra]
        if plan_text is not None:
            (tmp_path / "plan.csv").write_text(plan_text)
            args += ["--plan", str(tmp_path / "plan.csv")]
        return main(args), out

    return run


PLAN_CSV = """partner_id,region,tier,incentive
,EMEA,,mdf
P2,,,rebate
,AMER,Silver,rebate
,AMER,,none
"""


def test_a_plan_under_a_budget_writes_the_groups_and_names_the_dropped_rows(
    cli, tmp_path, capsys
) -> None:
    rows = tmp_path / "rows.csv"
    code, out = cli(PLAN_CSV, "--budget", "160", "--rows", str(rows))
    assert code == 0
    groups = pd.read_csv(out).set_index(["group_by", "group"])
    assert list(groups.reset_index().columns[:6]) == [
        "group_by",
        "group",
        "quarter_start",
        "delta_p10",
        "delta_p50",
        "delta_p90",
    ]
    assert groups.loc[("region", "EMEA"), ["delta_p10", "delta_p50", "delta_p90"]].tolist() == [
        200,
        300,
        400,
    ]
    assert groups.loc[("total", "total"), "cost"] == 150
    assert (groups["quarter_start"] == "2026-01-01").all()
    stdout = capsys.readouterr().out
    assert "dropped by the budget: line 2 (mdf, 1 partners, cost 300, net 700)" in stdout
    assert "expected net: 300 (80% interval 150 to 450)" in stdout
    assert pd.read_csv(rows)["kept"].tolist() == [False, True, True, True]


def test_the_recommenders_plan(cli, tmp_path, capsys) -> None:
    partners = tmp_path / "partners.csv"
    code, out = cli(None, "--recommended", "--partners", str(partners))
    assert code == 0
    assert pd.read_csv(partners)["incentive"].tolist() == ["mdf", "rebate", "mdf", "rebate"]
    assert pd.read_csv(out).set_index("group_by").loc["total", "expected_net"] == 1400
    assert "the recommender's plan" in capsys.readouterr().out


@pytest.mark.parametrize(
    "plan, message",
    [
        ("partner_id,incentive\nP9,mdf\n", "1 partner id(s) unknown to the recommender"),
        ("region,incentive\nEMEA,spiff\n", "unknown incentive(s) ['spiff'] in plan row(s) line 2"),
        ("region,tier,incentive\nEMEA,,mdf\n,Gold,rebate\n", "conflicting plan rows line 2"),
        ("partner_id,incentive\n,mdf\n", "line 2: neither partner_id nor a segment"),
        ("partner_id,incentive\n", "the plan has no rows"),
        ("partner,incentive\nP1,mdf\n", "unknown plan column(s) ['partner']"),
        ("", "is empty"),
    ],
)
def test_bad_plans_exit_2_with_what_to_fix_and_write_nothing(cli, capsys, plan, message) -> None:
    code, out = cli(plan)
    assert code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_missing_plan_file_and_a_missing_choice_exit_2(small_world_dir, tmp_path, capsys):
    out = str(tmp_path / "g.csv")
    base = ["what-if", "--data", str(small_world_dir), "--out", out]
    assert main([*base, "--plan", str(tmp_path / "nope.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(base)  # neither --plan nor --recommended
    assert exited.value.code == 2
    with pytest.raises(SystemExit) as exited:
        main([*base, "--budget", "-5", "--recommended"])
    assert exited.value.code == 2
