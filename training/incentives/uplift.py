"""Uplift of each incentive against ``none``: a cross-fitted doubly-robust (DR) learner.

History is observational and confounded (big, high-tier partners got more incentives), so
"treated vs untreated" is biased. :class:`UpliftModel` combines three LightGBM pieces, all
cross-fitted over K folds of partners (no row's nuisance comes from a model that saw it):

- **propensity** ``e_k(x)``: a multi-class classifier of which option a partner got;
  clipped below at ``propensity_clip`` (the clipped rows are counted in ``overlap_``);
- **outcome** ``mu_k(x)``: one regressor with the option as a categorical feature, fitted on
  revenue *relative to a size proxy* (``Y / s0`` weighted by ``s0``, ``s0`` = the largest of
  ``scale_columns`` and a floor). Quarterly revenue is heavy-tailed, and a relative target with
  size weights fits the multiplicative structure of revenue far better than raw squared error.
  Its loss is ``outcome_objective``: least squares (``l2``, the default) can predict below 0
  (down to -0.5 M out of fold for dormant partners of the activation world, which sank every
  incentive's pseudo-outcomes there); session 10's options: ``tweedie`` (a log-link, never
  below 0), ``fallback`` (least squares, the Tweedie model's row where least squares is below
  0) and ``auto`` (the one of ``l2``/``tweedie`` whose pseudo-outcomes are the less noisy).
  Measured on the suite, none is the default: docs/recommender.md, "Session 10";
- **effect** per incentive: the AIPW pseudo-outcome ``phi_k = mu_k - mu_0 + 1[T=k](Y - mu_k)
  / e_k - 1[T=none](Y - mu_0) / e_none``, divided by the partner's expected revenue without an
  incentive ``s = max(mu_0, floor)`` and weighted by ``s`` (capped at its
  ``weight_cap_quantile``: sizes have a Pareto tail), so the constant fit is a money-weighted
  ratio estimator (sum of uplift / sum of base). How much heterogeneity to trust is chosen per
  incentive by cross-fitted DR policy value on held-out partners among a constant, additive
  segment models with empirical-Bayes shrinkage and a per-partner LightGBM on attributes,
  engagement, pipeline and tenure signals (:mod:`training.incentives.effect_models`).

Randomized rows (issue 17). The history's policy targets what the features only partly
show, so its estimates carry a confounding bias no standard error covers. The rows the data
contract marks ``randomized`` (a share of decisions drawn at random, the ``none`` ones as
the contract's control arm) give each incentive an unbiased comparison with ``none``
(``randomized_``). Each incentive's average effect combines the two by precision, the
history's variance inflated by the spread of its disagreement with the experiment beyond
both sampling errors (``bias_var_``); where there are no randomized rows, the history
alone, as before. The history's side leaves the randomized rows out
(``independent_history``): in its pseudo-outcomes they carry the propensity model's
inverse weights and, counted twice, made the two sides agree on the same noise. The
expected revenue is calibrated per as-of fiscal quarter by its out-of-fold ratio
(``base_calibration_``). Options measured and off by default (docs/recommender.md):
``prior_centre="pooled"`` (:func:`~training.incentives.effect_models.eb_pooled`, partial
pooling towards the incentives' learned common effect) and ``randomized_segments``
(segment effects fitted on the randomized rows alone).

Winner's curse. The average effects' standard errors (0.03-0.07 on the demo world) are as
large as the effects, and choosing the best of noisy estimates picks the overestimated ones.
Each incentive's combined average is scaled by an empirical-Bayes factor towards 0
(``level_shrinkage_``): the smaller of the moment estimate's
(:func:`~training.incentives.effect_models.eb_shrinkage`, 0 when the estimates spread no
more than their noise: with no evidence of any effect the policy says ``none``) and the
posterior over the prior's spread with a "few percent" half-Cauchy hyperprior
(:func:`~training.incentives.effect_models.eb_posterior`). The effect model's deviations
from its average keep the share the randomized rows confirm (``deviation_slope_``, a
calibration slope of the randomized scores on the out-of-fold deviations, shrunk by its
noise). These posterior means both choose and are reported. ``predict_interval`` gives an
80 % interval: the hierarchical posterior standard error of the partner's effect combined
with the segment-level heterogeneity the chosen model leaves unexplained (``residual_sd_``).

Predicted uplift in money is ``tau_k(x) * s(x)``. The cross-fitted AIPW pseudo-outcomes
(money, ``pseudo_outcome_``) give a doubly-robust estimate of any policy's value on the
training rows (``training.incentives.recommender``); :mod:`training.incentives.uplift_eval`
evaluates the out-of-fold predictions (``oof_uplift_``) on the randomized rows.
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

from features.data import ShortHistory
from features.names import NONE
from features.scoring.policy import best_by_net
from training.incentives.effect_models import (
    SEGMENT_COLUMNS,
    SIGNAL_COLUMNS,
    EffectModel,
    PooledPosterior,
    SegmentEffect,
    candidate_models,
    clustered_mean,
    combine_levels,
    eb_pooled,
    eb_posterior,
    eb_shrinkage,
    heterogeneity_bins,
    segment_heterogeneity,
    select_effect_model,
)
from training.incentives.effect_scales import (
    SCALES,
    present_partners,
    ratio,
    reference_amount,
    scale_weights,
    select_scales,
)

log = logging.getLogger(__name__)

SCALE_COLUMNS: tuple[str, ...] = ("revenue_mean_4q", "revenue_lag_1")
NUISANCE_MAX_ROWS = 100_000
"""Rows the propensity and outcome models train on at most, per fit (issue 20): above it a
seeded sample of whole partners (the 10,000-partner demo world's folds stay under it)."""
NUISANCE_MIN_PARTNERS = 10_000
"""Partners a budgeted fit keeps at least, whatever the rows (a long history has many rows
per partner): measured, 12,000 partners per fit kept the policy's DR value at 50,000
partners, 2,900 lost nearly all of it at 10,000 (docs/operator.md, scale)."""
RANDOMIZED_KAPPAS: tuple[float, ...] = (10.0, 3.0, 1.0, 0.3, 0.1)
PRESENCE_COLUMNS: tuple[str, ...] = (
    "revenue_mean_4q",
    "activity_qty_4q",
    "open_amount",
    "opps_created_4q",
)
"""A partner with none of these above 0 shows no sign of life for a year: the fixed part of
an effect on the mix or absolute scale is 0 for it (issue 23)."""


def check_incentive_frame(frame: pd.DataFrame, *, treatment_column: str = "incentive") -> None:
    """Raise a ``ValueError`` naming the ``incentives`` table when no incentive was ever given."""
    if treatment_column not in frame.columns:
        raise ValueError(f"the frame has no {treatment_column!r} column")
    given = frame[treatment_column].astype("string").fillna(NONE) != NONE
    if not bool(given.any()):
        raise ShortHistory(
            "no incentives in the data: the incentives table is missing or has no rows in the "
            "training quarters, so incentives cannot be recommended (the forecaster does not "
            "need it)"
        )


OUTCOME_OBJECTIVES = ("l2", "tweedie", "poisson")
AUTO_OUTCOME_OBJECTIVES = ("l2", "tweedie")
FALLBACK = "fallback"  # least squares, a Tweedie log-link on rows it predicts below 0


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


def partner_folds(groups: np.ndarray, n_folds: int, random_state: int) -> list[np.ndarray]:
    """Test indices of K folds that keep every partner's rows together (seeded shuffle)."""
    # the splitter sees each group's rank among the sorted ids, its own order: the same
    # folds as with the ids themselves, without matching strings fold by fold (31 s at
    # 10,000 partners; issue 20)
    unique, codes = np.unique(groups, return_inverse=True)
    k = max(2, min(n_folds, len(unique)))
    splitter = GroupKFold(n_splits=k, shuffle=True, random_state=random_state)
    codes = codes.reshape(-1)
    return [te for _, te in splitter.split(np.zeros(len(codes)), groups=codes)]


def _per_incentive(values: np.ndarray, k: int) -> np.ndarray:
    """(rows, incentives): one column per incentive (a 1-D array, as before issue 23's
    per-incentive scales, is the same for every incentive)."""
    values = np.asarray(values, dtype=np.float64)
    return np.repeat(values[:, None], k, axis=1) if values.ndim == 1 else values


class UpliftModel(BaseEstimator):
    """Cross-fitted DR-learner of each incentive's uplift on next-quarter revenue vs ``none``.

    ``fit(frame, feature_columns=..., costs=...)`` takes rows like ``build_recommender_frame``'s
    (``costs``: the expected cost of every incentive on those rows, for the policy-value
    choice of effect model); ``predict_uplift(X)`` returns one column per incentive seen in
    training (money), ``predict_interval(X)`` its 80 % bounds.
    """

    def __init__(
        self,
        n_folds: int = 5,
        relative: bool = True,
        propensity_clip: float = 0.01,
        scale_columns: Sequence[str] = SCALE_COLUMNS,
        scale_floor: float = 1000.0,
        base_floor_quantile: float = 0.1,
        segment_columns: Sequence[str] = SEGMENT_COLUMNS,
        signal_columns: Sequence[str] = SIGNAL_COLUMNS,
        candidates: Sequence[str] = ("constant", "segment", "partner"),
        selection_se: float = 1.0,
        effect_scales: Sequence[str] = ("relative", "mix", "absolute"),
        scale_se: float = 1.0,
        scale_own_gate: bool = True,
        scale_value_quantile: float | None = 0.5,
        presence_columns: Sequence[str] = PRESENCE_COLUMNS,
        effect_trees: int = 50,
        effect_leaves: int = 7,
        effect_min_child_samples: int = 300,
        effect_min_weight_share: float = 0.05,
        weight_cap_quantile: float | None = 0.99,
        outcome_clip: bool = False,
        outcome_objective: str = "l2",
        effect_learning_rate: float = 0.05,
        shrink: str = "function",
        effect_prior_scale: float | None = 0.05,
        effect_prior_shape: str = "cauchy",
        prior_centre: str = "zero",
        common_prior: float = 0.5,
        moment_gate: bool = True,
        policy_gate: bool = True,
        policy_gate_se: float = 1.0,
        base_calibration_column: str | None = "asof_fiscal_quarter",
        randomized_segments: bool = False,
        heterogeneity_signals: bool = True,
        independent_history: bool = True,
        randomized_kappas: Sequence[float] = RANDOMIZED_KAPPAS,
        randomized_selection_se: float = 1.0,
        interval_z: float = 1.2816,
        n_estimators: int = 100,
        nuisance_max_rows: int | None = NUISANCE_MAX_ROWS,
        nuisance_min_partners: int = NUISANCE_MIN_PARTNERS,
        min_treated: int = 20,
        min_randomized: int = 30,
        random_state: int = 42,
        n_jobs: int = 1,
    ) -> None:
        self.n_folds = n_folds
        self.relative = relative
        self.propensity_clip = propensity_clip
        self.scale_columns = scale_columns
        self.scale_floor = scale_floor
        self.base_floor_quantile = base_floor_quantile
        self.segment_columns = segment_columns
        self.signal_columns = signal_columns
        self.candidates = candidates
        self.selection_se = selection_se
        self.effect_scales = effect_scales
        self.scale_se = scale_se
        self.scale_own_gate = scale_own_gate
        self.scale_value_quantile = scale_value_quantile
        self.presence_columns = presence_columns
        self.effect_trees = effect_trees
        self.effect_leaves = effect_leaves
        self.effect_min_child_samples = effect_min_child_samples
        self.effect_min_weight_share = effect_min_weight_share
        self.weight_cap_quantile = weight_cap_quantile
        self.outcome_clip = outcome_clip
        self.outcome_objective = outcome_objective
        self.effect_learning_rate = effect_learning_rate
        self.shrink = shrink
        self.effect_prior_scale = effect_prior_scale
        self.effect_prior_shape = effect_prior_shape
        self.prior_centre = prior_centre
        self.common_prior = common_prior
        self.moment_gate = moment_gate
        self.policy_gate = policy_gate
        self.policy_gate_se = policy_gate_se
        self.base_calibration_column = base_calibration_column
        self.randomized_segments = randomized_segments
        self.heterogeneity_signals = heterogeneity_signals
        self.independent_history = independent_history
        self.randomized_kappas = randomized_kappas
        self.randomized_selection_se = randomized_selection_se
        self.interval_z = interval_z
        self.n_estimators = n_estimators
        self.nuisance_max_rows = nuisance_max_rows
        self.nuisance_min_partners = nuisance_min_partners
        self.min_treated = min_treated
        self.min_randomized = min_randomized
        self.random_state = random_state
        self.n_jobs = n_jobs

    # -- fitting ----------------------------------------------------------------------
    def fit(
        self,
        frame: pd.DataFrame,
        *,
        feature_columns: Sequence[str],
        costs: pd.DataFrame | None = None,
        treatment_column: str = "incentive",
        outcome_column: str = "revenue",
        group_column: str = "partner_id",
    ) -> UpliftModel:
        """Fit nuisances cross-fitted by partner, then one effect model per incentive.

        Incentives with fewer than ``min_treated`` rows are dropped (logged): they are never
        predicted, so never recommended. Without ``costs`` the effect models are chosen as if
        incentives were free.
        """
        check_incentive_frame(frame, treatment_column=treatment_column)
        treatment = frame[treatment_column].astype("string").fillna(NONE).to_numpy(dtype=object)
        counts = pd.Series(treatment).value_counts()
        kept = sorted(a for a, n in counts.items() if a != NONE and n >= self.min_treated)
        dropped = sorted(a for a in counts.index if a != NONE and a not in kept)
        if dropped:
            log.warning("too few rows to learn %s (< %d each): dropped", dropped, self.min_treated)
        if not kept:
            raise ShortHistory(
                f"no incentive in the incentives table has {self.min_treated} or more "
                "partner-quarters: too little history to learn uplift"
            )
        if counts.get(NONE, 0) < self.min_treated:
            raise ShortHistory(
                f"too few partner-quarters without an incentive to compare against "
                f"({counts.get(NONE, 0)}, fewer than {self.min_treated})"
            )
        rows = np.isin(treatment, [NONE, *kept])
        cost = np.zeros((int(rows.sum()), len(kept)))
        if costs is not None:
            cost = costs.reindex(columns=kept).fillna(np.inf).to_numpy(dtype=np.float64)[rows]
        frame = frame.loc[rows].reset_index(drop=True)
        self.feature_columns_ = list(feature_columns)
        wanted = [*self.segment_columns, *self.signal_columns]
        self.effect_columns_ = [c for c in dict.fromkeys(wanted) if c in frame.columns]
        self.arms_ = [NONE, *kept]
        self.incentives_ = kept
        X = frame[self.feature_columns_]
        t = pd.Categorical(treatment[rows], categories=self.arms_).codes.astype(np.int64)
        y = frame[outcome_column].to_numpy(dtype=np.float64)
        groups = frame[group_column].astype("string").to_numpy(dtype=object)
        self.folds_ = partner_folds(groups, self.n_folds, self.random_state)
        self.groups_ = pd.factorize(groups)[0]

        e, mus = self._crossfit_nuisances(X, t, y)
        mu = self._choose_outcome(mus, X, e, t, y)
        self.outcome_negative_share_ = float((mu < 0).mean())  # before any clip
        if self.outcome_clip:
            # a partner's expected quarter is not negative (1 % of the activation world's
            # quarters book net credits, none of its partners expects to); the outcome model
            # (a ratio to a floored size proxy) predicted down to -0.5 M out of fold for 8 %
            # of that world's rows, 40 % of its dormant ones, whose mean revenue was +7,600:
            # their AIPW residuals (y - mu) / e then swamped every incentive's average.
            # Any outcome model leaves the pseudo-outcomes unbiased; a better one, less noisy
            mu = np.maximum(mu, 0.0)
        self.base_floor_ = float(
            np.quantile(mu[:, 0][mu[:, 0] > 0], self.base_floor_quantile)
            if (mu[:, 0] > 0).any()
            else self.scale_floor
        )
        self.base_calibration_ = self._base_calibration(frame, t, y, mu)
        budget = self._nuisance_rows(np.arange(len(X)))
        self.propensity_ = self._fit_propensity(X.iloc[budget], t[budget])
        self.outcome_ = self._fit_outcome(X.iloc[budget], t[budget], y[budget])
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
        self.reference_revenue_ = float(np.mean(s))
        E = frame[self.effect_columns_]
        pseudo = np.zeros((len(X), len(kept)))
        for j in range(len(kept)):
            k = j + 1
            phi = mu[:, k] - mu[:, 0] + (t == k) * (y - mu[:, k]) / e[:, k]
            pseudo[:, j] = phi - (t == 0) * (y - mu[:, 0]) / e[:, 0]
        # per incentive, the scale of its effect (issue 23) and, on it, the reference amount
        # g the effect multiplies and the weights (on the relative scale: the base, capped,
        # as before: partner sizes have a Pareto tail, and without a cap the one or two
        # largest partners' quarterly noise decides each incentive's average effect)
        randomized = (
            frame["randomized"].fillna(False).to_numpy(dtype=bool)
            if "randomized" in frame.columns
            else np.zeros(len(frame), dtype=bool)
        )
        money = self._randomized_money(kept, t, y, mu, randomized)
        self._frame_ = frame
        S, w = self._select_scales(kept, pseudo, s, cost, money)
        del self._frame_
        oof = np.zeros((len(X), len(kept)))
        self.effects_: dict[str, EffectModel] = {}
        self.selection_: dict[str, pd.DataFrame] = {}
        for j, arm in enumerate(kept):
            model, oof[:, j], table = select_effect_model(
                self._candidates(),
                E,
                ratio(pseudo[:, j], S[:, j]),
                w[:, j],
                base=S[:, j],
                phi=pseudo[:, j],
                cost=cost[:, j],
                folds=self.folds_,
                groups=self.groups_,
                n_se=self.selection_se,
            )
            self.effects_[arm], self.selection_[arm] = model, table
            log.info("%s: effect model %s\n%s", arm, model.name, table.to_string(index=False))
        self._randomized_evidence(kept, t, y, mu, S, w, randomized)
        self._shrink(kept, oof, ratio(pseudo, S), w, E)
        self._select_policy(kept, oof, pseudo, S, w, cost, t)
        self.oof_uplift_ = pd.DataFrame(oof * S, columns=kept).assign(
            partner_id=frame[group_column].to_numpy(), row=np.flatnonzero(rows)
        )
        self.pseudo_outcome_ = pd.DataFrame(pseudo, columns=kept)
        self.base_oof_ = s
        self.propensity_oof_ = pd.DataFrame(e, columns=self.arms_)
        self.outcome_oof_ = pd.DataFrame(mu, columns=self.arms_)
        self.treatment_ = t
        return self

    def _randomized_money(
        self, kept: list[str], t: np.ndarray, y: np.ndarray, mu: np.ndarray, randomized: np.ndarray
    ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Per incentive index, its randomized rows (treated or the randomized ``none`` arm)
        and their AIPW scores in money (:meth:`_randomized_evidence`'s, before dividing by
        the reference amount); incentives with fewer than ``min_randomized`` rows in either
        arm are absent."""
        out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        control = randomized & (t == 0)
        for j in range(len(kept)):
            treated = randomized & (t == j + 1)
            n_t, n_c = int(treated.sum()), int(control.sum())
            if min(n_t, n_c) < self.min_randomized:
                continue
            p = n_t / (n_t + n_c)
            score = (
                mu[:, j + 1]
                - mu[:, 0]
                + treated * (y - mu[:, j + 1]) / p
                - control * (y - mu[:, 0]) / (1.0 - p)
            )
            on = np.flatnonzero(treated | control)
            out[j] = (on, score[on])
        return out

    def _select_scales(
        self,
        kept: list[str],
        pseudo: np.ndarray,
        s: np.ndarray,
        cost: np.ndarray,
        rnd_scores: dict[int, tuple[np.ndarray, np.ndarray]],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each incentive's effect scale (relative, mix, absolute:
        :mod:`training.incentives.effect_scales`), by the cross-fitted doubly-robust policy
        value of the policy gate (:meth:`_select_policy`): per fold of partners, each
        incentive's average on each scale is re-estimated from the other folds (history and
        randomized rows, combined and shrunk as in :meth:`_shrink`), the averages choose
        each held-out row's option, and its AIPW pseudo-outcome minus cost scores it
        (:func:`~training.incentives.effect_scales.select_scales`). ``rnd_scores``: per
        incentive index, the randomized rows and their AIPW scores in money. Returns the
        (rows, incentives) reference amounts ``g`` the effects multiply and the
        pseudo-outcomes' weights. Sets ``scale_`` (incentive: scale), ``scale_alpha_`` and
        ``scale_selection_`` (incentive: table of each scale's evidence)."""
        scales = {name: SCALES[name] for name in self.effect_scales}
        if not self.relative:
            scales = {"relative": 0.0}
        elif "relative" not in scales:
            scales = {"relative": 0.0, **scales}
        names = list(scales)
        n, k = pseudo.shape
        cap = self.weight_cap_quantile if self.relative else None
        present = present_partners(self._frame_, self.presence_columns)
        self.present_share_ = float(present.mean())
        G = np.stack(
            [reference_amount(s, self.reference_revenue_, scales[c], present) for c in names], 1
        )
        W = np.stack([scale_weights(s, G[:, i], cap) for i in range(len(names))], axis=1)
        self.scale_: dict[str, str] = {}
        self.scale_alpha_: dict[str, float] = {}
        self.scale_selection_: dict[str, pd.DataFrame] = {}
        chosen = [0] * k
        if len(names) > 1:
            hist = np.ones(n, dtype=bool)
            if self.independent_history:
                for rows, _ in rnd_scores.values():
                    hist[rows] = False
            if not hist.any():
                hist[:] = True
            levels = []  # per fold: (obs, obs_se, rnd, rnd_se), each (incentives, scales)
            for te in self.folds_:
                train = np.ones(n, dtype=bool)
                train[te] = False
                on = train & hist  # costs only score: an unpriced incentive is never given
                obs, obs_se = np.zeros((k, len(names))), np.full((k, len(names)), np.inf)
                rnd, rnd_se = np.zeros((k, len(names))), np.full((k, len(names)), np.inf)
                for i in range(len(names)):
                    for j in range(k):
                        if W[on, i].sum() > 0:
                            obs[j, i], obs_se[j, i] = clustered_mean(
                                ratio(pseudo[on, j], G[on, i]), W[on, i], self.groups_[on]
                            )
                        if j in rnd_scores:
                            rows, score = rnd_scores[j]
                            fit = train[rows]
                            if fit.sum() >= self.min_randomized:
                                r = rows[fit]
                                rnd[j, i], rnd_se[j, i] = clustered_mean(
                                    ratio(score[fit], G[r, i]), W[r, i], self.groups_[r]
                                )
                levels.append((obs, obs_se, rnd, rnd_se))

            # each incentive's posterior point on each scale, the others on the relative
            # one: an incentive's scale then moves only its own decisions, not the others'
            # through the shared prior's spread (the levels' sizes differ by scale)
            points = []
            for obs, obs_se, rnd, rnd_se in levels:
                point = np.zeros((k, len(names)))
                for i in range(len(names)):
                    for j in range(k):
                        cols = np.zeros(k, dtype=np.int64)
                        cols[j] = i
                        at = (np.arange(k), cols)
                        has = np.isfinite(rnd_se[at])
                        level, se, _ = combine_levels(
                            obs[at], obs_se[at], rnd[at], np.where(has, rnd_se[at], 0.0), has
                        )
                        point[j, i] = self._posterior(level, se)[1][j]
                points.append(point)

            def held_out_net(pick: tuple[int, ...]) -> np.ndarray:
                net = np.full((n, k), -np.inf)
                cols = np.asarray(pick)
                for te, point in zip(self.folds_, points, strict=True):
                    chosen_point = point[np.arange(k), cols]
                    net[te] = chosen_point[None, :] * G[te][:, cols] - cost[te]
                return net

            chosen, tables = select_scales(
                held_out_net,
                pseudo,
                s,
                float(np.quantile(s, self.scale_value_quantile))
                if self.scale_value_quantile is not None
                else self.reference_revenue_,
                cost,
                self.groups_,
                names=names,
                n_se=self.scale_se,
                own_gate=self.scale_own_gate,
            )
            for j, arm in enumerate(kept):
                table = tables[j].assign(
                    alpha=[scales[c] for c in names],
                    theta=[
                        float(np.average(ratio(pseudo[:, j], G[:, i]), weights=W[:, i]))
                        for i in range(len(names))
                    ],
                )
                self.scale_selection_[arm] = table
                log.info("%s: effect scale\n%s", arm, table.to_string(index=False))
        S, w = np.empty((n, k)), np.empty((n, k))
        for j, arm in enumerate(kept):
            name = names[chosen[j]]
            self.scale_[arm], self.scale_alpha_[arm] = name, float(scales[name])
            S[:, j], w[:, j] = G[:, chosen[j]], W[:, chosen[j]]
        return S, w

    def _base_calibration(
        self, frame: pd.DataFrame, t: np.ndarray, y: np.ndarray, mu: np.ndarray
    ) -> dict[float, float]:
        """Per value of ``base_calibration_column`` (the as-of fiscal quarter): the
        out-of-fold ratio of actual revenue to the outcome model's prediction for the option
        each row got (``sum(y) / sum(mu)``, partner-clustered se), shrunk towards 1 by its
        noise (positive-part James-Stein, ``1 - se^2 / (r - 1)^2``). The outcome model fits
        revenue relative to a size proxy and misses part of the seasonal swing (out of
        fold it over-predicts fourth-quarter-as-of rows by 5 % on the demo world, 27 % on
        the seasonal one); the expected revenue the uplift scales is multiplied by it.
        Empty when the column is absent or unset."""
        column = self.base_calibration_column
        if column is None or column not in self.feature_columns_:
            return {}
        pred = np.maximum(mu[np.arange(len(t)), t], 1.0)
        key = frame[column].to_numpy(dtype=np.float64)
        out: dict[float, float] = {}
        for value in np.unique(key[np.isfinite(key)]):
            on = key == value
            r, se = clustered_mean(y[on] / pred[on], pred[on], self.groups_[on])
            keep = max(0.0, 1.0 - se**2 / (r - 1.0) ** 2) if r != 1.0 else 0.0
            out[float(value)] = float(1.0 + keep * (r - 1.0))
        log.info("base calibration by %s: %s", column, out)
        return out

    def _calibrate_base(self, X: pd.DataFrame, base: np.ndarray) -> np.ndarray:
        calibration = getattr(self, "base_calibration_", {})
        column = self.base_calibration_column
        if not calibration or column is None or column not in X.columns:
            return base
        key = X[column].to_numpy(dtype=np.float64)
        factor = np.array([calibration.get(float(k), 1.0) for k in key])
        return base * factor

    def _candidates(self) -> list[EffectModel]:
        lgbm = lgbm_params(
            self.random_state,
            self.n_jobs,
            n_estimators=self.effect_trees,
            num_leaves=self.effect_leaves,
            min_child_samples=self.effect_min_child_samples,
            learning_rate=self.effect_learning_rate,
            colsample_bytree=1.0,
        )
        out = candidate_models(lgbm, self.signal_columns, self.segment_columns)
        for m in out:
            if hasattr(m, "min_weight_share"):
                m.min_weight_share = self.effect_min_weight_share
        return [m for m in out if m.name.split(":")[0] in self.candidates]

    def _randomized_evidence(
        self,
        kept: list[str],
        t: np.ndarray,
        y: np.ndarray,
        mu: np.ndarray,
        S: np.ndarray,
        w: np.ndarray,
        randomized: np.ndarray,
    ) -> None:
        """Per incentive, the randomized comparison with ``none``: on the randomized rows that
        got the incentive or ``none`` (the contract's control arm), the AIPW score with the
        known randomization share ``p`` (the share of the incentive among those rows), so it
        is unbiased whatever the outcome model and whatever the history's confounding:
        ``mu_k - mu_0 + 1[T=k](Y - mu_k) / p - 1[T=none](Y - mu_0) / (1 - p)``, relative to
        the incentive's reference amount (``S[:, j]``: the base on the relative scale) and
        weighted like the observational fit (``w[:, j]``). Sets ``randomized_`` (arm:
        level, se, rows treated, rows control; incentives with fewer than ``min_randomized``
        rows in either arm have none) and ``randomized_scores_`` (arm: rows, relative score).
        """
        self.randomized_: dict[str, tuple[float, float, int, int]] = {}
        self.randomized_scores_: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        control = randomized & (t == 0)
        for j, arm in enumerate(kept):
            treated = randomized & (t == j + 1)
            n_t, n_c = int(treated.sum()), int(control.sum())
            if min(n_t, n_c) < self.min_randomized:
                continue
            on = treated | control
            p = n_t / (n_t + n_c)
            k = j + 1
            score = ratio(
                mu[:, k]
                - mu[:, 0]
                + treated * (y - mu[:, k]) / p
                - control * (y - mu[:, 0]) / (1.0 - p),
                S[:, j],
            )
            level, se = clustered_mean(score[on], w[on, j], self.groups_[on])
            self.randomized_[arm] = (level, se, n_t, n_c)
            self.randomized_scores_[arm] = (np.flatnonzero(on), score[on])
            log.info("%s: randomized %+.4f (se %.4f; %d vs %d rows)", arm, level, se, n_t, n_c)

    def _combined_levels(self, kept: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Each incentive's average effect from the observational fit and the randomized
        comparison, weighted by precision, where the observational estimate's variance is
        its sampling variance plus the variance of the history's confounding bias
        (``bias_var_``: how much more the two disagree across the incentives than their
        sampling errors explain, a DerSimonian-Laird moment). The more the history
        disagrees with the experiment, the less it counts; where they agree within noise,
        the history's larger sample counts fully. Without any randomized evidence, the
        observational estimates alone (as before issue 17)."""
        obs = np.array([self.effects_[a].level_ for a in kept])
        obs_se = np.array([self.effects_[a].level_se_ for a in kept])
        history_only = getattr(self, "_history_only_", None)
        if history_only is not None:  # the history without the randomized rows
            obs, obs_se = history_only
        has = np.array([a in self.randomized_ for a in kept])
        rnd = np.array([self.randomized_.get(a, (0.0, np.inf))[0] for a in kept])
        rnd_se = np.array([self.randomized_.get(a, (0.0, np.inf))[1] for a in kept])
        level, se, self.bias_var_ = combine_levels(obs, obs_se, rnd, rnd_se, has)
        self.combined_ = {a: (float(level[j]), float(se[j])) for j, a in enumerate(kept)}
        return level, se

    def _calibration_slope(self, kept: list[str]) -> float:
        """How much of the observational models' heterogeneity the randomized rows confirm:
        one slope of the randomized scores on the models' deviations from their average
        (pooled over the incentives, each centred on its own rows, partner-clustered se),
        shrunk by its own noise (positive-part James-Stein, ``1 - se^2 / b^2``) and kept in
        [0, 1]. 0 when no model varies or no incentive has randomized rows."""
        num = den = 0.0
        parts = []
        for j, arm in enumerate(kept):
            if arm not in self.randomized_scores_:
                continue
            rows, score = self.randomized_scores_[arm]
            d = self._deviation_oof_[arm][rows]
            wr = self._weights_[rows, j]
            d = d - np.average(d, weights=wr)
            zc = score - np.average(score, weights=wr)
            num += float(np.sum(wr * d * zc))
            den += float(np.sum(wr * d * d))
            parts.append((rows, wr, d, zc))
        if den <= 1e-12:
            self.calibration_ = (0.0, 0.0)
            return 0.0
        b = num / den
        resid = np.zeros(len(self._weights_))
        for rows, wr, d, zc in parts:
            np.add.at(resid, rows, wr * d * (zc - b * d))
        se = float(np.sqrt(np.sum(np.bincount(self.groups_, weights=resid) ** 2)) / den)
        self.calibration_ = (float(b), se)
        keep = max(0.0, 1.0 - se**2 / b**2) if b != 0 else 0.0
        return float(np.clip(b * keep, 0.0, 1.0))

    def _shrink(
        self, kept: list[str], oof: np.ndarray, z: np.ndarray, w: np.ndarray, E: pd.DataFrame
    ) -> None:
        """Posterior effects (the winner's curse): each incentive's average effect, combined
        from the history and the randomized rows (:meth:`_combined_levels`), is scaled by its
        empirical-Bayes factor towards 0; the effect model's deviations from its average
        keep the share the randomized rows confirm (:meth:`_calibration_slope`; without
        randomized rows, the level's factor, as before). Then measures the heterogeneity
        left (for the intervals); updates ``oof``."""
        self._randomized_segment_models(kept, E, w)
        self._weights_ = w
        self._deviation_oof_ = {
            a: oof[:, j] - float(np.average(oof[:, j], weights=w[:, j])) for j, a in enumerate(kept)
        }
        self._history_only_ = None
        if self.independent_history and self.randomized_scores_:
            # the observational side without the randomized rows, so that the two sides
            # are independent as the precision weighting and the bias variance assume: in
            # the history's pseudo-outcomes the randomized rows carry the propensity
            # model's weights (which know nothing of the randomization) and dominate it
            keep = np.ones(len(w), dtype=bool)
            for rows, _ in self.randomized_scores_.values():
                keep[rows] = False
            if w[keep].sum() > 0:
                parts = [
                    clustered_mean(z[keep, j], w[keep, j], self.groups_[keep])
                    for j in range(len(kept))
                ]
                self._history_only_ = (
                    np.array([p[0] for p in parts]),
                    np.array([p[1] for p in parts]),
                )
        level, se = self._combined_levels(kept)
        del self._history_only_
        factor, point, post_var, hierarchical, self.prior_sd_, pooled = self._posterior(level, se)
        if pooled is not None:
            self.pooled_ = pooled
        self.level_shrinkage_ = dict(zip(kept, factor.tolist(), strict=True))
        self.posterior_level_ = {a: float(point[j]) for j, a in enumerate(kept)}
        self.posterior_level_se_ = {a: float(np.sqrt(post_var[j])) for j, a in enumerate(kept)}
        if self.randomized_scores_:
            slope = self._calibration_slope(kept)
            self.deviation_slope_ = dict.fromkeys(kept, slope)
        else:
            self.calibration_ = (float("nan"), float("nan"))
            self.deviation_slope_ = {
                a: (1.0 if self.shrink == "level" else float(np.clip(factor[j], 0.0, 1.0)))
                for j, a in enumerate(kept)
            }
        self.residual_sd_ = {}
        bins = heterogeneity_bins(
            E, self.segment_columns, self.signal_columns if self.heterogeneity_signals else ()
        )
        for j, arm in enumerate(kept):
            if arm in self.randomized_segment_:
                # the experiment's own segment effects replace the history's deviations
                self.deviation_slope_[arm] = 0.0
                oof[:, j] = self.posterior_level_[arm] + self._randomized_deviation_oof_[arm]
            else:
                oof[:, j] = (
                    self.posterior_level_[arm]
                    + self.deviation_slope_[arm] * (self._deviation_oof_[arm])
                )
            explained = float(np.average((oof[:, j] - oof[:, j].mean()) ** 2, weights=w[:, j]))
            total = segment_heterogeneity(bins, z[:, j], w[:, j], self.groups_, list(bins.columns))
            # the heterogeneity kept by the hierarchical posterior (not the point's factor:
            # a point of 0 is "no evidence", not "every partner's effect is exactly 0")
            kept_share = hierarchical[j] if self.shrink != "none" else 1.0
            self.residual_sd_[arm] = float(np.sqrt(max(0.0, kept_share * total - explained)))
            log.info(
                "%s: combined %+.4f (se %.4f) x %.2f, deviations x %.2f; residual sd %.4f",
                *(arm, level[j], se[j], factor[j], self.deviation_slope_[arm]),
                self.residual_sd_[arm],
            )
        del self._weights_, self._deviation_oof_, self._randomized_deviation_oof_

    def _posterior(
        self, level: np.ndarray, se: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, PooledPosterior | None]:
        """Posterior point of every incentive's average effect from its combined estimate:
        (factor, point, posterior variance, hierarchical factor, prior sd, pooled posterior
        or None). The point is the smaller of two empirical-Bayes factors times the
        estimate. The moment estimate of the prior's spread says exactly 0 when the
        estimates spread no more than their noise (no evidence of any effect: none for
        everyone); the posterior over the spread with the hyperprior keeps two wild
        estimates of an 8-quarter history from making it large. The variance: that
        posterior's, widened by the gap between them."""
        k = len(level)
        moment, _ = eb_shrinkage(level, se)
        hierarchical, post_var, prior_sd = eb_posterior(
            level, se, self.effect_prior_scale, prior_shape=self.effect_prior_shape
        )
        if self.prior_centre not in ("pooled", "zero"):
            raise ValueError(f"prior_centre must be 'pooled' or 'zero', got {self.prior_centre!r}")
        pooled = None
        if self.prior_centre == "pooled":
            pooled = eb_pooled(
                level,
                se,
                self.effect_prior_scale,
                self.effect_prior_scale,
                self.common_prior,
            )
            # the moment estimate's evidence, as before: where the estimates spread around 0
            # no more than their noise, no incentive has shown any effect (none for all)
            gate = np.ones(k)
            if self.moment_gate:
                gate = np.minimum(
                    1.0,
                    np.divide(moment, hierarchical, out=np.zeros(k), where=hierarchical > 0),
                )
            point, post_var = gate * pooled.mean, pooled.sd**2 + ((1 - gate) * pooled.mean) ** 2
            factor = np.divide(point, level, out=np.zeros(k), where=level != 0)
        else:
            factor = np.minimum(moment, hierarchical)
            point = factor * level
            post_var = post_var + ((hierarchical - factor) * level) ** 2
        if self.shrink not in ("function", "level", "none"):
            raise ValueError(f"shrink must be 'function', 'level' or 'none', got {self.shrink!r}")
        if self.shrink == "none":
            factor, point, post_var = np.ones(k), level, se**2
        return factor, point, post_var, hierarchical, prior_sd, pooled

    def _select_policy(
        self,
        kept: list[str],
        oof: np.ndarray,
        pseudo: np.ndarray,
        S: np.ndarray,
        w: np.ndarray,
        cost: np.ndarray,
        t: np.ndarray,
    ) -> None:
        """The data's choice between the model's policy and ``none`` for everyone, by
        cross-fitted doubly-robust policy value (session 7). Per fold of partners, the
        average effects are re-estimated from the other folds alone (history and randomized
        rows, combined and shrunk as in :meth:`_shrink`), they choose each held-out row's
        option (best positive ``effect x expected revenue - cost``, with the effect model's
        out-of-fold deviations) and that row's AIPW pseudo-outcome minus cost scores it: the
        estimates that choose and the pseudo-outcomes that judge never share a partner. In
        the fit's own rows the same noisy averages would both choose and score (the winner's
        curse: the 8-quarter seasonal world's policy scored z = +1.0 that way and -1.25
        cross-fitted). Where the model's policy gives something and its cross-fitted value
        is below 0 (``none``'s) by more than ``policy_gate_se`` of its partner-clustered
        standard errors (the data say it loses money, not merely that they cannot tell),
        ``policy_gate`` sets every posterior effect, its factor and the deviations' share
        to 0: none for everyone, as when the moment estimate finds no effect. Sets
        ``policy_selection_`` (policy, cross-fitted DR value summed
        over the training rows, partner-clustered se, rows given, chosen): ``none``, "everyone
        gets" the history's most common incentive (a policy fixed in advance, not fitted)
        and ``model``; and ``policy_gated_``."""
        n, k = pseudo.shape
        S, w = _per_incentive(S, k), _per_incentive(w, k)
        hist = np.ones(n, dtype=bool)
        if self.independent_history:
            for rows, _ in self.randomized_scores_.values():
                hist[rows] = False
        if not hist.any():
            hist[:] = True
        point_all = np.array([self.posterior_level_[a] for a in kept])
        deviation = oof - point_all[None, :]
        gain = np.zeros(n)
        given = np.zeros(n, dtype=bool)
        for te in self.folds_:
            train = np.ones(n, dtype=bool)
            train[te] = False
            on = train & hist
            if w[on].sum() <= 0:
                continue
            parts = [
                clustered_mean(ratio(pseudo[on, j], S[on, j]), w[on, j], self.groups_[on])
                for j in range(k)
            ]
            obs, obs_se = np.array([p[0] for p in parts]), np.array([p[1] for p in parts])
            rnd, rnd_se = np.zeros(k), np.full(k, np.inf)
            for j, arm in enumerate(kept):
                if arm not in self.randomized_scores_:
                    continue
                rows, score = self.randomized_scores_[arm]
                fit = train[rows]
                if fit.sum() >= self.min_randomized:
                    rnd[j], rnd_se[j] = clustered_mean(
                        score[fit], w[rows, j][fit], self.groups_[rows][fit]
                    )
            has = np.isfinite(rnd_se)
            level, se, _ = combine_levels(obs, obs_se, rnd, np.where(has, rnd_se, 0.0), has)
            point = self._posterior(level, se)[1]
            net = (point[None, :] + deviation[te]) * S[te] - cost[te]
            choice = best_by_net(net)
            picked = choice >= 0
            rows_te = te[picked]
            gain[rows_te] = pseudo[rows_te, choice[picked]] - cost[rows_te, choice[picked]]
            given[rows_te] = True
        common = int(np.argmax(np.bincount(t, minlength=k + 1)[1:]))
        everyone = pseudo[:, common] - cost[:, common]
        everyone = np.where(np.isfinite(everyone), everyone, 0.0)

        def clustered(values: np.ndarray) -> float:
            by_partner = np.bincount(self.groups_, weights=values)
            return float(by_partner.std() * np.sqrt(len(by_partner)))

        value, value_se = float(gain.sum()), clustered(gain)
        self.policy_gated_ = bool(
            self.policy_gate and given.any() and value < -self.policy_gate_se * value_se
        )
        self.policy_selection_ = pd.DataFrame(
            {
                "policy": [NONE, f"everyone gets {kept[common]}", "model"],
                "crossfit_dr_value": [0.0, float(everyone.sum()), value],
                "se": [0.0, clustered(everyone), value_se],
                "rows_given": [0, n, int(given.sum())],
                "chosen": [self.policy_gated_, False, not self.policy_gated_],
            }
        )
        log.info("policy selection (cross-fitted DR value)\n%s", self.policy_selection_)
        if self.policy_gated_:
            log.info("the model's policy is worth no more than none out of fold: none for all")
            for arm in kept:
                self.level_shrinkage_[arm] = 0.0
                self.posterior_level_[arm] = 0.0
                self.deviation_slope_[arm] = 0.0
                self.randomized_segment_.pop(arm, None)
            oof[:] = 0.0

    def _shrunk(self, arm: str, tau: np.ndarray, E: pd.DataFrame | None = None) -> np.ndarray:
        """The posterior effect: the posterior average plus the confirmed share of the
        effect model's deviation from its own average, or, where the randomized rows chose
        a segment model of their own, its deviation."""
        segment = getattr(self, "randomized_segment_", {}).get(arm)
        if segment is not None and E is not None:
            return self.posterior_level_[arm] + segment.predict(E) - segment.level_
        level = self.effects_[arm].level_
        return self.posterior_level_[arm] + self.deviation_slope_[arm] * (tau - level)

    def _randomized_segment_models(self, kept: list[str], E: pd.DataFrame, w: np.ndarray) -> None:
        """Segment effects the experiment itself shows. Per incentive, on its randomized
        rows (``randomized_scores_``: unbiased for each partner's effect whatever the
        history's confounding), a constant against additive segment models of ridge
        strengths ``randomized_kappas``, scored by the partner-fold cross-fitted weighted
        squared error of the scores (the noise adds the same to every candidate, so the
        ordering is that of the error against the true effects); the simplest within
        ``randomized_selection_se`` partner-clustered standard errors of the best wins
        (candidates ordered simplest first: constant, then strongest ridge). Sets
        ``randomized_segment_`` (arm: the chosen segment model fitted on all its
        randomized rows; arms whose choice is the constant are absent) and
        ``randomized_selection_`` (arm: table of candidates' held-out loss)."""
        self.randomized_segment_: dict[str, SegmentEffect] = {}
        self.randomized_selection_: dict[str, pd.DataFrame] = {}
        self._randomized_deviation_oof_: dict[str, np.ndarray] = {}
        if not self.randomized_segments:
            return
        w = _per_incentive(w, len(kept))
        columns = tuple(c for c in self.segment_columns if c in E.columns)
        for j, arm in enumerate(kept):
            if arm not in self.randomized_scores_:
                continue
            rows, score = self.randomized_scores_[arm]
            wr, gr = w[rows, j], self.groups_[rows]
            kappas = sorted(self.randomized_kappas, reverse=True)
            losses = np.zeros((len(rows), 1 + len(kappas)))
            dev_oof = np.zeros((len(E), 1 + len(kappas)))
            for te in self.folds_:
                held = np.isin(rows, te)
                if not held.any() or held.all():
                    continue
                fit = ~held
                level = float(np.average(score[fit], weights=wr[fit]))
                losses[held, 0] = wr[held] * (score[held] - level) ** 2
                for i, kappa in enumerate(kappas, start=1):
                    model = SegmentEffect(kappa=kappa, columns=columns).fit(
                        E.iloc[rows[fit]], score[fit], wr[fit], gr[fit]
                    )
                    pred = model.predict(E.iloc[rows[held]])
                    losses[held, i] = wr[held] * (score[held] - pred) ** 2
                    dev_oof[te, i] = model.predict(E.iloc[te]) - model.level_
            total = losses.sum(axis=0)
            best = int(np.argmin(total))
            diff = np.stack(
                [
                    np.bincount(gr, weights=losses[:, i] - losses[:, best])
                    for i in range(len(total))
                ],
                axis=1,
            )
            se = diff.std(axis=0) * np.sqrt(len(diff))
            pick = int(np.flatnonzero(total <= total[best] + self.randomized_selection_se * se)[0])
            self.randomized_selection_[arm] = pd.DataFrame(
                {
                    "candidate": ["constant", *[f"segment:{k:g}" for k in kappas]],
                    "heldout_loss": total,
                    "se_vs_best": se,
                    "chosen": np.arange(len(total)) == pick,
                }
            )
            if pick == 0:
                continue
            self.randomized_segment_[arm] = SegmentEffect(
                kappa=kappas[pick - 1], columns=columns
            ).fit(E.iloc[rows], score, wr, gr)
            self._randomized_deviation_oof_[arm] = dev_oof[:, pick]
            log.info("%s: randomized rows choose segment:%g", arm, kappas[pick - 1])

    @property
    def effect_constant_(self) -> dict[str, float]:
        """Each incentive's average relative effect before shrinkage."""
        return {a: float(m.level_) for a, m in self.effects_.items()}

    @property
    def effect_se_(self) -> dict[str, float]:
        """Partner-clustered standard error of each incentive's average relative effect."""
        return {a: float(m.level_se_) for a, m in self.effects_.items()}

    @property
    def effect_model_(self) -> dict[str, str]:
        """The effect model the data chose for each incentive."""
        return {a: m.name for a, m in self.effects_.items()}

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

    def _fit_outcome(
        self, X: pd.DataFrame, t: np.ndarray, y: np.ndarray, objective: str | None = None
    ) -> lgb.LGBMRegressor:
        """Expected revenue / size proxy, weighted by the proxy. ``objective`` (default the
        chosen ``outcome_objective_``): ``l2`` (least squares: can predict below 0) or a
        non-negative log-link (``tweedie``, ``poisson``: fitted on revenue floored at 0, the
        1 % of quarters booking net credits counted as 0)."""
        objective = objective or self.outcome_objective_
        if objective == FALLBACK:
            # the final model predicts the base, floored at ``base_floor_`` anyway
            objective = "l2"
        s0 = self._proxy(X)
        params = lgbm_params(self.random_state, self.n_jobs, n_estimators=self.n_estimators)
        label = y / s0
        if objective != "l2":
            params["objective"] = objective
            label = np.maximum(label, 0.0)
        return lgb.LGBMRegressor(**params).fit(self._outcome_design(X, t), label, sample_weight=s0)

    def _choose_outcome(
        self,
        mus: dict[str, np.ndarray],
        X: pd.DataFrame,
        e: np.ndarray,
        t: np.ndarray,
        y: np.ndarray,
    ) -> np.ndarray:
        """The out-of-fold outcome predictions of the objective whose AIPW pseudo-outcomes
        are least noisy: the sum over incentives of the partner-clustered variance of their
        mean (money). With the same propensities every candidate's pseudo-outcomes estimate
        the same effects; the one with the smallest variance is the more efficient estimator
        (a least-squares fit that predicts a dormant partner's quarter at -0.5 M adds its
        error, divided by a small propensity, to every incentive's average: issue 23). Sets
        ``outcome_objective_`` and ``outcome_selection_`` (objective: that variance, and its
        out-of-fold squared error per unit of size proxy, for the record)."""
        ec = np.clip(e, self.propensity_clip, None)
        s0 = self._proxy(X)
        rows = np.arange(len(y))
        if self.outcome_objective == FALLBACK:
            # least squares where it predicts a possible quarter, the log-link's whole row
            # (every option, so an option's difference comes from one model) where any of
            # its options is below 0
            below = (mus["l2"] < 0).any(axis=1)
            self.outcome_fallback_share_ = float(below.mean())
            mus = {**mus, FALLBACK: np.where(below[:, None], mus["tweedie"], mus["l2"])}
        self.outcome_selection_: dict[str, dict[str, float]] = {}
        for o, mu in mus.items():
            variance = 0.0
            for k in range(1, len(self.arms_)):
                phi = mu[:, k] - mu[:, 0] + (t == k) * (y - mu[:, k]) / ec[:, k]
                phi = phi - (t == 0) * (y - mu[:, 0]) / ec[:, 0]
                variance += clustered_mean(phi, np.ones(len(y)), self.groups_)[1] ** 2
            self.outcome_selection_[o] = {
                "pseudo_outcome_variance": float(variance),
                "outcome_loss": float(np.mean((y - mu[rows, t]) ** 2 / s0)),
            }
        self.outcome_objective_ = (
            FALLBACK
            if self.outcome_objective == FALLBACK
            else min(mus, key=lambda o: self.outcome_selection_[o]["pseudo_outcome_variance"])
        )
        if len(mus) > 1:
            log.info("outcome model %s of %s", self.outcome_objective_, self.outcome_selection_)
        return mus[self.outcome_objective_]

    def _outcome_objectives(self) -> list[str]:
        if self.outcome_objective in ("auto", FALLBACK):
            return list(AUTO_OUTCOME_OBJECTIVES)
        if self.outcome_objective not in OUTCOME_OBJECTIVES:
            raise ValueError(
                f"outcome_objective must be 'auto', {FALLBACK!r} or one of {OUTCOME_OBJECTIVES}, "
                f"not {self.outcome_objective!r}"
            )
        return [self.outcome_objective]

    def _outcomes(self, model: lgb.LGBMRegressor, X: pd.DataFrame) -> np.ndarray:
        """(rows, arms) expected revenue under every option."""
        s0 = self._proxy(X)
        out = np.empty((len(X), len(self.arms_)))
        for k in range(len(self.arms_)):
            design = self._outcome_design(X, np.full(len(X), k))
            out[:, k] = model.predict(design) * s0
        return out

    def _nuisance_rows(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` (positions), or above ``nuisance_max_rows`` a seeded sample of whole
        partners of about that many rows, and of at least ``nuisance_min_partners``: the
        nuisance models' cost stops growing with the channel (issue 20), while they still
        predict every row."""
        budget = self.nuisance_max_rows
        if not budget or len(rows) <= budget:
            return rows
        partners = np.unique(self.groups_[rows])
        share = max(budget / len(rows), self.nuisance_min_partners / len(partners))
        if share >= 1.0:
            return rows
        rng = np.random.default_rng(self.random_state)
        kept = partners[rng.random(len(partners)) < share]
        out = rows[np.isin(self.groups_[rows], kept)]
        log.info("nuisance models on %d of %d rows (partners sampled)", len(out), len(rows))
        return out

    def _crossfit_nuisances(
        self, X: pd.DataFrame, t: np.ndarray, y: np.ndarray
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Out-of-fold propensities (rows, arms) and, per outcome objective tried, the
        expected revenue under every option (rows, arms)."""
        objectives = self._outcome_objectives()
        e = np.zeros((len(X), len(self.arms_)))
        mus = {o: np.zeros((len(X), len(self.arms_))) for o in objectives}
        for fold, te in enumerate(self.folds_, start=1):
            # the longest step of the recommender's training (issue 20): say where it is
            log.info(
                "nuisance models, fold %d/%d: %d training rows",
                fold,
                len(self.folds_),
                len(X) - len(te),
            )
            tr = self._nuisance_rows(np.setdiff1d(np.arange(len(X)), te))
            prop = self._fit_propensity(X.iloc[tr], t[tr])
            proba = prop.predict_proba(X.iloc[te])
            e[np.ix_(te, prop.classes_.astype(np.int64))] = proba
            for o, mu in mus.items():
                model = self._fit_outcome(X.iloc[tr], t[tr], y[tr], objective=o)
                mu[te] = self._outcomes(model, X.iloc[te])
        return e, mus

    # -- prediction ---------------------------------------------------------------------
    def predict_base(self, X: pd.DataFrame) -> np.ndarray:
        """Expected next-quarter revenue without an incentive (floored: the uplift's unit)."""
        check_is_fitted(self, "outcome_")
        X = X[self.feature_columns_]
        design = self._outcome_design(X, np.zeros(len(X), dtype=np.int64))
        if not self.relative:
            return np.ones(len(X))
        base = np.maximum(self.outcome_.predict(design) * self._proxy(X), self.base_floor_)
        return self._calibrate_base(X, base)

    def predict_relative(self, X: pd.DataFrame) -> pd.DataFrame:
        """Relative effect of each incentive (0.05 = +5 % of the partner's base revenue),
        shrunk: the posterior mean that both chooses and is reported."""
        check_is_fitted(self, "effects_")
        E = X[self.effect_columns_]
        out = {a: self._shrunk(a, m.predict(E), E) for a, m in self.effects_.items()}
        return pd.DataFrame(out, index=X.index)

    def predict_relative_sd(self, X: pd.DataFrame) -> pd.DataFrame:
        """Standard deviation of each partner's true relative effect around the prediction:
        the posterior variance of the estimate plus the unexplained heterogeneity."""
        check_is_fitted(self, "effects_")
        E = X[self.effect_columns_]
        out = {}
        for a, m in self.effects_.items():
            # normal-normal posterior variance of the average (the shrinkage factor x the
            # sampling variance), the deviations' own sampling variance times their kept
            # share, and the heterogeneity left unexplained
            dev_se2 = np.maximum(m.predict_se(E) ** 2 - m.level_se_**2, 0.0)
            se2 = self.posterior_level_se_[a] ** 2 + self.deviation_slope_[a] * dev_se2
            segment = getattr(self, "randomized_segment_", {}).get(a)
            if segment is not None:
                se2 = se2 + np.maximum(segment.predict_se(E) ** 2 - segment.level_se_**2, 0.0)
            out[a] = np.sqrt(se2 + self.residual_sd_[a] ** 2)
        return pd.DataFrame(out, index=X.index)

    def predict_reference(self, X: pd.DataFrame) -> pd.DataFrame:
        """The amount each incentive's effect multiplies (money), one column per incentive:
        the expected revenue without an incentive on the relative scale, one fixed amount on
        the absolute scale, their mix in between (``scale_``, issue 23). A model trained
        before issue 23 has the relative scale for every incentive."""
        base = self.predict_base(X)
        reference = getattr(self, "reference_revenue_", 0.0)
        alphas = getattr(self, "scale_alpha_", {})
        present = present_partners(X, getattr(self, "presence_columns", ()))
        out = {
            a: reference_amount(base, reference, alphas.get(a, 0.0), present) for a in self.effects_
        }
        return pd.DataFrame(out, index=X.index)

    def predict_uplift(self, X: pd.DataFrame) -> pd.DataFrame:
        """Expected extra revenue next quarter vs ``none``: one column per incentive."""
        return self.predict_relative(X) * self.predict_reference(X)

    def predict_interval(self, X: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(low, high): the 80 % interval (``interval_z``) of each partner's uplift, money."""
        g = self.predict_reference(X)
        mid = self.predict_relative(X)
        half = self.predict_relative_sd(X) * self.interval_z
        return (mid - half) * g, (mid + half) * g
