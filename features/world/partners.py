"""Who the partners are: observable attributes and latent traits, drawn once.

Sizes are heavy-tailed (lognormal with a Pareto boost for a few), distributors are
bigger, and tier follows a noisy rank of size, as partner programs do. A block of
partners exists before the first quarter; the rest join steadily, so the last
quarters still have cold starts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from features.world.params import WorldParams

COUNTRIES: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "NA": (("US", "CA"), (0.82, 0.18)),
    "EMEA": (
        ("GB", "DE", "FR", "NL", "ES", "IT", "SE", "AE", "ZA"),
        (0.22, 0.22, 0.16, 0.08, 0.08, 0.08, 0.05, 0.05, 0.06),
    ),
    "APAC": (
        ("AU", "JP", "IN", "SG", "KR", "NZ", "MY"),
        (0.22, 0.20, 0.20, 0.14, 0.10, 0.06, 0.08),
    ),
    "LATAM": (("BR", "MX", "AR", "CL", "CO"), (0.45, 0.30, 0.10, 0.08, 0.07)),
}
INDUSTRIES: tuple[str, ...] = (
    "it_services",
    "software",
    "telecom",
    "consulting",
    "hardware",
    "managed_services",
)
VERTICALS: tuple[str, ...] = (
    "horizontal",
    "healthcare",
    "financial_services",
    "public_sector",
    "manufacturing",
    "retail",
)
_NAME_A = ("Blue", "North", "Summit", "Bright", "Iron", "Silver", "Cedar", "Delta", "Apex", "Nova")
_NAME_B = ("Harbor", "Ridge", "Stone", "Field", "Peak", "Bridge", "Gate", "Point", "Wave", "Line")
_NAME_C = ("Systems", "Networks", "Solutions", "Partners", "Technologies", "Group", "IT", "Labs")


@dataclass(frozen=True)
class PartnerDraw:
    """Per-partner arrays (length N, aligned by partner index)."""

    type_idx: np.ndarray  # index into params.types
    tier_idx: np.ndarray  # index into params.tiers
    region_idx: np.ndarray  # index into params.regions
    country: np.ndarray  # str
    industry: np.ndarray  # str
    vertical: np.ndarray  # str
    name: np.ndarray  # str
    employees: np.ndarray  # int
    size: np.ndarray  # latent annual revenue at full ramp
    size_z: np.ndarray  # standardised log size
    joined_day: np.ndarray  # days since 1970-01-01
    join_q: np.ndarray  # quarter (0 = first simulated) containing joined_on; may be negative
    trend: np.ndarray  # quarterly log growth
    ramp_tau: np.ndarray  # ramp-up time constant in quarters
    churn_q: np.ndarray  # quarter in which churn starts; a large number when never
    engagement: np.ndarray  # latent engagement propensity (log scale)
    skill: np.ndarray  # latent win-rate skill (logit scale)
    effects: np.ndarray  # (N, K) static part of each incentive's relative effect


def _pick(rng: np.random.Generator, n: int, shares: tuple[float, ...]) -> np.ndarray:
    p = np.asarray(shares, dtype=float)
    return rng.choice(len(p), size=n, p=p / p.sum())


def draw_partners(
    params: WorldParams,
    rng: np.random.Generator,
    n: int,
    bounds: np.ndarray,
    observed: int,
) -> PartnerDraw:
    """Draw ``n`` partners for a world whose quarters have start days ``bounds[:-1]``.

    ``bounds`` holds the first day of every simulated quarter plus the day after the
    last one (days since epoch); partners join before the end of quarter
    ``observed - 1`` (the as-of date). Partners that never churn get the churn
    quarter ``len(bounds) - 1``, past the simulation.
    """
    type_idx = _pick(rng, n, params.type_shares)
    region_idx = _pick(rng, n, params.region_shares)

    log_size = (
        np.log(params.median_size)
        + np.log(np.asarray(params.type_size_factor))[type_idx]
        + rng.normal(0.0, params.size_sigma, n)
    )
    boosted = rng.random(n) < params.pareto_share
    log_size += np.where(boosted, np.log1p(rng.pareto(params.pareto_alpha, n)), 0.0)
    size = np.exp(log_size)
    size_z = (log_size - log_size.mean()) / max(log_size.std(), 1e-9)

    # Tier: rank of a noisy size, cut at the cumulative tier shares (platinum first).
    score = log_size + rng.normal(0.0, params.tier_size_noise, n)
    rank = np.empty(n, dtype=float)
    rank[np.argsort(-score, kind="stable")] = (np.arange(n) + 0.5) / n
    cuts = np.cumsum(params.tier_shares) / np.sum(params.tier_shares)
    tier_idx = np.minimum(np.searchsorted(cuts, rank), len(cuts) - 1)

    country = np.empty(n, dtype=object)
    for r, region in enumerate(params.regions):
        members = np.flatnonzero(region_idx == r)
        names, shares = COUNTRIES.get(region, ((region,), (1.0,)))
        country[members] = np.asarray(names, dtype=object)[_pick(rng, members.size, shares)]
    industry = np.asarray(INDUSTRIES, dtype=object)[rng.integers(0, len(INDUSTRIES), n)]
    vertical = np.asarray(VERTICALS, dtype=object)[rng.integers(0, len(VERTICALS), n)]
    name = (
        np.asarray(_NAME_A, dtype=object)[rng.integers(0, len(_NAME_A), n)]
        + " "
        + np.asarray(_NAME_B, dtype=object)[rng.integers(0, len(_NAME_B), n)]
        + " "
        + np.asarray(_NAME_C, dtype=object)[rng.integers(0, len(_NAME_C), n)]
    )
    employees = np.maximum(1, np.round(size / 30_000 * rng.lognormal(0.0, 0.6, n))).astype(np.int64)

    # Joining: a block before the first quarter, the rest uniformly over the period.
    never = bounds.size - 1
    start, end = int(bounds[0]), int(bounds[observed])
    initial = rng.random(n) < params.initial_share
    old_age = rng.uniform(30.0, params.initial_max_age_years * 365.25, n)
    joined_day = np.where(
        initial, start - old_age.astype(np.int64), rng.integers(start, end, n)
    ).astype(np.int64)
    join_q = np.searchsorted(bounds, joined_day, side="right") - 1  # -1 for any earlier day
    join_q = np.where(initial, -1 - (start - joined_day) // 91, join_q)

    trend = rng.normal(params.trend_mean, params.trend_sd, n)
    ramp_tau = rng.uniform(*params.ramp_quarters, n)
    tier_hazard = np.array([0.3, 0.6, 1.0, 1.6])[np.minimum(tier_idx, 3)]
    churn_after = rng.geometric(np.clip(params.churn_hazard * tier_hazard, 1e-6, 1.0), n)
    churn_q = np.maximum(join_q, 0) + 1 + churn_after
    churn_q = np.where(churn_q >= never, never, churn_q)

    engagement = np.asarray(params.tier_engagement)[tier_idx] + rng.normal(
        0.0, params.engagement_sd, n
    )
    skill = rng.normal(0.0, params.win_skill_sd, n)
    effects = _static_effects(params, rng, type_idx, tier_idx, region_idx, size_z, engagement)
    return PartnerDraw(
        type_idx=type_idx,
        tier_idx=tier_idx,
        region_idx=region_idx,
        country=country,
        industry=industry,
        vertical=vertical,
        name=name,
        employees=employees,
        size=size,
        size_z=size_z,
        joined_day=joined_day,
        join_q=join_q,
        trend=trend,
        ramp_tau=ramp_tau,
        churn_q=churn_q,
        engagement=engagement,
        skill=skill,
        effects=effects,
    )


def _static_effects(
    params: WorldParams,
    rng: np.random.Generator,
    type_idx: np.ndarray,
    tier_idx: np.ndarray,
    region_idx: np.ndarray,
    size_z: np.ndarray,
    engagement: np.ndarray,
) -> np.ndarray:
    """(N, K) relative effect of each incentive, without the age- and quarter-dependent terms."""
    n, k = type_idx.size, len(params.incentives)
    out = np.empty((n, k))
    for j, spec in enumerate(params.incentives):
        by_type = np.array([spec.by_type.get(t, 0.0) for t in params.types])
        by_tier = np.array([spec.by_tier.get(t, 0.0) for t in params.tiers])
        by_region = np.array([spec.by_region.get(r, 0.0) for r in params.regions])
        out[:, j] = (
            spec.base
            + by_type[type_idx]
            + by_tier[tier_idx]
            + by_region[region_idx]
            + spec.size_slope * size_z
        )
        if spec.engagement_slope:  # skipped at 0 so the default world stays bit-identical
            engagement_z = (engagement - engagement.mean()) / max(engagement.std(), 1e-9)
            out[:, j] += spec.engagement_slope * engagement_z
    return out + rng.normal(0.0, params.effect_noise_sd, (n, k))
