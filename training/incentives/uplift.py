"""Uplift of each incentive against ``none``: a cross-fitted doubly-robust (DR) learner.

History is observational and confounded (big, high-tier partners got more incentives), so
"treated vs untreated" is biased. :class:`UpliftModel` combines three LightGBM pieces, all
cross-fitted over K folds of partners (no row's nuisance comes from a model that saw it):

- **propensity** ``e_k(x)``: a multi-class classifier of which option a partner got;
  clipped below at ``propensity_clip`` (the clipped rows are counted in ``overlap_``);
- **outcome** ``mu_k(x)``: one regressor with the option as a categorical feature, fitted on
  revenue *relative to a size proxy* (``Y / s0`` weighted by ``s0``, ``s0`` = the largest of
  ``scale_columns`` and a floor). Quarterly revenue is heavy-tailed, and a relative target with
  size weights fits the multiplicative structure of revenue far better than raw squared error;
- **effect** per incentive: the AIPW pseudo-outcome ``phi_k = mu_k - mu_0 + 1[T=k](Y - mu_k)
  / e_k - 1[T=none](Y - mu_0) / e_none``, divided by the partner's expected revenue without an
  incentive ``s = max(mu_0, floor)`` and regressed with weights ``s`` (capped at its
  ``weight_cap_quantile``: sizes have a Pareto tail) on the effect columns
  (default: the categorical partner attributes plus size and tenure). The weights
  make the constant fit a money-weighted ratio estimator (sum of uplift / sum of base), the
  low-variance way to estimate a relative effect when partner sizes span orders of magnitude.
  The boosting starts from that constant and the number of trees is chosen from
  ``effect_trees`` by cross-fitted DR loss with the one-standard-error rule: when the
  heterogeneity is not clearly there, the model keeps one relative effect per incentive.

``learner="x"`` swaps the effect stage for an X-learner on the same nuisances: imputed
effects ``Y - mu_0`` on the incentive's rows and ``mu_k - Y`` on ``none`` rows, each
regressed the same way, blended by ``e_k / (e_k + e_none)``.

Predicted uplift in money is ``tau_k(x) * s(x)``. The cross-fitted AIPW pseudo-outcomes
(money, ``pseudo_outcome_``) give a doubly-robust estimate of any policy's value on the
training rows (``training.incentives.recommender``). Randomized rows are not used to fit
anything here; :mod:`training.incentives.uplift_eval` evaluates the out-of-fold
predictions (``oof_uplift_``) on them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.model_selection import GroupKFold
from sklearn.utils.validation import check_is_fitted

from features.names import NONE

log = logging.getLogger(__name__)

SCALE_COLUMNS: tuple[str, ...] = ("revenue_mean_4q", "revenue_lag_1")


def check_incentive_frame(frame: pd.DataFrame, *, treatment_column: str = "incentive") -> None:
    """Raise a ``ValueError`` naming the ``incentives`` table when no incentive was ever given."""
    if treatment_column not in frame.columns:
        raise ValueError(f"the frame has no {treatment_column!r} column")
    given = frame[treatment_column].astype("string").fillna(NONE) != NONE
    if not bool(given.any()):
        raise ValueError(
            "no incentives in the data: the incentives table is missing or has no rows in the "
            "training quarters, so incentives cannot be recommended (the forecaster does not "
            "need it)"
        )


def lgbm_params(random_state: int, n_jobs: int, **overrides: object) -> dict[str, object]:
    """Shared LightGBM settings: small, regularised, deterministic."""
    params: dict[str, object] = {
        "n_estimators": 100,
        "learning_rate": 0.1,
        "num_leaves": 15,
        "min_child_samples": 50,
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.5,
        "max_bin": 63,
        "random_state": random_state,
        "n_jobs": n_jobs,
        "deterministic": True,
        "force_row_wise": True,
        "verbose": -1,
    }
    params.update(overrides)
    return params


def size_proxy(X: pd.DataFrame, columns: Sequence[str], floor: float) -> np.ndarray:
    """The largest of ``columns`` (missing ones ignored) and ``floor``, per row."""
    parts = [X[c].to_numpy(dtype=np.float64) for c in columns if c in X.columns]
    out = np.full(len(X), float(floor))
    for part in parts:
        out = np.fmax(out, part)
    return out


def effect_columns_for(
    frame: pd.DataFrame, feature_columns: Sequence[str], choice: Sequence[str] | str
) -> list[str]:
    """The effect stage's inputs: ``"all"`` features, ``"attributes"`` (the categorical
    partner attributes plus size and tenure: the segments a channel team can act on, and few
    enough for noisy pseudo-outcomes), or an explicit list."""
    if choice == "all":
        return list(feature_columns)
    if isinstance(choice, str):
        if choice != "attributes":
            raise ValueError(
                f"effect_columns must be 'all', 'attributes' or a list, got {choice!r}"
            )
        cats = [c for c in feature_columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]
        extra = [c for c in (*SCALE_COLUMNS, "tenure_quarters") if c in feature_columns]
        return cats + extra
    return list(choice)


def partner_folds(groups: np.ndarray, n_folds: int, random_state: int) -> list[np.ndarray]:
    """Test indices of K folds that keep every partner's rows together (seeded shuffle)."""
    n_groups = len(np.unique(groups))
    k = max(2, min(n_folds, n_groups))
    splitter = GroupKFold(n_splits=k, shuffle=True, random_state=random_state)
    return [te for _, te in splitter.split(np.zeros(len(groups)), groups=groups)]


