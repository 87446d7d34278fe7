"""Expected cost of every incentive for every partner, learned from what incentives cost.

Costs scale with partner size and differ by partner type (a rebate is a share of revenue,
co-marketing a mostly fixed budget), so :class:`IncentiveCostModel` fits one LightGBM per
incentive with a gamma objective (log link: multiplicative in size, an unbiased mean of a
skewed positive cost) on partner features. Separate models, because the incentives price
differently (one shared model with the incentive as a feature leaked the rebate's size slope
into fixed-price incentives, by 80 % at a size 1 sd above the median). An incentive with fewer than
``min_rows`` priced rows gets its median cost. A cost table given at call time
(``{incentive: cost}``) replaces the learned cost of the incentives it names.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from features.names import NONE
from training.incentives.uplift import check_incentive_frame, lgbm_params

log = logging.getLogger(__name__)


class IncentiveCostModel(BaseEstimator):
    """``fit(frame, feature_columns=...)`` on priced rows; ``predict_costs(X, overrides=...)``."""

    def __init__(
        self,
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 20,
        min_rows: int = 20,
        random_state: int = 42,
        n_jobs: int = 1,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.min_rows = min_rows
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(
        self,
        frame: pd.DataFrame,
        *,
        feature_columns: Sequence[str],
        treatment_column: str = "incentive",
        cost_column: str = "cost",
    ) -> IncentiveCostModel:
        """Learn from rows that got exactly one incentive with a positive cost."""
        check_incentive_frame(frame, treatment_column=treatment_column)
        inc = frame[treatment_column].astype("string").fillna(NONE)
        cost = frame[cost_column].to_numpy(dtype=np.float64)
        single = (
            frame["n_incentives"].to_numpy() == 1
            if "n_incentives" in frame
            else np.ones(len(frame), bool)
        )
        rows = (inc != NONE).to_numpy() & (cost > 0) & single
        names = inc[rows].to_numpy(dtype=object)
        self.feature_columns_ = list(feature_columns)
        self.incentives_ = sorted(set(names))
        self.median_cost_ = {a: float(np.median(cost[rows][names == a])) for a in self.incentives_}
        counts = pd.Series(names).value_counts()
        self.modelled_ = sorted(a for a in self.incentives_ if counts.get(a, 0) >= self.min_rows)
        self.models_: dict[str, lgb.LGBMRegressor] = {}
        for arm in self.modelled_:
            keep = rows & (inc == arm).to_numpy()
            params = lgbm_params(
                self.random_state,
                self.n_jobs,
                objective="gamma",
                n_estimators=self.n_estimators,
                learning_rate=self.learning_rate,
                num_leaves=self.num_leaves,
                min_child_samples=self.min_child_samples,
                colsample_bytree=0.8,
            )
            self.models_[arm] = lgb.LGBMRegressor(**params).fit(
                frame.loc[keep, self.feature_columns_], cost[keep]
            )
        log.info(
            "cost model: %d priced rows; modelled %s; median cost for the rest",
            int(rows.sum()),
            self.modelled_,
        )
        return self

    def predict_costs(
        self, X: pd.DataFrame, *, overrides: Mapping[str, float] | None = None
    ) -> pd.DataFrame:
        """Expected cost per partner (rows of ``X``) and incentive (columns).

        ``overrides`` maps incentive names to a fixed cost for everyone; names the model never
        saw are added as columns too (the caller decides whether they may be recommended).
        """
        check_is_fitted(self, "median_cost_")
        out: dict[str, np.ndarray] = {}
        for arm in self.incentives_:
            if arm in self.models_:
                out[arm] = self.models_[arm].predict(X[self.feature_columns_])
            else:
                out[arm] = np.full(len(X), self.median_cost_[arm])
        for arm, value in (overrides or {}).items():
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"cost override for {arm!r} must be a number >= 0, got {value}")
            out[arm] = np.full(len(X), float(value))
        return pd.DataFrame(out, index=X.index)
