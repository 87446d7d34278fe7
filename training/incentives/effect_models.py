"""Effect models of one incentive, from least to most flexible, and the data's choice.

The DR learner's pseudo-outcomes (relative: uplift / base revenue) are very noisy: on the
2,000-partner demo world one incentive's money-weighted average effect has a partner-
clustered standard error of 0.03-0.05 against effects of 0.02-0.07. How much heterogeneity
to trust is an empirical question, answered per incentive by cross-fitted policy value:

- ``constant``: one relative effect (the weighted mean of the pseudo-outcomes);
- ``segment:<kappa>``: the constant plus additive partner type, tier, region and
  new-partner terms, a weighted ridge that shrinks each term towards the average
  (empirical-Bayes style: a segment holding a share ``p`` of the weight keeps about
  ``p / (p + kappa)`` of its own deviation); the prior strength ``kappa`` is the one with
  the lowest cross-fitted DR loss (a policy value hardly notices how far effects are shrunk,
  the reported numbers do);
- ``partner``: the constant plus a small LightGBM on attributes, size, tenure, engagement
  and pipeline signals; its deviations are shrunk by the calibration slope of the
  pseudo-outcome on the out-of-fold prediction (the best linear predictor, clipped to
  [0, 1]), so a model that overfits keeps only the part that held up out of sample.

Choice (:func:`select_effect_model`): each candidate's out-of-fold predictions define the
policy "give the incentive where predicted uplift exceeds its cost"; its value on held-out
partners is the sum of the AIPW pseudo-outcomes minus cost over the rows it treats. The
simplest candidate within one partner-clustered standard error of the best wins.

Every model also gives the standard error of its prediction (partner-clustered sandwich),
the raw material of the reported intervals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

SEGMENT_COLUMNS: tuple[str, ...] = ("partner_type", "tier", "region")
SIGNAL_COLUMNS: tuple[str, ...] = (
    "revenue_mean_4q",
    "revenue_trend_4q",
    "tenure_quarters",
    "activity_qty_4q",
    "activity_training_completed_qty_4q",
    "activity_certification_earned_qty_cum",
    "activity_portal_login_qty_4q",
    "open_amount",
    "opps_created_4q",
    "win_rate_shrunk_8q",
)
NEW_PARTNER_QUARTERS = 4
SEGMENT_KAPPAS: tuple[float, ...] = (1.0, 0.3, 0.1, 0.03, 0.01, 0.003)


def clustered_mean(z: np.ndarray, w: np.ndarray, groups: np.ndarray) -> tuple[float, float]:
    """Weighted mean of ``z`` and its partner-clustered standard error."""
    c = float(np.average(z, weights=w))
    spread = np.bincount(groups, weights=w * (z - c))
    return c, float(np.sqrt(np.sum(spread**2)) / w.sum())


@dataclass
class ConstantEffect:
    """One relative effect for every partner."""

    name: str = "constant"

    def fit(self, E: pd.DataFrame, z: np.ndarray, w: np.ndarray, groups: np.ndarray):
        self.level_, self.level_se_ = clustered_mean(z, w, groups)
        return self

    def predict(self, E: pd.DataFrame) -> np.ndarray:
        return np.full(len(E), self.level_)

    def predict_se(self, E: pd.DataFrame) -> np.ndarray:
        return np.full(len(E), self.level_se_)


def _as_text(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``values`` as text, the way ``astype("string").fillna("")`` reads them, but converted
    once per distinct value: (codes per row, text per code; code -1, missing, reads "").
    Converting every row of a categorical column to strings cost the effect-model choice
    2.5 minutes at 10,000 partners (issue 20)."""
    codes, uniques = pd.factorize(values)
    text = pd.Series(uniques).astype("string").fillna("").to_numpy(dtype=object)
    return codes, np.append(text, "")


def _levels(values: pd.Series) -> list[str]:
    """Sorted distinct non-missing values of ``values`` as text."""
    text = pd.Series(pd.unique(values)).astype("string").dropna()
    return sorted(set(text.tolist()))


