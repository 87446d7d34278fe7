"""Global LightGBM quantile regressor with a heavy-tail transform and conformal intervals.

One model per quantile, trained over all partners and horizons at once (horizon
is a feature). Why each piece:

- **asinh transform**: partner revenue spans orders of magnitude and has credit
  notes (negative values), so the model learns ``asinh(y / scale)``. Quantiles
  commute with monotone transforms, so back-transformed predictions are still
  the wanted quantiles in money.
- **no crossing**: the quantiles of each row are sorted after prediction.
- **conformalised quantile regression (CQR)**: the rows of the latest target
  quarters are held out, the interval's miss on them sets a correction (per
  horizon, in transformed space) that widens or narrows P10..P90 to the
  nominal 80%, and the models are then refitted on all rows (``refit``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import replace

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from features.scoring import MAX_HORIZON
from features.scoring.quantiles import QuantileBundle, forward_transform, inverse_transform
from training.forecast.blend import fit_blend
from training.forecast.starts import choose_starts
from training.forecast.weights import money_weights

log = logging.getLogger(__name__)

ONE_SLICE_CALIBRATION_SHARE = 0.3
"""Share of the rows held out for the conformal correction when all rows share one target
quarter (a program with three quarters of bookings)."""

# the feature screen: 20 trees on half the rows rather than 40 on a third (3/4 of its
# boosting, ~0.1 of the backtest's CPU; `make bench`'s demo WAPE 0.5134 -> 0.5137)
SCREEN_ROWS = 0.5  # share of rows the feature screen fits on
SCREEN_TREES = 20
SEASONAL_START = "seasonal_plan"
"""The start of a horizon the training rows lack (when it is a candidate)."""
SAMPLE_ROWS = 200_000
"""Training rows per fit at most after ``max_rows`` (issue 20), a money-stratified sample
(:meth:`QuantileForecaster._sampled`): the 50,000-partner world's 325,000 rows and more."""
TREND_START = "trend_run_rate_plan"
ANCHOR_SCALES = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
"""With fewer than :data:`SHORT_HISTORY_QUARTERS` target quarters, the multiples of the start
the blend may pull horizons 2+ towards, chosen with the share on the calibration slice
(``training.forecast.blend``). The start is a plan (a mean-like level) and the blend keeps
only part of the trees' move there, so the P50s of the large partners sat near their means,
above the medians WAPE pays for (seasonal world of seed 7, fold 1, horizon 2, the tenth of
partners with the largest plans: P50s summing to 42 M against 31 M booked, 33 M expected).
Seasonal worlds of seeds 42/7, mean over LightGBM seeds 42/7/11/13: 0.6563/0.6599 ->
0.6470/0.6456 (every seed better); horizon 1, long histories, young and activation unchanged."""
SEASONAL_TREND_START = "seasonal_trend_plan"
"""The trended plan times the region's pooled season: with a short history (fewer than
:data:`SHORT_HISTORY_QUARTERS` target quarters) it replaces the season-blind trended plan as a
candidate, and starts a horizon the training rows lack."""
BOOSTER_TRAINER: ContextVar[Callable[..., lgb.Booster]] = ContextVar(
    "booster_trainer", default=lgb.train
)
"""What trains each quantile's booster: ``lightgbm.train`` (same arguments), or the Dask path's
``lightgbm.dask`` trainer while ``training.jobs.dask_training.boosters_on`` is active."""
SHORT_HISTORY_QUARTERS = 8
"""Target quarters below which the trees have not seen every quarter of the year twice, so
they cannot learn the season from ``target_fiscal_quarter`` and the start has to carry it."""
SHORT_HISTORY_KEEP_QUARTERS = 4
SHORT_HISTORY_KEEP = 0.5
"""With fewer than :data:`SHORT_HISTORY_KEEP_QUARTERS` target quarters (less than a year:
some quarter of the year was never a target), the most of the trees' move kept at horizons
2+. Their moves there are learnt on part of one year's season and the calibration slice is
one target quarter of it, so it over-rates them (seasonal world of seed 7, first fold: all of
the move kept at horizons 2 and 3, P50s summing to 94 M against 65 M of expected revenue).
Mean WAPE over LightGBM seeds 42/7/11/13 on the seasonal worlds of seeds 42/7/11:
0.6574/0.6940/0.6497 -> 0.6563/0.6599/0.6458; activation (12 quarters) 0.6603 and demo
unchanged. Not kept: capped below 8 target quarters 0.6563/0.6599/0.6442, but the activation
world's first fold lost 0.6603 -> 0.6630; a cap of 0.3: 0.6590/0.6572/0.6465 and 0.7:
0.6559/0.6692/0.6450 (both below 8 quarters)."""