class UpliftModel(BaseEstimator):
    """Cross-fitted DR-learner of each incentive's uplift on next-quarter revenue vs ``none``.

    ``fit(frame, feature_columns=...)`` takes rows like ``build_recommender_frame``'s;
    ``predict_uplift(X)`` returns one column per incentive seen in training (money).
    """

    def __init__(
        self,
        n_folds: int = 5,
        learner: str = "dr",
        relative: bool = True,
        propensity_clip: float = 0.01,
        scale_columns: Sequence[str] = SCALE_COLUMNS,
        scale_floor: float = 1000.0,
        base_floor_quantile: float = 0.1,
        effect_columns: Sequence[str] | str = "attributes",
        effect_trees: Sequence[int] = (0, 10, 25, 50, 100),
        effect_leaves: int = 7,
        effect_min_child_samples: int = 300,
        effect_min_weight_share: float = 0.05,
        weight_cap_quantile: float | None = 0.999,
        effect_learning_rate: float = 0.05,
        n_estimators: int = 100,
        min_treated: int = 20,
        random_state: int = 42,
        n_jobs: int = 1,
    ) -> None:
        self.n_folds = n_folds
        self.learner = learner
        self.relative = relative
        self.propensity_clip = propensity_clip
        self.scale_columns = scale_columns
        self.scale_floor = scale_floor
        self.base_floor_quantile = base_floor_quantile
        self.effect_columns = effect_columns
        self.effect_trees = effect_trees
        self.effect_leaves = effect_leaves
        self.effect_min_child_samples = effect_min_child_samples
        self.effect_min_weight_share = effect_min_weight_share
        self.weight_cap_quantile = weight_cap_quantile
        self.effect_learning_rate = effect_learning_rate
        self.n_estimators = n_estimators
        self.min_treated = min_treated
        self.random_state = random_state
        self.n_jobs = n_jobs

    # -- fitting ----------------------------------------------------------------------
    def fit(
        self,
        frame: pd.DataFrame,
        *,
        feature_columns: Sequence[str],
        treatment_column: str = "incentive",
        outcome_column: str = "revenue",
        group_column: str = "partner_id",
    ) -> UpliftModel:
        """Fit nuisances cross-fitted by partner, then one effect model per incentive.

        Incentives with fewer than ``min_treated`` rows are dropped (logged): they are never
        predicted, so never recommended.
        """
        check_incentive_frame(frame, treatment_column=treatment_column)
        treatment = frame[treatment_column].astype("string").fillna(NONE).to_numpy(dtype=object)
        counts = pd.Series(treatment).value_counts()
        kept = sorted(a for a, n in counts.items() if a != NONE and n >= self.min_treated)
        dropped = sorted(a for a in counts.index if a != NONE and a not in kept)
        if dropped:
            log.warning("too few rows to learn %s (< %d each): dropped", dropped, self.min_treated)
        if not kept:
            raise ValueError(
                f"no incentive in the incentives table has {self.min_treated} or more "
                "partner-quarters: too little history to learn uplift"
            )
        if counts.get(NONE, 0) < self.min_treated:
            raise ValueError("too few partner-quarters without an incentive to compare against")
        rows = np.isin(treatment, [NONE, *kept])
        frame = frame.loc[rows].reset_index(drop=True)
        self.feature_columns_ = list(feature_columns)
        self.effect_columns_ = effect_columns_for(frame, feature_columns, self.effect_columns)
        self.arms_ = [NONE, *kept]
        self.incentives_ = kept
        X = frame[self.feature_columns_]
        t = pd.Categorical(treatment[rows], categories=self.arms_).codes.astype(np.int64)
        y = frame[outcome_column].to_numpy(dtype=np.float64)
        groups = frame[group_column].astype("string").to_numpy(dtype=object)
        self.folds_ = partner_folds(groups, self.n_folds, self.random_state)
        self.groups_ = pd.factorize(groups)[0]

        e, mu = self._crossfit_nuisances(X, t, y)
        self.base_floor_ = float(
            np.quantile(mu[:, 0][mu[:, 0] > 0], self.base_floor_quantile)
            if (mu[:, 0] > 0).any()
            else self.scale_floor
        )
        self.propensity_ = self._fit_propensity(X, t)
        self.outcome_ = self._fit_outcome(X, t, y)
        clipped = e < self.propensity_clip
        self.overlap_ = {
            f"clipped_rows_{arm}": int(clipped[:, k].sum()) for k, arm in enumerate(self.arms_)
        }
        self.overlap_["clipped_share_treated"] = float(clipped[np.arange(len(t)), t].mean())
        log.info("propensity clipped below %.3f: %s", self.propensity_clip, self.overlap_)
        if self.overlap_["clipped_share_treated"] > 0.05:
            log.warning(
                "poor overlap: %.1f%% of rows had their own option's propensity clipped",
                100 * self.overlap_["clipped_share_treated"],
            )
        e = np.clip(e, self.propensity_clip, None)
        s = np.maximum(mu[:, 0], self.base_floor_) if self.relative else np.ones(len(y))
        # size weights, capped: partner sizes have a Pareto tail, and without a cap the one
        # or two largest partners' quarterly noise decides each incentive's average effect
        w = s
        if self.weight_cap_quantile is not None and self.relative:
            w = np.minimum(s, np.quantile(s, self.weight_cap_quantile))
        self.effects_: dict[str, lgb.LGBMRegressor | None] = {}
        self.effect_constant_: dict[str, float] = {}
        self.effect_trees_: dict[str, int] = {}
        self.effect_se_: dict[str, float] = {}
        oof = np.zeros((len(X), len(kept)))
        E = frame[self.effect_columns_]
        if self.learner not in ("dr", "x"):
            raise ValueError(f"learner must be 'dr' or 'x', got {self.learner!r}")
        pseudo = np.zeros((len(X), len(kept)))
        for j, arm in enumerate(kept):
            k = j + 1
            phi = mu[:, k] - mu[:, 0] + (t == k) * (y - mu[:, k]) / e[:, k]
            pseudo[:, j] = phi - (t == 0) * (y - mu[:, 0]) / e[:, 0]
            if self.learner == "dr":
                oof[:, j] = self._fit_effect(arm, E, pseudo[:, j] / s, w) * s
                continue
            # X-learner: imputed effects on each side, blended by the propensity
            treated = self._fit_effect(f"{arm}|treated", E, (y - mu[:, 0]) / s, w * (t == k))
            control = self._fit_effect(f"{arm}|control", E, (mu[:, k] - y) / s, w * (t == 0))
            g = e[:, k] / (e[:, k] + e[:, 0])
            oof[:, j] = (g * control + (1 - g) * treated) * s
        self.oof_uplift_ = pd.DataFrame(oof, columns=kept).assign(
            partner_id=frame[group_column].to_numpy(), row=np.flatnonzero(rows)
        )
        self.pseudo_outcome_ = pd.DataFrame(pseudo, columns=kept)
        self.base_oof_ = s
        self.propensity_oof_ = pd.DataFrame(e, columns=self.arms_)
        return self

    def _outcome_design(self, X: pd.DataFrame, arm: np.ndarray) -> pd.DataFrame:
        return X.assign(_option=pd.Categorical(np.asarray(self.arms_)[arm], categories=self.arms_))

    def _fit_propensity(self, X: pd.DataFrame, t: np.ndarray) -> lgb.LGBMClassifier:
        params = lgbm_params(
            self.random_state, self.n_jobs, n_estimators=self.n_estimators, min_child_samples=100
        )
        return lgb.LGBMClassifier(**params).fit(X, t)

    def _proxy(self, X: pd.DataFrame) -> np.ndarray:
        if not self.relative:
            return np.ones(len(X))
        return size_proxy(X, self.scale_columns, self.scale_floor)

    def _fit_outcome(self, X: pd.DataFrame, t: np.ndarray, y: np.ndarray) -> lgb.LGBMRegressor:
        s0 = self._proxy(X)
        params = lgbm_params(self.random_state, self.n_jobs, n_estimators=self.n_estimators)
        return lgb.LGBMRegressor(**params).fit(self._outcome_design(X, t), y / s0, sample_weight=s0)

    def _outcomes(self, model: lgb.LGBMRegressor, X: pd.DataFrame) -> np.ndarray:
        """(rows, arms) expected revenue under every option."""
        s0 = self._proxy(X)
        out = np.empty((len(X), len(self.arms_)))
        for k in range(len(self.arms_)):
            design = self._outcome_design(X, np.full(len(X), k))
            out[:, k] = model.predict(design) * s0
        return out

    def _crossfit_nuisances(
        self, X: pd.DataFrame, t: np.ndarray, y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        e = np.zeros((len(X), len(self.arms_)))
        mu = np.zeros((len(X), len(self.arms_)))
        for te in self.folds_:
            tr = np.setdiff1d(np.arange(len(X)), te)
            prop = self._fit_propensity(X.iloc[tr], t[tr])
            proba = prop.predict_proba(X.iloc[te])
            e[np.ix_(te, prop.classes_.astype(np.int64))] = proba
            mu[te] = self._outcomes(self._fit_outcome(X.iloc[tr], t[tr], y[tr]), X.iloc[te])
        return e, mu

    def _effect_model(self, n_trees: int, total_weight: float) -> lgb.LGBMRegressor:
        # a leaf must hold a share of the total weight, not just rows: with size weights a
        # few huge partners could otherwise make a leaf of their own noise
        params = lgbm_params(
            self.random_state,
            self.n_jobs,
            n_estimators=n_trees,
            num_leaves=self.effect_leaves,
            min_child_samples=self.effect_min_child_samples,
            learning_rate=self.effect_learning_rate,
            colsample_bytree=1.0,
            min_child_weight=self.effect_min_weight_share * total_weight,
        )
        return lgb.LGBMRegressor(**params)

    def _fit_effect(
        self, arm: str, E: pd.DataFrame, phi: np.ndarray, weight: np.ndarray
    ) -> np.ndarray:
        """Fit ``arm``'s relative effect; return its out-of-fold predictions.

        The number of trees is the smallest whose cross-fitted DR loss is within one standard
        error (over partners) of the best (the one-standard-error rule: pseudo-outcomes are
        noisy, and a heterogeneity that is not clearly there costs more than it earns).
        """
        grid = sorted({int(n) for n in self.effect_trees} | {0})
        most = max(grid)
        oof = np.zeros((len(E), len(grid)))
        for te in self.folds_:
            tr = np.setdiff1d(np.arange(len(E)), te)
            c = float(np.average(phi[tr], weights=weight[tr]))
            oof[te] = c
            if most > 0:
                model = self._effect_model(most, float(weight[tr].sum())).fit(
                    E.iloc[tr], phi[tr] - c, sample_weight=weight[tr]
                )
                for i, n in enumerate(grid):
                    if n > 0:
                        oof[te, i] += model.predict(E.iloc[te], num_iteration=n)
        row_loss = weight[:, None] * (phi[:, None] - oof) ** 2
        loss = row_loss.sum(axis=0)
        lowest = int(np.argmin(loss))
        # a partner's rows are correlated: the standard error is over partners, not rows
        diff = row_loss - row_loss[:, [lowest]]
        by_partner = np.stack(
            [np.bincount(self.groups_, weights=diff[:, i]) for i in range(len(grid))], axis=1
        )
        se = by_partner.std(axis=0) * np.sqrt(len(by_partner))
        best = int(np.flatnonzero(loss - loss[lowest] <= se)[0])
        self.effect_trees_[arm] = grid[best]
        self.effect_constant_[arm] = float(np.average(phi, weights=weight))
        # partner-clustered standard error of that money-weighted mean: how well the data
        # pins the incentive's average relative effect down (a metric and a gate input)
        spread = np.bincount(self.groups_, weights=weight * (phi - self.effect_constant_[arm]))
        self.effect_se_[arm] = float(np.sqrt(np.sum(spread**2)) / weight.sum())
        self.effects_[arm] = (
            self._effect_model(grid[best], float(weight.sum())).fit(
                E, phi - self.effect_constant_[arm], sample_weight=weight
            )
            if grid[best] > 0
            else None
        )
        log.info(
            "%s: relative effect %.4f (se %.4f), %d trees by cross-fitted DR loss",
            arm,
            self.effect_constant_[arm],
            self.effect_se_[arm],
            grid[best],
        )
        return oof[:, best]

    # -- prediction ---------------------------------------------------------------------
    def predict_base(self, X: pd.DataFrame) -> np.ndarray:
        """Expected next-quarter revenue without an incentive (floored: the uplift's unit)."""
        check_is_fitted(self, "outcome_")
        X = X[self.feature_columns_]
        design = self._outcome_design(X, np.zeros(len(X), dtype=np.int64))
        if not self.relative:
            return np.ones(len(X))
        return np.maximum(self.outcome_.predict(design) * self._proxy(X), self.base_floor_)

    def predict_relative(self, X: pd.DataFrame) -> pd.DataFrame:
        """Relative effect of each incentive (0.05 = +5 % of the partner's base revenue)."""
        check_is_fitted(self, "effects_")
        out = {}
        E = X[self.effect_columns_]
        if self.learner == "x":
            proba = self.propensity_.predict_proba(X[self.feature_columns_])
            proba = np.clip(proba, self.propensity_clip, None)
        for k, arm in enumerate(self.incentives_, start=1):
            if self.learner == "dr":
                out[arm] = self._effect(arm, E)
            else:
                g = proba[:, k] / (proba[:, k] + proba[:, 0])
                out[arm] = g * self._effect(f"{arm}|control", E) + (1 - g) * self._effect(
                    f"{arm}|treated", E
                )
        return pd.DataFrame(out, index=X.index)

    def _effect(self, key: str, E: pd.DataFrame) -> np.ndarray:
        tau = np.full(len(E), self.effect_constant_[key])
        model = self.effects_[key]
        return tau if model is None else tau + model.predict(E)

    def predict_uplift(self, X: pd.DataFrame) -> pd.DataFrame:
        """Expected extra revenue next quarter vs ``none``: one column per incentive."""
        return self.predict_relative(X).mul(self.predict_base(X), axis=0)