def segment_design(E: pd.DataFrame, levels: dict[str, list[str]]) -> np.ndarray:
    """One-hot partner type, tier and region (the levels seen in training) and a new flag."""
    parts = []
    for c, lv in levels.items():
        codes, text = _as_text(E[c])
        parts.append((text[:, None] == np.array(lv)[None, :])[codes])
    tenure = E["tenure_quarters"] if "tenure_quarters" in E.columns else pd.Series(99, E.index)
    new = (tenure.fillna(0).to_numpy(dtype=np.float64) <= NEW_PARTNER_QUARTERS)[:, None]
    return np.hstack([*parts, new]).astype(np.float64)


@dataclass
class SegmentEffect:
    """The constant plus ridge-shrunk additive segment terms (prior strength ``kappa``)."""

    kappa: float = 0.1
    columns: Sequence[str] = SEGMENT_COLUMNS

    @property
    def name(self) -> str:
        return f"segment:{self.kappa:g}"

    def fit(self, E: pd.DataFrame, z: np.ndarray, w: np.ndarray, groups: np.ndarray):
        self.levels_ = {c: _levels(E[c]) for c in self.columns if c in E.columns}
        self.level_, self.level_se_ = clustered_mean(z, w, groups)
        raw = segment_design(E, self.levels_)
        self.center_ = np.average(raw, axis=0, weights=w)
        D = raw - self.center_  # terms are deviations from the average
        A = D.T @ (D * w[:, None]) + self.kappa * w.sum() * np.eye(D.shape[1])
        r = z - self.level_
        self.coef_ = np.linalg.solve(A, D.T @ (w * r))
        # partner-clustered sandwich covariance of the shrunk terms
        score = D * (w * (r - D @ self.coef_))[:, None]
        by_partner = np.stack(
            [np.bincount(groups, weights=score[:, j]) for j in range(D.shape[1])], axis=1
        )
        inv = np.linalg.inv(A)
        self.cov_ = inv @ (by_partner.T @ by_partner) @ inv
        return self

    def _design(self, E: pd.DataFrame) -> np.ndarray:
        return segment_design(E, self.levels_) - self.center_

    def predict(self, E: pd.DataFrame) -> np.ndarray:
        return self.level_ + self._design(E) @ self.coef_

    def predict_se(self, E: pd.DataFrame) -> np.ndarray:
        D = self._design(E)
        return np.sqrt(self.level_se_**2 + np.einsum("ij,jk,ik->i", D, self.cov_, D))


@dataclass
class PartnerEffect:
    """The constant plus a LightGBM on partner signals, shrunk by its held-out slope."""

    params: dict
    columns: Sequence[str] = ()
    min_weight_share: float = 0.05  # a leaf holds this share of the weight, not a few giants
    slope: float = 1.0  # set from out-of-fold predictions by :func:`select_effect_model`
    slope_se: float = 0.0
    name: str = "partner"

    def fit(self, E: pd.DataFrame, z: np.ndarray, w: np.ndarray, groups: np.ndarray):
        self.columns_ = [c for c in self.columns if c in E.columns]
        self.level_, self.level_se_ = clustered_mean(z, w, groups)
        params = {**self.params, "min_child_weight": self.min_weight_share * float(w.sum())}
        self.model_ = lgb.LGBMRegressor(**params).fit(
            E[self.columns_], z - self.level_, sample_weight=w
        )
        return self

    def deviation(self, E: pd.DataFrame) -> np.ndarray:
        return self.model_.predict(E[self.columns_])

    def predict(self, E: pd.DataFrame) -> np.ndarray:
        return self.level_ + self.slope * self.deviation(E)

    def predict_se(self, E: pd.DataFrame) -> np.ndarray:
        d = self.deviation(E)
        return np.sqrt(self.level_se_**2 + (d * self.slope_se) ** 2)


EffectModel = ConstantEffect | SegmentEffect | PartnerEffect


