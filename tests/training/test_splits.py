"""Rolling-origin folds never train on a target that was unknown at the test cutoff."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features.calendar import QuarterCalendar
from training.forecast import rolling_origin_folds

CAL = QuarterCalendar()


def _frame(n_cutoffs: int, horizons: int = 4, partners: int = 2) -> pd.DataFrame:
    rows = []
    for c in range(n_cutoffs):
        as_of = CAL.index_to_start(8000 + c + 1) - pd.Timedelta(days=1)  # a quarter end
        for h in range(1, horizons + 1):
            for p in range(partners):
                rows.append(
                    {
                        "partner_id": f"P{p}",
                        "as_of": as_of,
                        "horizon": h,
                        "quarter_start": CAL.index_to_start(8000 + c + h),
                    }
                )
    return pd.DataFrame(rows)


def test_folds_by_hand() -> None:
    frame = _frame(6)
    folds = list(rolling_origin_folds(frame, folds=2))
    assert [f.cutoff for f in folds] == sorted(frame["as_of"].unique())[-2:]
    first = folds[0]
    test = frame.iloc[first.test]
    assert set(test["as_of"]) == {first.cutoff} and len(test) == 8
    train = frame.iloc[first.train]
    # cutoff index 4 (0-based): rows from cutoff c with horizon h <= 4 - c are known
    assert sorted(set(zip(train["as_of"], train["horizon"], strict=True))) == sorted(
        (frame["as_of"].unique()[c], h) for c in range(4) for h in range(1, 5) if c + h <= 4
    )


@settings(max_examples=30, deadline=None)
@given(n_cutoffs=st.integers(4, 10), folds=st.integers(1, 2), horizons=st.integers(1, 4))
def test_no_training_target_is_after_the_test_cutoff(n_cutoffs, folds, horizons) -> None:
    frame = _frame(n_cutoffs, horizons)
    for fold in rolling_origin_folds(frame, folds=folds):
        train, test = frame.iloc[fold.train], frame.iloc[fold.test]
        assert train["as_of"].max() < test["as_of"].min()
        assert (train["quarter_start"] <= fold.cutoff).all()
        assert len(train) > 0


def test_too_few_cutoffs_is_a_clear_error() -> None:
    with pytest.raises(
        ValueError, match="at least 5 quarter-end cutoffs .* the data has 3: use --folds 1"
    ):
        list(rolling_origin_folds(_frame(3), folds=4))