class QuantileForecaster(RegressorMixin, BaseEstimator):
    """P10/P50/P90 regressor; ``fit(X, y, time=...)``, ``predict_quantiles(X)``."""

    def __init__(
        self,
        quantiles: Sequence[float] = (0.1, 0.5, 0.9),
        transform: str = "asinh",
        scale: float = 1000.0,
        n_estimators: int = 300,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 20,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        max_bin: int = 255,
        early_stopping_rounds: int | None = None,
        size_weight: float = 0.0,
        weight_column: str | None = None,
        max_features: int | None = None,
        blend_offset: bool = False,
        conformal: bool = True,
        calibration_slices: int = 2,
        refit: bool = True,
        max_rows: int | None = None,
        sample_rows: int | None = SAMPLE_ROWS,
        tail_trees: float = 1.0,
        offset_column: str | None = None,
        offset_candidates: Sequence[str] = (),
        random_state: int = 42,
        n_jobs: int = 1,
    ) -> None:
        self.quantiles = quantiles
        self.transform = transform
        self.scale = scale
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.max_bin = max_bin
        self.early_stopping_rounds = early_stopping_rounds
        self.size_weight = size_weight
        self.weight_column = weight_column
        self.max_features = max_features
        self.blend_offset = blend_offset
        self.conformal = conformal
        self.calibration_slices = calibration_slices
        self.refit = refit
        self.max_rows = max_rows
        self.sample_rows = sample_rows
        self.tail_trees = tail_trees
        self.offset_column = offset_column
        self.offset_candidates = offset_candidates
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _is_tail(self, alpha: float) -> bool:
        return alpha != min(self.quantiles, key=lambda q: abs(q - 0.5))

    def _trees(self, alpha: float) -> int:
        """Trees of the ``alpha`` booster: ``tail_trees`` of them for P10 and P90 (their
        learning rate scaled up to match), whose width the conformal step corrects anyway."""
        share = self.tail_trees if self._is_tail(alpha) else 1.0
        return max(1, round(self.n_estimators * share))

    def _params(self, alpha: float) -> dict:
        share = self.tail_trees if self._is_tail(alpha) else 1.0
        return {
            "objective": "quantile",
            "alpha": alpha,
            "metric": "quantile",
            "learning_rate": min(self.learning_rate / share, 1.0),
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "bagging_fraction": self.subsample,
            "bagging_freq": 1,
            "feature_fraction": self.colsample_bytree,
            "lambda_l2": self.reg_lambda,
            "seed": self.random_state,
            "num_threads": self.n_jobs,
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
        }

    def _weights(self, X: pd.DataFrame, sample_weight: np.ndarray | None) -> np.ndarray | None:
        """Row weights: ``sample_weight`` times the money-aware size weight (if any)."""
        weight = sample_weight
        if self.size_weight:
            column = self.weight_column or self.offset_column
            if column is None:
                raise ValueError("size_weight needs a weight_column (or an offset_column)")
            size = money_weights(X[column], power=self.size_weight, floor=self.scale)
            weight = size if weight is None else weight * size
        return weight

    def _start_only(self) -> list[str]:
        """Columns read only as a start (``offset_candidates`` other than the offset column):
        the boosters never see them as features (on the 200-partner world three more columns
        cost 0.016 WAPE, noise of the screen and of column sampling)."""
        return [c for c in self.offset_candidates if c != self.offset_column]

    def _dataset(self, X, z, weight, reference: lgb.Dataset | None = None) -> lgb.Dataset:
        """One binned dataset, shared by the quantiles' boosters (binning is paid once)."""
        return lgb.Dataset(
            X.drop(columns=[c for c in self._start_only() if c in X.columns]),
            label=z,
            weight=weight,
            init_score=self._template().offset(X),
            reference=reference,
            params={"max_bin": self.max_bin, "verbose": -1},
            free_raw_data=False,
        )

    def _fit_models(
        self,
        train: tuple[pd.DataFrame, np.ndarray, np.ndarray | None],
        valid: tuple[pd.DataFrame, np.ndarray, np.ndarray | None] | None = None,
        rounds: dict[float, int] | None = None,
    ) -> dict[float, lgb.Booster]:
        """One booster per quantile on one shared binned dataset ``(X, z, weight)``.

        With ``valid`` and ``early_stopping_rounds``, each booster stops where its pinball
        loss on ``valid`` stops improving; ``rounds`` gives each its number of trees.
        """
        train_set = self._dataset(*train)
        stop = valid is not None and bool(self.early_stopping_rounds)
        valid_sets = [self._dataset(*valid, reference=train_set)] if stop else None
        models = {}
        for q in self.quantiles:
            models[q] = BOOSTER_TRAINER.get()(
                self._params(q),
                train_set,
                num_boost_round=(rounds or {}).get(q, self._trees(q)),
                valid_sets=valid_sets,
                callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)]
                if stop
                else None,
            )
        return models

    def _template(self) -> QuantileBundle:
        """An empty bundle with this estimator's transform and offset (for the offset math)."""
        return QuantileBundle(
            boosters={},
            feature_names=(),
            transform=self.transform,
            scale=self.scale,
            offset_column=self.offset_column,
            offset_by_horizon=getattr(self, "starts_", {}),
        )

    def _bundle(self, models: dict, corrections: dict[int, float]) -> QuantileBundle:
        return QuantileBundle(
            boosters=dict(models),
            feature_names=tuple(self.features_used_),
            transform=self.transform,
            scale=self.scale,
            corrections=corrections,
            offset_column=self.offset_column,
            offset_by_horizon=self.starts_,
        )

    # -- fitting ---------------------------------------------------------------
    def fit(
        self,
        X: pd.DataFrame,
        y: Sequence[float],
        *,
        time: Sequence | None = None,
        horizon: Sequence[int] | None = None,
        sample_weight: Sequence[float] | None = None,
    ) -> QuantileForecaster:
        """Fit on features ``X`` and revenue ``y``.

        ``time`` is each row's target quarter: the rows of the last
        ``calibration_slices`` target quarters are the conformal calibration set
        (every horizon is represented there, unlike with the last cutoffs).
        ``horizon`` lets the correction differ by horizon. With ``refit`` the
        boosters are then refitted on all rows (the deployed model); without it
        the held-out boosters are kept (exact split conformal, half the cost).
        ``sample_weight`` weights rows in the pinball loss, times the money-aware weight
        of ``size_weight`` (see :mod:`training.forecast.weights`). With
        ``early_stopping_rounds`` each quantile's booster stops on the calibration slice
        and the refit keeps its number of trees (``n_iterations_``).
        """
        if len(self.quantiles) < 2 and self.conformal:
            raise ValueError("conformal intervals need a lower and an upper quantile")
        # history length before the row budget: the data's, not the budget's
        self.history_quarters_ = (
            None if time is None else int(pd.Series(np.asarray(time)).nunique())
        )
        if self.max_rows and time is not None:
            X, y, time, horizon, sample_weight = self._recent(X, y, time, horizon, sample_weight)
        if self.sample_rows and len(X) > self.sample_rows:
            X, y, time, horizon, sample_weight = self._sampled(X, y, time, horizon, sample_weight)
        z = forward_transform(np.asarray(y, dtype=float), self.transform, self.scale)
        self.feature_names_in_ = list(X.columns)
        self.starts_ = self._choose_starts(X, y, horizon)
        weight = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        weight = self._weights(X, weight)
        self.features_used_ = self._screen(X, z, weight)
        X = X[self.features_used_ + [c for c in self._start_only() if c in X.columns]]
        self.n_iterations_ = {q: self._trees(q) for q in self.quantiles}
        if not self.conformal:
            self.bundle_ = self._bundle(self._fit_models((X, z, weight)), {})
            return self
        held_out = self._calibrate(X, z, time, horizon, weight)
        if self.refit:
            models = self._fit_models((X, z, weight), rounds=self.n_iterations_)
            held_out = replace(
                self._bundle(models, held_out.corrections),
                blend=held_out.blend,
                anchor_scale=held_out.anchor_scale,
            )
        self.bundle_ = held_out
        return self

    def _short_history(self, limit: int = SHORT_HISTORY_QUARTERS) -> bool:
        """Fewer than ``limit`` target quarters in ``fit``'s ``time``."""
        quarters = getattr(self, "history_quarters_", None)
        return quarters is not None and quarters < limit

    def _choose_starts(self, X: pd.DataFrame, y, horizon) -> dict[int, str]:
        """Per horizon, the start among ``offset_column`` and ``offset_candidates`` with the
        least WAPE on the training rows (``training.forecast.starts``); {} without candidates.

        With a short history (fewer than :data:`SHORT_HISTORY_QUARTERS` target quarters in
        ``fit``'s ``time``) the seasonal trended plan stands in for the season-blind trended
        plan; otherwise it is no candidate."""
        # a candidate the features lack (a spec older than the column) is not a candidate
        candidates = [c for c in self.offset_candidates if c in X.columns]
        if SEASONAL_TREND_START in candidates:
            left_out = TREND_START if self._short_history() else SEASONAL_TREND_START
            candidates = [c for c in candidates if c != left_out]
        if self.offset_column is None or not candidates:
            return {}
        h = X["horizon"].to_numpy() if horizon is None else np.asarray(horizon)
        starts = choose_starts(
            X, np.asarray(y, dtype=float), h, default=self.offset_column, candidates=candidates
        )
        unseen = next((c for c in (SEASONAL_TREND_START, SEASONAL_START) if c in candidates), None)
        if unseen is not None:
            # a horizon no training row has: the trees learnt nothing about its target
            # quarter, so it starts from a seasonal plan rather than the nearest horizon's
            for k in range(1, MAX_HORIZON + 1):
                starts.setdefault(k, unseen)
        log.info("start per horizon: %s", starts)
        return starts

    def _recent(self, X, y, time, horizon, sample_weight) -> tuple:
        """The rows of the latest whole target quarters that fit in ``max_rows`` (at least
        one quarter more than the calibration slices): a row budget, so large channels train
        on their recent years and small ones keep all their history."""
        time = np.asarray(time)
        slices, counts = np.unique(time, return_counts=True)
        newest_first = np.cumsum(counts[::-1])
        n = max(int((newest_first <= self.max_rows).sum()), self.calibration_slices + 1)
        keep = np.isin(time, slices[-n:])
        log.info("training on the last %d target quarters: %d of %d rows", n, keep.sum(), len(keep))

        def take(values):
            return None if values is None else np.asarray(values)[keep]

        return X.loc[keep], np.asarray(y)[keep], time[keep], take(horizon), take(sample_weight)

    def _sampled(self, X, y, time, horizon, sample_weight) -> tuple:
        """About ``sample_rows`` rows when more are left after ``max_rows`` (which keeps at
        least two whole target quarters: 325,000 rows at 50,000 partners): the largest
        quarter of the budget by the money-weight column (the offset) all kept, the others a
        seeded uniform sample weighted by one over its rate, so the money-weighted loss keeps
        its expectation (issue 20)."""
        column = self.weight_column or self.offset_column
        n, budget = len(X), int(self.sample_rows or 0)
        size = (
            np.abs(np.nan_to_num(X[column].to_numpy(dtype=float), nan=0.0))
            if column in X.columns
            else np.zeros(n)
        )
        order = np.argsort(-size, kind="stable")
        n_top = budget // 4 if size.any() else 0
        rate = (budget - n_top) / (n - n_top)
        keep = np.random.default_rng(self.random_state).random(n) < rate
        keep[order[:n_top]] = True
        weight = np.where(keep, 1.0 / rate, 0.0)
        weight[order[:n_top]] = 1.0
        weight = weight if sample_weight is None else weight * np.asarray(sample_weight)
        log.info("training on a money-stratified sample: %d of %d rows", keep.sum(), n)

        def take(values):
            return None if values is None else np.asarray(values)[keep]

        return X.loc[keep], np.asarray(y)[keep], take(time), take(horizon), weight[keep]

    def _screen(self, X: pd.DataFrame, z: np.ndarray, weight: np.ndarray | None) -> list[str]:
        """The ``max_features`` columns with the most gain in a quick median fit on a third
        of the rows (plus ``horizon`` and the offset column): fewer columns, faster
        histograms, and the columns
        that carry a world's signal are found from its data."""
        columns = [c for c in X.columns if c not in set(self._start_only())]
        if not self.max_features or len(columns) <= self.max_features:
            return columns
        rows = np.random.default_rng(self.random_state).random(len(X)) < SCREEN_ROWS
        params = {**self._params(0.5), "learning_rate": 0.15, "feature_fraction": 1.0}
        sample = (X.loc[rows], z[rows], None if weight is None else weight[rows])
        booster = lgb.train(params, self._dataset(*sample), num_boost_round=SCREEN_TREES)
        gain = pd.Series(booster.feature_importance("gain"), index=columns)
        always = {"horizon", self.offset_column} & set(columns)  # the offset is read from X
        keep = set(gain.nlargest(self.max_features).index) | always
        log.info("screened %d of %d features", len(keep), len(columns))
        return [c for c in columns if c in keep]

    @property
    def corrections_(self) -> dict[int, float]:
        """Conformal widening of P10..P90 per horizon, in model space."""
        check_is_fitted(self, "bundle_")
        return self.bundle_.corrections

    def _calibrate(self, X, z, time, horizon, weight) -> QuantileBundle:
        """Fit on all but the last time slices and size the correction on those."""
        if time is None:
            raise ValueError("conformal calibration needs the rows' time (pass time=...)")
        time = pd.Series(np.asarray(time))
        slices = np.sort(time.unique())
        held = min(self.calibration_slices, len(slices) - 1)  # short histories: hold out fewer
        if held < 1:  # one target quarter: its rows are exchangeable, hold out a random share
            log.warning(
                "one target quarter to learn from: calibrating the intervals on a random "
                "%.0f%% of its rows",
                100 * ONE_SLICE_CALIBRATION_SHARE,
            )
            rng = np.random.default_rng(self.random_state)
            calib = rng.random(len(time)) < ONE_SLICE_CALIBRATION_SHARE
        else:
            if held < self.calibration_slices:
                log.info("calibrating the intervals on the last %d target quarter(s)", held)
            calib = time.isin(slices[-held:]).to_numpy()

        def part(rows: np.ndarray) -> tuple:
            return X.loc[rows], z[rows], None if weight is None else weight[rows]

        models = self._fit_models(part(~calib), valid=part(calib))
        if self.early_stopping_rounds:  # the refit keeps each booster's number of trees
            self.n_iterations_ = {q: max(1, m.best_iteration) for q, m in models.items()}
            log.info("trees per quantile after early stopping: %s", self.n_iterations_)
        held_out = self._bundle(models, {})
        h_calib = None if horizon is None else np.asarray(horizon)[calib]
        if self.blend_offset and self.offset_column is not None:
            start = held_out.offset(X.loc[calib])
            trees = held_out.boosters[held_out.median].predict(
                X.loc[calib, list(self.features_used_)]
            )
            args = (
                inverse_transform(z[calib], self.transform, self.scale),
                start,
                trees,
                np.zeros(calib.sum(), dtype=int) if h_calib is None else h_calib,
            )
            keep = fit_blend(*args, transform=self.transform, scale=self.scale)
            anchors = {}
            if self._short_history():  # horizons 2+ may pull towards a multiple of the start
                anchored, scales = fit_blend(
                    *args, transform=self.transform, scale=self.scale, anchors=ANCHOR_SCALES
                )
                anchors = {h: scales[h] if h >= 2 else 1.0 for h in keep}
                keep = {h: anchored[h] if h >= 2 else k for h, k in keep.items()}
            if self._short_history(SHORT_HISTORY_KEEP_QUARTERS):
                keep = {h: min(k, SHORT_HISTORY_KEEP) if h >= 2 else k for h, k in keep.items()}
            log.info("share of the trees' move kept, by horizon: %s", keep)
            log.info("anchor scale by horizon: %s", anchors)
            held_out = replace(held_out, blend=keep, anchor_scale=anchors)
        zq = held_out.raw_quantiles(X.loc[calib], horizon=h_calib)
        lo, hi = zq[:, 0], zq[:, -1]
        scores = np.maximum(lo - z[calib], z[calib] - hi)
        target = self.quantiles[-1] - self.quantiles[0]  # nominal coverage, 0.8
        groups = np.zeros(calib.sum(), dtype=int) if h_calib is None else h_calib
        corrections = {}
        for h in np.unique(groups):
            s = scores[groups == h]
            level = min(1.0, np.ceil((len(s) + 1) * target) / len(s))
            corrections[int(h)] = float(np.quantile(s, level, method="higher"))
        log.info("conformal corrections by horizon (asinh units): %s", corrections)
        return replace(held_out, corrections=corrections)

    # -- prediction --------------------------------------------------------------
    def predict_quantiles(
        self, X: pd.DataFrame, *, horizon: Sequence[int] | None = None
    ) -> pd.DataFrame:
        """One column per quantile (``p10``, ``p50``, ``p90``), never crossing."""
        check_is_fitted(self, "bundle_")
        return self.bundle_.predict_quantiles(X, horizon=horizon)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The median (P50) without conformal correction, for scikit-learn compatibility."""
        check_is_fitted(self, "bundle_")
        z = self.bundle_.boosters[self.bundle_.median].predict(X[self.features_used_])
        return inverse_transform(z + self.bundle_.offset(X), self.transform, self.scale)

    def contributions(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per-feature SHAP contributions of the P50 (model space) plus ``bias``."""
        check_is_fitted(self, "bundle_")
        return self.bundle_.contributions(X)