def calibration_slope(
    z: np.ndarray, pred: np.ndarray, w: np.ndarray, groups: np.ndarray
) -> tuple[float, float]:
    """Slope of ``z`` on the centred prediction (weighted; partner-clustered se)."""
    d = pred - np.average(pred, weights=w)
    zc = z - np.average(z, weights=w)
    denom = float(np.sum(w * d * d))
    if denom <= 0:
        return 0.0, 0.0
    b = float(np.sum(w * d * zc) / denom)
    se = float(np.sqrt(np.sum(np.bincount(groups, weights=w * d * (zc - b * d)) ** 2)) / denom)
    return b, se


def policy_values(
    oof: np.ndarray, base: np.ndarray, phi: np.ndarray, cost: np.ndarray, groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(candidates,) held-out DR value of "treat where predicted uplift > cost", and the
    partner-clustered standard error of each one's difference from the best."""
    treat = oof * base[:, None] > cost[:, None]
    gain = treat * (phi - cost)[:, None]
    total = gain.sum(axis=0)
    best = int(np.argmax(total))
    diff = gain - gain[:, [best]]
    by_partner = np.stack(
        [np.bincount(groups, weights=diff[:, i]) for i in range(diff.shape[1])], axis=1
    )
    se = by_partner.std(axis=0) * np.sqrt(len(by_partner))
    return total, se


def segment_heterogeneity(
    E: pd.DataFrame, z: np.ndarray, w: np.ndarray, groups: np.ndarray, columns: Sequence[str]
) -> float:
    """Variance of the true relative effects across segments, by moments.

    Per segment column, the weighted spread of the segment means around the overall mean
    minus their partner-clustered sampling variances (DerSimonian-Laird style, kept at 0 or
    more), summed over the columns as the effects are additive. Partner-level moments are
    hopeless here (a quarter's pseudo-outcome has a relative noise sd near 10), segments pool
    hundreds of partners.
    """
    mean = float(np.average(z, weights=w))
    total = 0.0
    for column in columns:
        if column not in E.columns:
            continue
        codes = pd.factorize(E[column].astype("string").fillna(""))[0]
        spread = 0.0
        for c in np.unique(codes):
            on = codes == c
            m, se = clustered_mean(z[on], w[on], groups[on])
            spread += w[on].sum() / w.sum() * ((m - mean) ** 2 - se**2)
        total += max(0.0, spread)
    return total


def heterogeneity_bins(
    E: pd.DataFrame, segments: Sequence[str], signals: Sequence[str] = (), n_bins: int = 5
) -> pd.DataFrame:
    """The columns :func:`segment_heterogeneity` groups by: the segment columns as they are
    and each numeric signal cut at its weighted quintiles (missing values a group of their
    own), so the unexplained heterogeneity in the intervals also counts effects that vary
    with size, tenure, engagement or pipeline, not only with type, tier and region."""
    out = {c: E[c].astype("string").fillna("") for c in segments if c in E.columns}
    for c in signals:
        if c not in E.columns or c in out:
            continue
        x = pd.to_numeric(E[c], errors="coerce").to_numpy(dtype=np.float64)
        finite = np.isfinite(x)
        if finite.sum() < 2 * n_bins:
            continue
        edges = np.unique(np.quantile(x[finite], np.linspace(0, 1, n_bins + 1)[1:-1]))
        codes = np.where(finite, np.searchsorted(edges, x, side="right"), -1)
        out[c] = pd.Series(codes.astype(str), index=E.index, dtype="string")
    return pd.DataFrame(out, index=E.index)


def combine_levels(
    obs: np.ndarray, obs_se: np.ndarray, rnd: np.ndarray, rnd_se: np.ndarray, has: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float]:
    """Each incentive's average effect from the history (``obs``, ``obs_se``) and the
    randomized comparison (``rnd``, ``rnd_se``; only where ``has``), weighted by precision,
    the history's variance being its sampling variance plus the variance of its confounding
    bias: how much more the two disagree across the incentives than their sampling errors
    explain (a DerSimonian-Laird moment, kept at 0 or more). Returns the levels, their
    standard errors and that bias variance."""
    excess = (obs - rnd) ** 2 - obs_se**2 - rnd_se**2
    bias_var = max(0.0, float(np.mean(excess[has]))) if has.any() else 0.0
    obs_var = np.maximum(obs_se**2 + bias_var, 1e-12)
    rnd_prec = np.where(has, 1.0 / np.maximum(rnd_se, 1e-9) ** 2, 0.0)
    precision = 1.0 / obs_var + rnd_prec
    level = (obs / obs_var + rnd * rnd_prec) / precision
    return level, np.sqrt(1.0 / precision), bias_var


def eb_shrinkage(level: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, float]:
    """Empirical-Bayes factors for estimates ``level`` with standard errors ``se``.

    Prior: every true value ~ N(0, A), ``A = mean(level^2 - se^2)`` kept at 0 or more (the
    moment estimate across the incentives); the posterior mean is ``A / (A + se^2)`` x the
    estimate. Returns the factors and the prior sd. With no more spread than the noise
    explains (``A = 0``), every factor is 0.
    """
    prior = max(0.0, float(np.mean(level**2 - se**2)))
    return prior / (prior + se**2), float(np.sqrt(prior))


def eb_posterior(
    level: np.ndarray,
    se: np.ndarray,
    prior_scale: float | None = 0.05,
    grid: int = 801,
    prior_shape: str = "normal",
) -> tuple[np.ndarray, np.ndarray, float]:
    """Posterior factors and variances when the prior's spread is itself uncertain.

    Same model as :func:`eb_shrinkage` (true values ~ N(0, tau^2), estimates ~ N(true,
    se^2)), but ``tau`` is not fixed at its moment estimate: its posterior comes from the
    estimates' marginal likelihood (``N(0, tau^2 + se^2)``) on a grid, times a hyperprior
    of scale ``prior_scale`` (None: flat): half-normal (``prior_shape="normal"``) or
    half-Cauchy (``"cauchy"``, the model's default since session 7: the same "a few
    percent" scale, but a tail that lets spread the estimates show clearly through; the
    half-normal kept half of the heterogeneous world's averages, which reported 0.71 x
    their true net). With a handful of incentives the
    moment estimate swings with the noise: it is 0 as often as not where effects are small
    (a prior fixed at 0 claims every effect is exactly 0, an interval of width 0), and
    where standard errors are 0.2-0.3 (8 quarters of history) two noisy estimates make it
    large and the plan reports 50 x its true net. The hyperprior says what a channel team
    knows before any data: incentives move revenue by a few percent, not tens.

    Returns the posterior-mean factors ``E[B]`` (``B = tau^2 / (tau^2 + se^2)``: the
    posterior mean of a true value is ``E[B] x level``), its posterior variance
    ``E[B se^2] + Var(B) level^2`` and the posterior-mean ``tau``.
    """
    level = np.asarray(level, dtype=np.float64)
    se = np.maximum(np.asarray(se, dtype=np.float64), 1e-9)
    spread = max(float(np.abs(level).max(initial=0.0)), float(se.max(initial=0.0)), 1e-6)
    tau = np.linspace(0.0, 4.0 * max(spread, 5.0 * (prior_scale or 0.0)), grid)
    var = tau[:, None] ** 2 + se[None, :] ** 2
    loglik = -0.5 * np.sum(np.log(var) + level[None, :] ** 2 / var, axis=1)
    if prior_shape not in ("normal", "cauchy"):
        raise ValueError(f"prior_shape must be 'normal' or 'cauchy', got {prior_shape!r}")
    if prior_scale is not None and prior_shape == "normal":
        loglik = loglik - 0.5 * (tau / prior_scale) ** 2
    elif prior_scale is not None:
        loglik = loglik - np.log1p((tau / prior_scale) ** 2)
    post = np.exp(loglik - loglik.max())
    post /= post.sum()
    B = tau[:, None] ** 2 / var
    factor = post @ B
    variance = post @ (B * se**2) + (post @ B**2 - factor**2) * level**2
    return factor, variance, float(post @ tau)


@dataclass
class PooledPosterior:
    """What :func:`eb_pooled` returns: per incentive the posterior ``mean`` and ``sd`` of
    its true effect and ``spread_share`` (the posterior mean of ``tau^2 / (tau^2 + se^2)``,
    how much of its own estimate's deviation from the common mean it keeps); and the
    posterior probability that the incentives share a non-zero common effect
    (``common_prob``), the posterior mean of that common effect (``common_mean``) and of
    the spread ``tau`` (``tau``)."""

    mean: np.ndarray
    sd: np.ndarray
    spread_share: np.ndarray
    common_prob: float
    common_mean: float
    tau: float


def eb_pooled(
    level: np.ndarray,
    se: np.ndarray,
    prior_scale: float | None = 0.05,
    common_scale: float | None = 0.05,
    common_prior: float = 0.5,
    grid: int = 401,
) -> PooledPosterior:
    """Posterior of every incentive's true effect under a hierarchical prior whose centre
    is learned: partial pooling towards the incentives' common effect, not towards 0.

    Model: ``true_j = m + d_j``, ``d_j ~ N(0, tau^2)`` (how much the incentives differ) and
    ``estimate_j ~ N(true_j, se_j^2)``. The common effect ``m`` is 0 with probability
    ``1 - common_prior`` (incentives do nothing on average) and ``N(0, common_scale^2)``
    otherwise; ``tau`` has a half-normal hyperprior of scale ``prior_scale`` (None: flat) on
    a grid. Both are integrated over by the estimates' marginal likelihood (``N(0, c 11' +
    tau^2 I + diag(se^2))``, ``c`` = 0 or ``common_scale^2``); given them the posterior is
    Gaussian. So the data decide both how much the incentives differ (``tau``: an estimate
    that stands out by no more than its noise is pulled to the common effect) and whether
    they share an effect at all (``common_prob``: estimates that all lean positive by about
    their noise still say "probably nothing" together; by two or three standard errors of
    their mean, "something"). ``common_scale`` None is the old prior centred on 0 (``m`` = 0).
    """
    level = np.asarray(level, dtype=np.float64)
    se = np.maximum(np.asarray(se, dtype=np.float64), 1e-9)
    k = len(level)
    spread = max(float(np.abs(level).max(initial=0.0)), float(se.max(initial=0.0)), 1e-6)
    taus = np.linspace(0.0, 4.0 * max(spread, 5.0 * (prior_scale or 0.0)), grid)
    commons = [0.0] if common_scale is None else [0.0, common_scale**2]
    priors = [1.0] if common_scale is None else [1.0 - common_prior, common_prior]
    D = np.diag(se**2)
    ones = np.ones((k, k))
    logw, means, covs, shares, cmeans = [], [], [], [], []
    for c, p in zip(commons, priors, strict=True):
        if p <= 0:
            continue
        for tau in taus:
            S = c * ones + tau**2 * np.eye(k)
            V = S + D
            Vinv = np.linalg.inv(V)
            _, logdet = np.linalg.slogdet(V)
            ll = -0.5 * (logdet + level @ Vinv @ level) + np.log(p)
            if prior_scale is not None:
                ll -= 0.5 * (tau / prior_scale) ** 2
            logw.append(ll)
            means.append(S @ Vinv @ level)
            covs.append(S - S @ Vinv @ S)
            shares.append(tau**2 / (tau**2 + se**2))
            cmeans.append(c * np.sum(Vinv @ level))
    logw = np.asarray(logw)
    post = np.exp(logw - logw.max())
    post /= post.sum()
    means, covs = np.asarray(means), np.asarray(covs)
    mean = post @ means
    second = np.einsum("g,gjj->j", post, covs) + post @ means**2
    slab = np.repeat([c > 0 for c, p in zip(commons, priors, strict=True) if p > 0], grid)
    return PooledPosterior(
        mean=mean,
        sd=np.sqrt(np.maximum(second - mean**2, 0.0)),
        spread_share=post @ np.asarray(shares),
        common_prob=float(post[slab].sum()),
        common_mean=float(post @ np.asarray(cmeans)),
        tau=float(post @ np.tile(taus, len(logw) // grid)),
    )


def candidate_models(
    lgbm: dict, signal_columns: Sequence[str], segment_columns: Sequence[str] = SEGMENT_COLUMNS
) -> list[EffectModel]:
    """The candidates, simplest first (the order the one-standard-error rule prefers)."""
    return [
        ConstantEffect(),
        *[SegmentEffect(kappa=k, columns=tuple(segment_columns)) for k in SEGMENT_KAPPAS],
        PartnerEffect(params=lgbm, columns=(*segment_columns, *signal_columns)),
    ]


def select_effect_model(
    candidates: list[EffectModel],
    E: pd.DataFrame,
    z: np.ndarray,
    w: np.ndarray,
    *,
    base: np.ndarray,
    phi: np.ndarray,
    cost: np.ndarray,
    folds: list[np.ndarray],
    groups: np.ndarray,
    n_se: float = 1.0,
) -> tuple[EffectModel, np.ndarray, pd.DataFrame]:
    """Fit every candidate cross-fitted, pick one by held-out policy value, refit it.

    Returns the chosen model fitted on all rows, its out-of-fold predictions (relative)
    and a table of every candidate's ``policy_value``, ``se_vs_best`` and ``chosen``. The
    simplest candidate within ``n_se`` standard errors of the best is chosen.
    """
    oof = np.zeros((len(E), len(candidates)))
    for te in folds:
        tr = np.setdiff1d(np.arange(len(E)), te)
        E_tr, E_te = E.iloc[tr], E.iloc[te]  # once per fold, not per candidate
        for i, cand in enumerate(candidates):
            model = type(cand)(**_init_args(cand)).fit(E_tr, z[tr], w[tr], groups[tr])
            oof[te, i] = model.predict(E_te)
    # the segment family enters with its best prior strength by held-out DR loss
    segment = [i for i, c in enumerate(candidates) if isinstance(c, SegmentEffect)]
    if segment:
        loss = (w[:, None] * (z[:, None] - oof[:, segment]) ** 2).sum(axis=0)
        keep = segment[int(np.argmin(loss))]
        kept = [i for i in range(len(candidates)) if i not in segment or i == keep]
        candidates, oof = [candidates[i] for i in kept], oof[:, kept]
    value, se = policy_values(oof, base, phi, cost, groups)
    best = int(np.argmax(value))
    pick = int(np.flatnonzero(value >= value[best] - n_se * se)[0])
    chosen = candidates[pick].fit(E, z, w, groups)
    if isinstance(chosen, PartnerEffect):
        level = np.average(z, weights=w)
        chosen.slope, chosen.slope_se = calibration_slope(z, oof[:, pick], w, groups)
        chosen.slope = float(np.clip(chosen.slope, 0.0, 1.0))
        oof_pick = level + chosen.slope * (oof[:, pick] - level)
    else:
        oof_pick = oof[:, pick]
    table = pd.DataFrame(
        {
            "candidate": [c.name for c in candidates],
            "policy_value": value,
            "se_vs_best": se,
            "chosen": np.arange(len(candidates)) == pick,
        }
    )
    return chosen, oof_pick, table


def _init_args(model: EffectModel) -> dict:
    if isinstance(model, SegmentEffect):
        return {"kappa": model.kappa, "columns": model.columns}
    if isinstance(model, PartnerEffect):
        return {
            "params": model.params,
            "columns": model.columns,
            "min_weight_share": model.min_weight_share,
        }
    return {}
