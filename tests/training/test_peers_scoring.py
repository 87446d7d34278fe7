"""The scoring side of ``benchmarks/peers.py`` on tiny hand-made prediction files.

No peers' environment is needed: a peer's predictions file is written here by hand, read
back as the benchmark reads it, merged onto backtest rows and scored with the numbers worked
out on paper below.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def peers():
    spec = importlib.util.spec_from_file_location("peers_bench", ROOT / "benchmarks" / "peers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def _backtest_rows() -> pd.DataFrame:
    """Two partners, one cutoff, horizons 1-2: what ``run_backtest`` predictions hold."""
    as_of = pd.Timestamp("2025-03-31")
    return pd.DataFrame(
        {
            "partner_id": ["A", "A", "B", "B"],
            "as_of": [as_of] * 4,
            "horizon": [1, 2, 1, 2],
            "quarter_start": pd.to_datetime(["2025-04-01", "2025-07-01"] * 2),
            "actual": [100.0, 200.0, 50.0, 50.0],
            "mase_scale": [10.0] * 4,
            "lightgbm_p10": [80.0, 150.0, 40.0, 40.0],
            "lightgbm_p50": [100.0, 180.0, 60.0, 50.0],
            "lightgbm_p90": [120.0, 250.0, 70.0, 60.0],
            "seasonal_naive_p10": [0.0, 0.0, 0.0, 0.0],
            "seasonal_naive_p50": [90.0, 90.0, 30.0, 30.0],
            "seasonal_naive_p90": [300.0, 300.0, 300.0, 300.0],
        }
    )


def test_peer_file_is_merged_and_gaps_filled(peers, tmp_path: Path) -> None:
    # the peer forecast A's rows and B's horizon 1; B's horizon 2 is missing (too short)
    peer = pd.DataFrame(
        {
            "partner_id": ["A", "A", "B"],
            "as_of": ["2025-03-31"] * 3,
            "horizon": [1, 2, 1],
            "p10": [90.0, 100.0, 10.0],
            "p50": [110.0, 160.0, 40.0],
            "p90": [130.0, 190.0, 45.0],
        }
    )
    path = tmp_path / "forecast_peer.parquet"
    peer.to_parquet(path, index=False)

    merged, filled = peers.merge_forecasts(_backtest_rows(), "peer", pd.read_parquet(path))

    assert (filled.rows, filled.total) == (1, 4)
    assert filled.revenue_share == pytest.approx(50 / 400)
    # B horizon 2 takes the seasonal-naive forecast and interval
    assert merged["peer_p50"].tolist() == [110.0, 160.0, 40.0, 30.0]
    assert merged["peer_p90"].tolist() == [130.0, 190.0, 45.0, 300.0]

    table = peers.forecast_metrics(merged, ["lightgbm", "peer"])
    # peer errors |100-110| + |200-160| + |50-40| + |50-30| = 80 over 400 actual
    assert table.loc["peer", "wape"] == pytest.approx(80 / 400)
    assert table.loc["lightgbm", "wape"] == pytest.approx(30 / 400)  # 0 + 20 + 10 + 0
    # MASE: mean absolute error 80 / 4 = 20 over the fold's scale 10
    assert table.loc["peer", "mase"] == pytest.approx(2.0)
    # coverage: 100 in [90,130] yes, 200 in [100,190] no, 50 in [10,45] no, 50 in [0,300] yes
    assert table.loc["peer", "coverage_80"] == pytest.approx(0.5)
    # pinball at 0.1 / 0.5 / 0.9 of the peer, by hand
    y = np.array([100.0, 200.0, 50.0, 50.0])
    q = {0.1: [90.0, 100.0, 10.0, 0.0], 0.5: [110.0, 160.0, 40.0, 30.0], 0.9: [130, 190, 45, 300]}
    by_hand = np.mean(
        [
            np.mean(np.maximum(a * (y - np.array(p)), (a - 1) * (y - np.array(p))))
            for a, p in q.items()
        ]
    )
    assert table.loc["peer", "pinball"] == pytest.approx(by_hand)


def test_a_peer_file_with_duplicate_rows_is_refused(peers) -> None:
    peer = pd.DataFrame(
        {
            "partner_id": ["A", "A"],
            "as_of": ["2025-03-31"] * 2,
            "horizon": [1, 1],
            "p10": [1.0, 2.0],
            "p50": [1.0, 2.0],
            "p90": [1.0, 2.0],
        }
    )
    with pytest.raises(pd.errors.MergeError):
        peers.merge_forecasts(_backtest_rows(), "peer", peer)


def test_policy_net_value_share_of_the_oracle(peers) -> None:
    ids = np.array(["A", "B"])
    uplift = pd.DataFrame({"rebate": [100.0, 10.0], "mdf": [50.0, 80.0]})
    costs = pd.DataFrame({"rebate": [20.0, 20.0], "mdf": [60.0, 30.0]})
    # the policy: A rebate (net 80 > -10), B mdf (net 50 > -10)
    truth = pd.DataFrame(
        {
            "partner_id": ["A", "A", "B", "B"],
            "incentive": ["rebate", "mdf", "rebate", "mdf"],
            "expected_uplift": [70.0, 100.0, 5.0, 20.0],
            "expected_cost": [20.0, 60.0, 20.0, 30.0],
        }
    )
    rec, share = peers.policy_scores(uplift, costs, ids, truth)
    assert rec["incentive"].tolist() == ["rebate", "mdf"]
    # true net: A rebate 50, B mdf -10 -> 40; oracle: A rebate 50 (mdf 40), B none 0 -> 50
    assert share == pytest.approx(40 / 50)
    _, no_truth = peers.policy_scores(uplift, costs, ids, None)
    assert np.isnan(no_truth)


def test_mean_qini_averages_the_incentives(peers) -> None:
    rows = pd.DataFrame(
        {
            "incentive": ["rebate", "mdf", "rebate", "mdf", "none"],
            "randomized": [True, True, True, True, False],
            "revenue": [10.0, 0.0, 0.0, 5.0, 99.0],
        }
    )
    oof = pd.DataFrame({"rebate": [2.0, 1.0, 0.0, 0.0, 9.0], "mdf": [0.0, 0.0, 1.0, 3.0, 9.0]})
    from training.incentives.uplift_eval import randomized_contrasts

    expected = randomized_contrasts(rows, oof)["qini"].mean()
    assert peers.mean_qini(rows, oof) == pytest.approx(expected)
