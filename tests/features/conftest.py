"""Shared fixtures: the hand-built dataset and a spec fitted before its as-of date."""

from __future__ import annotations

import pandas as pd
import pytest

from features.calendar import QuarterCalendar
from features.data import Dataset
from features.frames import build_features, fit_feature_spec
from features.spec import FeatureSpec
from tests.features.builders import hand_dataset

AS_OF = "2024-06-30"


@pytest.fixture(scope="session")
def hand() -> Dataset:
    return hand_dataset()


@pytest.fixture(scope="session")
def hand_spec(hand: Dataset) -> FeatureSpec:
    """Fitted on data up to 2024-03-31, so later activity/incentive types are unseen."""
    return fit_feature_spec(
        hand, as_of="2024-03-31", calendar=QuarterCalendar(), win_rate_prior_strength=2.0
    )


@pytest.fixture(scope="session")
def hand_features(hand: Dataset, hand_spec: FeatureSpec) -> pd.DataFrame:
    """Features as of 2024-06-30, indexed by partner_id, as float64 for exact comparisons."""
    return build_features(hand, as_of=AS_OF, spec=hand_spec).set_index("partner_id")
