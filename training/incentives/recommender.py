"""The incentive recommender as one fitted object: uplift + cost models, policy, metrics.

What the CLI (``recommend``, ``rank``, ``train``) and MLflow logging call:

- ``IncentiveRecommender(...).fit(frame, feature_columns=...)`` on
  ``features.frames.build_recommender_frame`` rows;
- ``.recommend(features, budget=..., allowed=..., cost_overrides=...)`` on
  ``features.frames.build_features`` rows as of the scoring date: the CLI contract's frame;
- ``.evaluation(frame)``: metrics (flat ``dict[str, float]``) and artifact frames.

Training-time evaluation needs no ground truth: the cross-fitted AIPW pseudo-outcomes give
a doubly-robust estimate of the net value per partner-quarter of the model's policy and of
the baselines (``none`` for all, everyone gets the most common incentive), and randomized
rows give Qini/AUUC of each incentive against the other randomized incentives.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from features.names import NONE
from features.scoring.policy import best_by_net, recommend_incentives
from training.incentives.costs import IncentiveCostModel
from training.incentives.uplift import UpliftModel
from training.incentives.uplift_eval import qini_curve, randomized_contrasts, uplift_by_segment

log = logging.getLogger(__name__)

SEGMENT_COLUMNS = ("partner_type", "tier", "region")


class IncentiveRecommender(BaseEstimator):
    """Uplift (:class:`UpliftModel`) and cost (:class:`IncentiveCostModel`) fitted together."""

    def __init__(
        self,
        uplift_params: Mapping[str, Any] | None = None,
        cost_params: Mapping[str, Any] | None = None,
        random_state: int = 42,
        n_jobs: int = 1,
    ) -> None:
        self.uplift_params = uplift_params
        self.cost_params = cost_params
        self.random_state = random_state
        self.n_jobs = n_jobs

    def fit(self, frame: pd.DataFrame, *, feature_columns: Sequence[str]) -> IncentiveRecommender:
        """Fit both models; raises ``ValueError`` naming the incentives table without one."""
        common = {"random_state": self.random_state, "n_jobs": self.n_jobs}
        self.cost_ = IncentiveCostModel(**{**common, **(self.cost_params or {})}).fit(
            frame, feature_columns=feature_columns
        )
        # the effect models are chosen by the net value of the policy they imply
        costs = self.cost_.predict_costs(frame[list(feature_columns)])
        self.uplift_ = UpliftModel(**{**common, **(self.uplift_params or {})}).fit(
            frame, feature_columns=feature_columns, costs=costs
        )
        self.incentives_ = list(self.uplift_.incentives_)
        return self

    def recommend(
        self,
        features: pd.DataFrame,
        *,
        budget: float | None = None,
        allowed: Collection[str] | None = None,
        cost_overrides: Mapping[str, float] | None = None,
    ) -> pd.DataFrame:
        """One row per partner of ``features``: the CLI contract's recommend columns, with
        the 80 % interval of every uplift (``p10_uplift_<i>``, ``p90_uplift_<i>``) and of the
        chosen option's uplift and net (``expected_uplift_low/high``,
        ``expected_net_low/high``)."""
        check_is_fitted(self, "uplift_")
        uplift = self.uplift_.predict_uplift(features)
        interval = self.uplift_.predict_interval(features)
        costs = self.cost_.predict_costs(features, overrides=cost_overrides)
        missing = [c for c in uplift.columns if c not in costs.columns]
        for name in missing:  # learned uplift but never priced: unknown cost, never pays
            costs[name] = np.inf
        return recommend_incentives(
            uplift,
            costs,
            features["partner_id"].to_numpy(),
            budget=budget,
            allowed=allowed,
            interval=interval,
        )

    def policy_value(
        self, frame: pd.DataFrame, relative_effects: Mapping[str, float]
    ) -> tuple[float, float]:
        """Doubly-robust net value, summed over the training rows, of the policy that knows
        only ``relative_effects`` (incentive: relative effect on the partner's expected
        revenue): each row gets the incentive with the best positive ``effect x expected
        revenue - learned cost``, or ``none``. Returns the value and its partner-clustered
        standard error. The rows' AIPW pseudo-outcomes are cross-fitted and the policy is
        fixed in advance, so the value is unbiased; ``value / se`` says how clearly these
        data can tell that policy from ``none`` for everyone (the scenario suite evaluates
        the truth's average effects with it: what a world's data permit). Incentives not
        named are never given."""
        check_is_fitted(self, "uplift_")
        up = self.uplift_
        names = self.incentives_
        rows = frame.iloc[up.oof_uplift_["row"].to_numpy()].reset_index(drop=True)
        cost = self._training_costs(rows)
        effect = np.array([relative_effects.get(n, -np.inf) for n in names], dtype=np.float64)
        net = effect[None, :] * up.base_oof_[:, None] - cost  # base > 0: -inf stays -inf
        gain = self._dr_gain(best_by_net(net), cost)
        by_partner = np.bincount(up.groups_, weights=gain)
        return float(gain.sum()), float(by_partner.std() * np.sqrt(len(by_partner)))

    def _training_costs(self, rows: pd.DataFrame) -> np.ndarray:
        """(rows, incentives) learned cost on training rows (inf where never priced)."""
        costs = self.cost_.predict_costs(rows[self.uplift_.feature_columns_])
        for name in self.incentives_:
            if name not in costs.columns:
                costs[name] = np.inf
        return costs[self.incentives_].to_numpy()

    def _dr_gain(self, choice: np.ndarray, cost: np.ndarray) -> np.ndarray:
        """Per training row, the AIPW pseudo-outcome minus cost of the chosen incentive
        (0 for ``none``)."""
        pseudo = self.uplift_.pseudo_outcome_[self.incentives_].to_numpy()
        on = np.flatnonzero(choice >= 0)
        gain = np.zeros(len(choice))
        gain[on] = pseudo[on, choice[on]] - cost[on, choice[on]]
        return gain

    def evaluation(
        self, frame: pd.DataFrame, *, k: float = 0.3
    ) -> tuple[dict[str, float], dict[str, pd.DataFrame]]:
        """Metrics and artifact frames from the training rows (no ground truth needed).

        Metrics: ``dr_value_<policy>`` (estimated net per partner-quarter for ``model``,
        ``none``, ``most_common``), ``dr_value_gain_vs_most_common``, per incentive
        ``relative_effect_<i>``, ``relative_effect_se_<i>``, ``level_shrinkage_<i>``,
        ``residual_sd_<i>``, ``policy_value_<i>_<candidate>`` (each effect model's held-out
        DR policy value; the chosen one is in the ``effect_selection`` frame), and from the
        randomized contrasts ``qini_<i>``, ``auuc_<i>``, ``uplift_at_30_<i>``; and
        ``propensity_clipped_share``. Randomized evidence (issue 17): per incentive
        ``randomized_effect_<i>`` and ``_se_<i>`` (against the randomized ``none`` arm),
        ``randomized_rows_<i>``, ``randomized_rows_none``; ``posterior_effect_<i>`` and
        ``_se_<i>`` (what chooses and is reported), ``deviation_slope_<i>`` and
        ``randomized_calibration_slope`` (with ``_se``: the randomized rows' slope on the
        effect models' deviations). Calibration of the reported net on held-out rows:
        ``heldout_reported_net`` (the summed out-of-fold expected net of the options the
        policy chooses), ``heldout_dr_net`` (their doubly-robust net, with ``_se``) and
        ``heldout_net_calibration`` (DR / reported; 1 is honest). ``base_calibration_q<k>``:
        the expected revenue's out-of-fold calibration factor for as-of fiscal quarter k;
        with ``prior_centre='pooled'``, ``common_effect_prob``, ``common_effect`` and
        ``incentive_spread_tau`` (the hierarchical prior's learned centre and spread).
        Session 7: ``crossfit_policy_value_model`` and ``_everyone`` (with ``_se``: the
        cross-fitted DR value of the model's policy and of "everyone gets the most common
        incentive", summed over the training rows) and ``policy_gated`` (1 when the model's
        policy lost to ``none`` out of fold and says none for all).
        Session 10: ``outcome_pseudo_variance_<objective>`` and ``outcome_loss_<objective>``
        (the outcome model's evidence, per objective fitted; the chosen one is the run's
        ``outcome_objective`` param).
        Issue 23: ``effect_scale_value_<i>_<scale>`` and ``_se_<i>_<scale>`` (each effect
        scale's cross-fitted DR policy value and the standard error of its difference from
        the relative scale; the chosen scale is in the ``effect_scales`` frame and the run's
        ``effect_scale_<i>`` params) and ``reference_revenue`` (the fixed amount of the
        absolute scale).
        Frames: ``randomized_contrasts``, ``qini_curves`` (long: incentive, fraction, qini),
        ``uplift_by_segment``, ``policy_comparison``, ``policy_selection``,
        ``effect_selection``, ``effect_scales``.
        """
        check_is_fitted(self, "uplift_")
        up = self.uplift_
        rows = frame.iloc[up.oof_uplift_["row"].to_numpy()].reset_index(drop=True)
        names = self.incentives_
        oof = up.oof_uplift_[names].to_numpy()
        cost = self._training_costs(rows)
        choice = best_by_net(oof - cost)
        common = rows.loc[rows["incentive"] != NONE, "incentive"].value_counts().index[0]
        policies = {
            "model": choice,
            "none": np.full(len(rows), -1),
            "most_common": np.full(len(rows), names.index(str(common))),
        }
        values, per_row = {}, {}
        for name, pick in policies.items():
            gain = self._dr_gain(pick, cost)
            per_row[name] = gain
            values[name] = float(gain.mean())
        metrics: dict[str, float] = {f"dr_value_{p}": v for p, v in values.items()}
        metrics["dr_value_gain_vs_most_common"] = values["model"] - values["most_common"]
        # standard errors: pseudo-outcomes of heavy-tailed revenue are noisy, so a gate
        # must ask whether a difference is distinguishable from zero, not just its sign
        n = max(len(rows), 1)
        metrics["dr_value_model_se"] = float(per_row["model"].std(ddof=1) / np.sqrt(n))
        metrics["dr_value_gain_vs_most_common_se"] = float(
            (per_row["model"] - per_row["most_common"]).std(ddof=1) / np.sqrt(n)
        )
        metrics["propensity_clipped_share"] = float(up.overlap_["clipped_share_treated"])
        # out-of-fold expected revenues below 0 (floored at 0 with ``outcome_clip``)
        metrics["outcome_negative_share"] = float(getattr(up, "outcome_negative_share_", 0.0))
        # session 10: the outcome objective's evidence (the pseudo-outcomes' clustered
        # variance, summed over incentives, that ``auto`` chooses by; out-of-fold loss)
        for objective, row in getattr(up, "outcome_selection_", {}).items():
            metrics[f"outcome_pseudo_variance_{objective}"] = row["pseudo_outcome_variance"]
            metrics[f"outcome_loss_{objective}"] = row["outcome_loss"]
        slope, slope_se = up.calibration_
        if np.isfinite(slope):
            # how far the randomized rows confirm the effect models' heterogeneity
            metrics["randomized_calibration_slope"] = slope
            metrics["randomized_calibration_slope_se"] = slope_se
        on = np.flatnonzero(choice >= 0)
        reported = float(np.sum(oof[on, choice[on]] - cost[on, choice[on]]))
        dr_net = float(np.sum(per_row["model"]))
        by_partner = np.bincount(up.groups_, weights=per_row["model"])
        metrics["heldout_reported_net"] = reported
        metrics["heldout_dr_net"] = dr_net
        metrics["heldout_dr_net_se"] = float(by_partner.std() * np.sqrt(len(by_partner)))
        metrics["heldout_net_calibration"] = dr_net / reported if reported else float("nan")
        selection = getattr(up, "policy_selection_", None)
        if selection is not None:
            # the data's choice between the model's policy and none (cross-fitted DR value)
            by_policy = selection.set_index("policy")
            everyone = str(by_policy.index[1])
            metrics["crossfit_policy_value_model"] = float(
                by_policy.loc["model", "crossfit_dr_value"]
            )
            metrics["crossfit_policy_value_model_se"] = float(by_policy.loc["model", "se"])
            metrics["crossfit_policy_value_everyone"] = float(
                by_policy.loc[everyone, "crossfit_dr_value"]
            )
            metrics["crossfit_policy_value_everyone_se"] = float(by_policy.loc[everyone, "se"])
            metrics["policy_gated"] = float(up.policy_gated_)
        for key, factor in getattr(up, "base_calibration_", {}).items():
            metrics[f"base_calibration_q{key:g}"] = float(factor)
        pooled = getattr(up, "pooled_", None)
        if pooled is not None and getattr(up, "prior_centre", "zero") == "pooled":
            metrics["common_effect_prob"] = pooled.common_prob
            metrics["common_effect"] = pooled.common_mean
            metrics["incentive_spread_tau"] = pooled.tau
        for name in names:
            metrics[f"relative_effect_{name}"] = up.effect_constant_[name]
            metrics[f"relative_effect_se_{name}"] = up.effect_se_[name]
            metrics[f"level_shrinkage_{name}"] = up.level_shrinkage_[name]
            metrics[f"residual_sd_{name}"] = up.residual_sd_[name]
            metrics[f"posterior_effect_{name}"] = up.posterior_level_[name]
            metrics[f"posterior_effect_se_{name}"] = up.posterior_level_se_[name]
            metrics[f"deviation_slope_{name}"] = up.deviation_slope_[name]
            if name in up.randomized_:
                level, se, n_t, n_c = up.randomized_[name]
                metrics[f"randomized_effect_{name}"] = level
                metrics[f"randomized_effect_se_{name}"] = se
                metrics[f"randomized_rows_{name}"] = float(n_t)
                metrics["randomized_rows_none"] = float(n_c)
            for r in getattr(up, "scale_selection_", {}).get(name, pd.DataFrame()).itertuples():
                metrics[f"effect_scale_value_{name}_{r.scale}"] = float(r.crossfit_dr_value)
                metrics[f"effect_scale_value_se_{name}_{r.scale}"] = float(r.se_vs_relative)
            for r in up.selection_[name].itertuples():
                key = str(r.candidate).replace(":", "_k")
                metrics[f"policy_value_{name}_{key}"] = float(r.policy_value)
        if hasattr(up, "reference_revenue_"):
            metrics["reference_revenue"] = float(up.reference_revenue_)
        contrasts = randomized_contrasts(rows, up.oof_uplift_, k=k)
        for r in contrasts.itertuples():
            metrics[f"qini_{r.incentive}"] = float(r.qini)
            metrics[f"auuc_{r.incentive}"] = float(r.auuc)
            metrics[f"uplift_at_{round(k * 100)}_{r.incentive}"] = float(r.uplift_at_k)
        curves = []
        rnd = rows["randomized"].to_numpy(dtype=bool)
        for j, name in enumerate(names):
            treated = rows["incentive"].to_numpy(dtype=object)[rnd] == name
            if treated.any() and (~treated).any():
                others = np.delete(oof[rnd], j, axis=1)
                score = oof[rnd, j] - (others.mean(axis=1) if others.shape[1] else 0.0)
                y = rows["revenue"].to_numpy(dtype=np.float64)[rnd]
                curves.append(qini_curve(y, treated, score).assign(incentive=name))
        segments = uplift_by_segment(
            pd.DataFrame(oof, columns=names), rows, tuple(c for c in SEGMENT_COLUMNS)
        )
        artifacts = {
            "randomized_contrasts": contrasts,
            "qini_curves": pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(),
            "uplift_by_segment": segments,
            "policy_comparison": pd.DataFrame(
                {"policy": list(values), "dr_net_value_per_row": list(values.values())}
            ),
            "policy_selection": getattr(up, "policy_selection_", pd.DataFrame()),
            "effect_selection": pd.concat(
                [t.assign(incentive=n) for n, t in up.selection_.items()], ignore_index=True
            ),
            "effect_scales": pd.concat(
                [t.assign(incentive=n) for n, t in getattr(up, "scale_selection_", {}).items()],
                ignore_index=True,
            )
            if getattr(up, "scale_selection_", None)
            else pd.DataFrame(),
        }
        return metrics, artifacts
