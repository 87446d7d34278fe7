"""The non-causal baseline uplift model, kept to show what confounding costs.

Same interface as :class:`training.incentives.uplift.UpliftModel`
(``fit(frame, feature_columns=...)``, ``predict_uplift(X)``), so the benchmark and the
MLflow comparison can swap them.
"""

from __future__ import annotations

from collections.abc import Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from features.names import NONE
from training.incentives.uplift import check_incentive_frame, lgbm_params


class NaiveUpliftModel(BaseEstimator):
    """The non-causal baseline: per-option LightGBM on raw revenue, uplift = mu_k - mu_none.

    No propensity, no cross-fitting, no size scaling: what a "treated vs untreated" model
    gives under confounding.
    """

    def __init__(self, min_treated: int = 20, random_state: int = 42, n_jobs: int = 1) -> None:
        self.min_treated = min_treated
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(
        self,
        frame: pd.DataFrame,
        *,
        feature_columns: Sequence[str],
        treatment_column: str = "incentive",
        outcome_column: str = "revenue",
    ) -> NaiveUpliftModel:
        """One regressor per option seen ``min_treated`` times."""
        check_incentive_frame(frame, treatment_column=treatment_column)
        treatment = frame[treatment_column].astype("string").fillna(NONE).to_numpy(dtype=object)
        counts = pd.Series(treatment).value_counts()
        self.feature_columns_ = list(feature_columns)
        self.incentives_ = sorted(
            a for a, n in counts.items() if a != NONE and n >= self.min_treated
        )
        self.models_ = {}
        for arm in [NONE, *self.incentives_]:
            rows = treatment == arm
            params = lgbm_params(self.random_state, self.n_jobs, min_child_samples=20)
            self.models_[arm] = lgb.LGBMRegressor(**params).fit(
                frame.loc[rows, self.feature_columns_],
                frame.loc[rows, outcome_column].to_numpy(dtype=np.float64),
            )
        return self

    def predict_uplift(self, X: pd.DataFrame) -> pd.DataFrame:
        """``mu_k(x) - mu_none(x)`` per incentive."""
        check_is_fitted(self, "models_")
        X = X[self.feature_columns_]
        base = self.models_[NONE].predict(X)
        return pd.DataFrame(
            {arm: self.models_[arm].predict(X) - base for arm in self.incentives_}, index=X.index
        )
