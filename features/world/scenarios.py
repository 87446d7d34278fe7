"""Named channel worlds: the demo world and seven that differ in how revenue and incentives work.

One world is a single answer to "what is a vendor's channel like"; a forecaster or
recommender tuned on it can sit at its noise floor and still lose to a linear model
on another (issue 14: 0.82 x the best baseline where a 16-column ridge scored
0.785 x). Each scenario changes the mechanics, not only seed and size:

- ``demo``: today's world (``WorldParams()``), byte for byte by seed;
- ``enterprise``: few large resellers, 5 % run-rate, sales cycles of 2-4 quarters;
- ``subscription``: MSPs with 90 % recurring run-rate, persistent expansion and churn,
  little pipeline, and their own incentive vocabulary (credits, bonuses, listings);
- ``seasonal``: 8 quarters, a year-end peak 3x the trough, 70 % of partners joining late;
- ``heterogeneous``: effects that differ strongly by type, tier, region, engagement,
  pipeline and tenure, negative for some partners;
- ``no_effect``: incentives that change nothing (every true uplift is 0);
- ``small_noisy``: 200 partners with twice the demand noise;
- ``activation``: dormant and small partners (a third of partner-quarters book nothing)
  and incentives on different scales: a SPIFF that adds a fixed amount of money, a rebate
  that scales with size, enablement that does both (issue 23);
- ``young``: a young program: four quarters of bookings, the pipeline from the year before,
  60 % of partners joining during the year (issue 22).

``get_scenario(name)`` raises :class:`UnknownScenario` listing the known names.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from features.world.params import IncentiveSpec, WorldParams, default_incentives

DEFAULT_SCENARIO = "demo"


@dataclass(frozen=True)
class Scenario:
    """A named world: its parameters, its story, and the size it is meant to be run at."""

    name: str
    story: str
    params: WorldParams
    partners: int = 2000
    quarters: int = 20


class UnknownScenario(ValueError):
    """A scenario name that is not in :data:`SCENARIOS`."""


def _enterprise() -> WorldParams:
    return WorldParams(
        types=("reseller", "si", "distributor"),
        type_shares=(0.50, 0.35, 0.15),
        type_size_factor=(1.0, 1.3, 3.0),
        tier_shares=(0.15, 0.30, 0.35, 0.20),
        median_size=1_200_000.0,
        size_sigma=0.8,
        pareto_share=0.02,
        ar_sigma=0.10,
        run_rate_share=0.05,
        deals_per_quarter=1.5,
        deals_size_power=0.3,
        deal_sigma=0.5,
        cycle_days_median=260.0,
        cycle_sigma=0.25,
        cycle_days_bounds=(150, 400),
        expected_close_share=0.97,
        expected_close_sd_days=25.0,
        expected_close_bias_days=-15.0,
        credit_note_share=0.02,
    )


def _subscription() -> WorldParams:
    incentives = (
        IncentiveSpec(
            "migration_credit",
            0.08,
            by_tier={"registered": -0.04, "platinum": 0.02},
            fixed_cost=600.0,
            cost_rate=0.02,
            policy_weight=0.5,
            duration_days=(60, 90),
        ),
        IncentiveSpec(
            "usage_bonus",
            0.02,
            by_type={"referral": -0.03},
            size_slope=0.02,
            cost_rate=0.03,
            fixed_cost=200.0,
            policy_weight=0.3,
            duration_days=(80, 100),
        ),
        IncentiveSpec(
            "marketplace_listing",
            0.0,
            by_type={"msp": 0.06, "referral": -0.02},
            by_region={"EMEA": 0.02},
            fixed_cost=2_500.0,
            policy_weight=0.2,
            duration_days=(30, 60),
        ),
    )
    flat = (1.0, 1.0, 1.0, 1.0)
    return WorldParams(
        types=("msp", "reseller", "referral"),
        type_shares=(0.70, 0.20, 0.10),
        type_size_factor=(1.0, 0.8, 0.3),
        median_size=120_000.0,
        trend_mean=0.02,
        trend_sd=0.05,
        churn_hazard=0.03,
        churn_fade_quarters=2,
        ar_rho=0.95,
        ar_sigma=0.07,
        seasonality={"NA": flat, "EMEA": flat, "APAC": flat, "LATAM": flat},
        run_rate_share=0.90,
        run_rate_sigma=0.05,
        run_rate_bookings=3.0,
        deals_per_quarter=0.5,
        cycle_days_median=45.0,
        cycle_days_bounds=(7, 180),
        incentives=incentives,
    )


def _seasonal() -> WorldParams:
    return WorldParams(
        initial_share=0.30,
        ramp_quarters=(1.0, 4.0),
        seasonality={
            "NA": (0.55, 0.85, 0.80, 1.80),
            "EMEA": (1.00, 1.25, 0.45, 1.30),
            "APAC": (0.70, 1.45, 1.15, 0.70),
            "LATAM": (1.45, 0.80, 0.95, 0.80),
        },
    )


def _heterogeneous() -> WorldParams:
    incentives = (
        IncentiveSpec(
            "rebate",
            0.02,
            by_type={"distributor": 0.10, "reseller": 0.04, "referral": -0.08, "msp": -0.04},
            engagement_slope=-0.05,
            fixed_cost=500.0,
            cost_rate=0.04,
            policy_weight=0.46,
            duration_days=(60, 100),
        ),
        IncentiveSpec(
            "spiff",
            0.03,
            by_type={"reseller": 0.06, "si": 0.05, "distributor": -0.08},
            engagement_slope=0.08,
            pipeline_slope=0.06,
            fixed_cost=1_500.0,
            cost_rate=0.01,
            policy_weight=0.14,
            duration_days=(20, 60),
        ),
        IncentiveSpec(
            "mdf",
            0.0,
            by_tier={"gold": 0.08, "silver": 0.04, "registered": -0.06},
            by_region={"EMEA": 0.05, "LATAM": -0.03},
            tenure_slope=-0.025,
            fixed_cost=3_000.0,
            cost_rate=0.02,
            policy_weight=0.20,
            duration_days=(45, 120),
        ),
        IncentiveSpec(
            "co_marketing",
            -0.02,
            by_type={"msp": 0.14, "si": 0.10, "distributor": -0.04},
            engagement_slope=0.07,
            fixed_cost=6_000.0,
            cost_rate=0.01,
            policy_weight=0.10,
            duration_days=(30, 90),
        ),
        IncentiveSpec(
            "enablement",
            0.0,
            by_tier={"registered": 0.05, "platinum": -0.04},
            new_partner=0.12,
            tenure_slope=-0.03,
            fixed_cost=2_000.0,
            policy_weight=0.10,
            duration_days=(14, 60),
        ),
    )
    return WorldParams(
        incentives=incentives,
        effect_noise_sd=0.02,
        effect_bounds=(-0.30, 0.50),
        randomized_share=0.20,
    )


def _no_effect() -> WorldParams:
    inert = tuple(
        dataclasses.replace(
            spec, base=0.0, by_type={}, by_tier={}, by_region={}, size_slope=0.0, new_partner=0.0
        )
        for spec in default_incentives()
    )
    return WorldParams(incentives=inert, effect_noise_sd=0.0, enablement_training_boost=0.0)


def _small_noisy() -> WorldParams:
    return WorldParams(
        ar_sigma=0.30,
        run_rate_sigma=0.40,
        deal_sigma=1.0,
        deals_per_quarter=1.0,
        credit_note_share=0.06,
    )


def _activation() -> WorldParams:
    incentives = (
        IncentiveSpec(
            "spiff",
            0.0,
            absolute=5_000.0,
            fixed_cost=3_000.0,
            policy_weight=0.25,
            duration_days=(20, 60),
        ),
        IncentiveSpec(
            "rebate",
            0.08,
            by_type={"distributor": 0.03, "referral": -0.03},
            fixed_cost=500.0,
            cost_rate=0.03,
            policy_weight=0.55,
            duration_days=(60, 100),
        ),
        IncentiveSpec(
            "enablement",
            0.04,
            absolute=3_000.0,
            by_tier={"registered": 0.02},
            fixed_cost=2_500.0,
            policy_weight=0.20,
            duration_days=(14, 60),
        ),
    )
    return WorldParams(
        incentives=incentives,
        dormant_share=0.35,
        median_size=100_000.0,
        enablement_training_boost=0.0,
        randomized_share=0.20,
    )


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "demo",
            "Today's demo world: a mid-sized vendor's channel of 2,000 partners of five types, "
            "a quarter of revenue as run-rate and the rest from deals with one-to-three-quarter "
            "cycles, regional seasonality, and five incentives whose effect differs by "
            "segment while the historical policy gives rebates to the big partners.",
            WorldParams(),
        ),
        Scenario(
            "enterprise",
            "Pipeline-driven enterprise resellers: 400 large partners (median 1.2M a year), "
            "5% run-rate, about 2.7 opportunities a quarter of several hundred thousand each, "
            "sales cycles of 150-400 days (median 260) with expected close dates on 97% of "
            "them: next quarter's revenue is mostly already in the open pipeline.",
            _enterprise(),
            partners=400,
        ),
        Scenario(
            "subscription",
            "Subscription MSPs: 90% of revenue is recurring run-rate with little noise "
            "(5%), demand that persists (AR 0.95) and trends (growth sd 5%/quarter: expansion "
            "and contraction), churn 3%/quarter, no seasonality and little pipeline; the "
            "incentives are the MSP program's own (migration credit, usage bonus, marketplace "
            "listing), not the demo world's.",
            _subscription(),
            partners=1500,
        ),
        Scenario(
            "seasonal",
            "Strongly seasonal with a short history: 8 quarters, peak-to-trough 3x in every "
            "region (NA year-end, EMEA summer trough, APAC Q2), only 30% of partners exist "
            "before the first quarter and the rest join during it, ramping over 1-4 quarters.",
            _seasonal(),
            partners=1500,
            quarters=8,
        ),
        Scenario(
            "heterogeneous",
            "Incentives whose effects differ strongly and observably: by type (rebates +12% "
            "for distributors, -6% for referral partners; co-marketing +12% for MSPs), tier "
            "and region, by engagement (spiff +8 points per sd), pipeline momentum and "
            "tenure (enablement pays for new partners, less each year); 20% randomized.",
            _heterogeneous(),
        ),
        Scenario(
            "no_effect",
            "The demo world with incentives that change nothing: every true uplift is 0, "
            "so every incentive given is money lost and the best policy is none.",
            _no_effect(),
        ),
        Scenario(
            "small_noisy",
            "A small, noisy channel: 200 partners, demand shocks of 30% a quarter (demo 17%), "
            "noisier deal sizes and run-rate, and twice the credit notes.",
            _small_noisy(),
            partners=200,
        ),
        Scenario(
            "young",
            "A young program, or a CRM export that starts a year ago: four quarters of "
            "bookings with the opportunities opened since the year before, the demo world's "
            "mechanics, and 60% of partners joining during the year (many have one or two "
            "quarters of history or only pipeline). Three cutoffs have a known next quarter: "
            "one backtest fold.",
            WorldParams(initial_share=0.4),
            partners=1000,
            quarters=4,
        ),
        Scenario(
            "activation",
            "Dormant and small partners: a third of partner-quarters book nothing (the "
            "smaller the partner, the more often it is dormant), and three incentives on "
            "different scales: a deal-registration SPIFF that adds about 5,000 a quarter "
            "whatever the partner's size (it activates dormant partners), a rebate worth "
            "8% of revenue (it pays on big partners only), and enablement that adds 3,000 "
            "plus 4%; 20% randomized.",
            _activation(),
            partners=1000,
            quarters=12,
        ),
    )
}
"""Every scenario by name, ``demo`` first."""


def get_scenario(name: str) -> Scenario:
    """The scenario called ``name``; :class:`UnknownScenario` lists the known names."""
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(SCENARIOS)
        raise UnknownScenario(f"unknown scenario {name!r}; known scenarios: {known}") from None
