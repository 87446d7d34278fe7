"""Test worlds and honest-number checks for ``benchmarks/recommend.py`` (issue 16).

Stand-ins until the scenario suite (``features/world/scenarios.py``) lands; replace
:func:`world_params` by its scenarios then. Three worlds:

- ``default``: the demo world (effects differ by segment, mildly);
- ``heterogeneous``: every segment term of every incentive x 2.5 and a partner-level
  effect noise of 0.04 (default 0.015): who responds to what matters;
- ``no_effect``: every incentive does nothing (all effect terms and noise 0).

The checks compare what a policy *reports* with the truth: the summed expected net of the
chosen incentives against their true net, and the share of true uplifts inside the
reported 80 % intervals (``p10_uplift_<i>`` .. ``p90_uplift_<i>`` columns).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from features.world import IncentiveSpec, WorldParams

WORLDS = ("default", "heterogeneous", "no_effect")


def _scaled(spec: IncentiveSpec, factor: float) -> IncentiveSpec:
    def scale(terms):
        return {k: factor * v for k, v in terms.items()}

    return dataclasses.replace(
        spec,
        by_type=scale(spec.by_type),
        by_tier=scale(spec.by_tier),
        by_region=scale(spec.by_region),
    )


def _zero(spec: IncentiveSpec) -> IncentiveSpec:
    return dataclasses.replace(
        spec, base=0.0, by_type={}, by_tier={}, by_region={}, size_slope=0.0, new_partner=0.0
    )


def world_params(name: str) -> WorldParams:
    """The named test world's parameters (see the module docstring)."""
    default = WorldParams()
    if name == "default":
        return default
    if name == "heterogeneous":
        return dataclasses.replace(
            default,
            incentives=tuple(_scaled(s, 2.5) for s in default.incentives),
            effect_noise_sd=0.04,
        )
    if name == "no_effect":
        return dataclasses.replace(
            default, incentives=tuple(_zero(s) for s in default.incentives), effect_noise_sd=0.0
        )
    raise ValueError(f"unknown world {name!r}; one of {WORLDS}")


def honesty(
    rec: pd.DataFrame, effects: pd.DataFrame, base: pd.Series | None = None
) -> dict[str, float]:
    """Reported vs true net of the chosen incentives, and 80 % interval coverage.

    ``rec``: the recommend frame; ``effects``: one quarter's truth rows (``partner_id``,
    ``incentive``, ``expected_uplift``, ``expected_cost``, ``expected_revenue``); ``base``:
    the model's revenue without an incentive by partner id, to split the error of the
    reported uplift into base revenue and relative effect.
    """
    truth = effects.set_index(["partner_id", "incentive"])
    given = rec.loc[rec["incentive"] != "none"]
    keys = pd.MultiIndex.from_arrays(
        [given["partner_id"].astype(str).to_numpy(), given["incentive"].astype(str).to_numpy()]
    )
    true_uplift = truth["expected_uplift"].reindex(keys).to_numpy()
    true_net = float(np.nansum(true_uplift - truth["expected_cost"].reindex(keys).to_numpy()))
    out = {
        "reported_net": float(given["expected_net"].sum()),
        "true_net_of_chosen": true_net,
        "reported_uplift": float(given["expected_uplift"].sum()),
        "true_uplift_of_chosen": float(np.nansum(true_uplift)),
    }
    if base is not None and len(given):
        ids = given["partner_id"].astype(str).to_numpy()
        none = effects.loc[effects["incentive"] == "none"].set_index("partner_id")
        true_base = none["expected_revenue"].reindex(ids).to_numpy()
        out["model_base_over_true_base_of_chosen"] = float(
            base.reindex(ids).sum() / np.nansum(true_base)
        )
    names = [c[len("p10_uplift_") :] for c in rec.columns if c.startswith("p10_uplift_")]
    if names:
        ids = rec["partner_id"].astype(str).to_numpy()
        up = effects.pivot(index="partner_id", columns="incentive", values="expected_uplift")
        t = up.reindex(ids)[names].to_numpy()
        lo = rec[[f"p10_uplift_{n}" for n in names]].to_numpy()
        hi = rec[[f"p90_uplift_{n}" for n in names]].to_numpy()
        inside = (t >= lo) & (t <= hi)
        out["coverage_all_options"] = float(inside.mean())
        chosen = rec["incentive"].astype(str).to_numpy()
        pick = np.array([names.index(c) if c in names else -1 for c in chosen])
        on = pick >= 0
        if on.any():
            out["coverage_chosen"] = float(inside[np.flatnonzero(on), pick[on]].mean())
        if "expected_net_low" in rec.columns:
            out["reported_net_low"] = float(given["expected_net_low"].sum())
            out["reported_net_high"] = float(given["expected_net_high"].sum())
    return out


def history_quarterly_spend(incentives: pd.DataFrame) -> float:
    """Average incentive spend per quarter in the history (the no-effect world's yardstick)."""
    quarter = pd.to_datetime(incentives["starts_on"]).dt.to_period("Q")
    return float(incentives.groupby(quarter)["cost"].sum().mean())
