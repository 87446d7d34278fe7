"""Every knob of the synthetic channel world, in one frozen dataclass.

The defaults are chosen so that the demo dataset looks like a mid-sized vendor's
channel: partner revenue from tens of thousands to millions a year with a heavy
tail, most revenue from won deals with one-to-three-quarter sales cycles, a few
percent credit notes, and incentives whose true effect differs by segment while
the historical policy hands out the wrong one to the big partners.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class IncentiveSpec:
    """One incentive: its true effect by segment, its cost, and how the old policy used it.

    The effect is a relative change of the partner's expected revenue in the quarter
    that contains ``starts_on`` (``0.05`` = +5 %), the sum of a base and per-segment
    terms, plus ``size_slope`` per standard deviation of log size and ``new_partner``
    during the first four quarters after joining. Three optional terms make the effect
    depend on what the data shows about a partner besides its attributes:
    ``engagement_slope`` per standard deviation of the latent engagement (seen through
    trainings, logins, webinars), ``tenure_slope`` per year since joining (capped at
    five years) and ``pipeline_slope`` per standard deviation of the quarter's demand
    shock (seen through the pipeline open at the quarter's start). All default to 0.
    Negative terms are real harm (channel conflict, distraction). ``absolute`` is an
    effect in money, not relative: the expected extra revenue per quarter of a partner
    active the whole quarter, whatever its size, on top of the relative effect (a SPIFF or
    deal-registration bonus that gets a dormant or small partner to register and close a
    deal; issue 23). It books as one lump with chance ``WorldParams.activation_hit_rate``.
    The expected cost is
    ``fixed_cost * type_cost[type] + cost_rate * quarterly size``; a realised cost
    scatters around it.
    """

    name: str
    base: float
    by_type: Mapping[str, float] = field(default_factory=dict)
    by_tier: Mapping[str, float] = field(default_factory=dict)
    by_region: Mapping[str, float] = field(default_factory=dict)
    size_slope: float = 0.0
    new_partner: float = 0.0
    engagement_slope: float = 0.0
    tenure_slope: float = 0.0
    pipeline_slope: float = 0.0
    absolute: float = 0.0  # money per quarter, added to the expected revenue (see above)
    fixed_cost: float = 0.0
    cost_rate: float = 0.0
    policy_weight: float = 1.0  # relative frequency under the historical (non-random) policy
    duration_days: tuple[int, int] = (30, 90)  # ends_on - starts_on, drawn uniformly


def default_incentives() -> tuple[IncentiveSpec, ...]:
    return (
        IncentiveSpec(
            "rebate",
            0.03,
            by_type={"distributor": 0.06, "reseller": 0.03, "referral": -0.03, "si": -0.01},
            by_tier={"platinum": -0.04, "silver": 0.02, "registered": 0.02},
            by_region={"LATAM": 0.02},
            fixed_cost=500.0,
            cost_rate=0.05,
            policy_weight=0.46,
            duration_days=(60, 100),
        ),
        IncentiveSpec(
            "spiff",
            0.03,
            by_type={"reseller": 0.04, "si": 0.03, "referral": 0.02, "distributor": -0.06},
            by_region={"NA": 0.03},
            size_slope=-0.012,
            fixed_cost=1_500.0,
            cost_rate=0.01,
            policy_weight=0.14,
            duration_days=(20, 60),
        ),
        IncentiveSpec(
            "mdf",
            0.02,
            by_type={"referral": -0.04},
            by_tier={"gold": 0.05, "silver": 0.03, "platinum": 0.01, "registered": -0.03},
            by_region={"EMEA": 0.04, "APAC": 0.02},
            size_slope=0.01,
            fixed_cost=4_000.0,
            cost_rate=0.02,
            policy_weight=0.20,
            duration_days=(45, 120),
        ),
        IncentiveSpec(
            "co_marketing",
            0.0,
            by_type={
                "msp": 0.09,
                "si": 0.07,
                "reseller": 0.01,
                "distributor": -0.02,
                "referral": -0.03,
            },
            by_region={"APAC": 0.04, "LATAM": 0.03},
            size_slope=0.015,
            fixed_cost=8_000.0,
            cost_rate=0.01,
            policy_weight=0.10,
            duration_days=(30, 90),
        ),
        IncentiveSpec(
            "enablement",
            0.02,
            by_type={"referral": -0.02},
            by_tier={"registered": 0.05, "silver": 0.03, "platinum": -0.03},
            new_partner=0.07,
            fixed_cost=2_500.0,
            cost_rate=0.0,
            policy_weight=0.10,
            duration_days=(14, 60),
        ),
    )


@dataclass(frozen=True)
class WorldParams:
    """All parameters of the simulation, with documented defaults.

    Money is in one currency; "size" is a partner's latent annual revenue at full
    ramp, before trend, seasonality and noise.
    """

    # -- who the partners are ------------------------------------------------------
    tiers: tuple[str, ...] = ("platinum", "gold", "silver", "registered")
    tier_shares: tuple[float, ...] = (0.07, 0.18, 0.35, 0.40)  # assigned by noisy size rank
    tier_size_noise: float = 0.6  # sd of the noise added to log size before ranking into tiers
    types: tuple[str, ...] = ("reseller", "distributor", "msp", "referral", "si")
    type_shares: tuple[float, ...] = (0.40, 0.08, 0.20, 0.17, 0.15)
    type_size_factor: tuple[float, ...] = (1.0, 6.0, 1.1, 0.4, 1.6)  # multiplies median size
    regions: tuple[str, ...] = ("NA", "EMEA", "APAC", "LATAM")
    region_shares: tuple[float, ...] = (0.40, 0.30, 0.20, 0.10)
    median_size: float = 160_000.0  # median latent annual revenue of a reseller
    size_sigma: float = 1.1  # sd of log size: lognormal heavy tail
    pareto_share: float = 0.03  # share of partners whose size gets an extra Pareto boost
    pareto_alpha: float = 1.5
    # dormancy (issue 23): a partner-quarter is dormant (no demand: no deals, no run-rate)
    # with a partner-level chance, logit ``logit(dormant_share) - dormant_size_slope *
    # size_z + dormant_sd * u`` (u standard normal per partner, so some partners are mostly
    # dormant and their history shows it); 0 = never (every other world, bit-identical)
    dormant_share: float = 0.0
    dormant_size_slope: float = 0.8
    dormant_sd: float = 1.5

    # -- joining, ramp, trend, churn ----------------------------------------------
    initial_share: float = 0.55  # share of partners that exist before the first quarter
    initial_max_age_years: float = 8.0  # how long ago the initial partners joined, at most
    ramp_quarters: tuple[float, float] = (1.0, 3.0)  # ramp time constant, drawn uniformly
    trend_mean: float = 0.012  # mean quarterly log growth
    trend_sd: float = 0.03
    churn_hazard: float = 0.012  # chance per quarter that a partner starts to churn
    churn_fade_quarters: int = 3  # revenue halves each quarter, then stops
    ar_rho: float = 0.65  # persistence of the partner's demand shock
    ar_sigma: float = 0.17  # sd of the quarterly demand shock (log scale)
    seasonality: Mapping[str, tuple[float, float, float, float]] = field(
        default_factory=lambda: {
            "NA": (0.85, 0.95, 0.92, 1.28),  # year-end push
            "EMEA": (1.02, 1.08, 0.76, 1.14),  # summer holidays
            "APAC": (0.92, 1.10, 1.06, 0.92),  # fiscal years starting in April
            "LATAM": (1.12, 0.94, 1.00, 0.94),
        }
    )  # multipliers by calendar quarter of the year

    # -- revenue mix, deals --------------------------------------------------------
    run_rate_share: float = 0.25  # share of demand booked as run-rate (no opportunity)
    reference_win_rate: float = 0.32  # pipeline is sized so this win rate books the demand
    deals_per_quarter: float = 1.6  # expected opportunities closing per quarter at 40k demand
    deals_size_power: float = 0.45  # opportunities grow with demand ** this power
    deal_sigma: float = 0.7  # sd of log opportunity amount
    cycle_days_median: float = 135.0  # created_on -> closed_on, lognormal
    cycle_sigma: float = 0.45
    cycle_days_bounds: tuple[int, int] = (7, 400)  # sales cycles are clipped to this range
    split_probs: tuple[float, float, float] = (0.65, 0.25, 0.10)  # won deal -> 1, 2, 3 bookings
    expected_close_share: float = 0.85  # share of opportunities with expected_close_on
    expected_close_sd_days: float = 21.0
    expected_close_bias_days: float = -10.0  # reps are optimistic: expected before actual
    registered_share: tuple[float, float] = (0.35, 0.75)  # from registered tier to platinum
    registered_win_lift: float = 1.25  # registered deals win this much more (mean kept)
    run_rate_bookings: float = 2.0  # expected run-rate bookings per quarter at 20k, grows sqrt
    run_rate_sigma: float = 0.2  # quarter-level noise of run-rate revenue
    credit_note_share: float = 0.03  # share of positive bookings later credited
    credit_note_days: tuple[int, int] = (7, 100)
    product_lines: tuple[str, ...] = ("platform", "security", "cloud", "services")
    product_shares: tuple[float, ...] = (0.40, 0.25, 0.25, 0.10)

    # -- engagement and win rates --------------------------------------------------
    engagement_sd: float = 0.6  # sd of the latent engagement propensity
    tier_engagement: tuple[float, ...] = (0.6, 0.3, 0.0, -0.4)  # by tier, same order
    trainings_per_quarter: float = 0.8
    certifications_per_quarter: float = 0.25
    webinars_per_quarter: float = 0.7
    logins_per_month: float = 5.0
    leads_per_quarter: float = 0.8
    engagement_decay: float = 0.7  # engagement stock kept from one quarter to the next
    certification_weight: float = 3.0  # a certification counts as this many trainings
    win_intercept: float = -1.7  # logit of the win rate with no engagement
    win_slope: float = 0.55  # per log1p(engagement stock, lagged one and two quarters)
    win_skill_sd: float = 0.25  # partner-level win-rate skill (logit sd)
    win_rate_bounds: tuple[float, float] = (0.05, 0.6)

    # -- incentives ----------------------------------------------------------------
    incentives: tuple[IncentiveSpec, ...] = field(default_factory=default_incentives)
    effect_noise_sd: float = 0.015  # partner-level idiosyncratic effect
    effect_bounds: tuple[float, float] = (-0.15, 0.35)
    randomized_share: float = 0.12  # share of partner-quarter decisions made at random
    policy_intercept: float = -1.5  # logit of getting an incentive, historical policy
    policy_size_slope: float = 0.55  # per sd of log size
    policy_tier: tuple[float, ...] = (1.2, 0.7, 0.1, -0.6)  # by tier, same order
    cost_sigma: float = 0.25  # sd of log realised cost around the expected cost
    type_cost: Mapping[str, float] = field(
        default_factory=lambda: {
            "reseller": 1.0,
            "distributor": 1.6,
            "msp": 1.0,
            "referral": 0.6,
            "si": 1.2,
        }
    )
    enablement_training_boost: float = 1.5  # extra trainings and certifications, relative
    mdf_claim_prob: float = 0.75
    activation_hit_rate: float = 0.5  # chance an ``absolute`` effect books (as 1 / rate x it)
    truth_quarters: int = 4  # past quarters (before the horizon) with per-incentive truth

    @property
    def incentive_names(self) -> tuple[str, ...]:
        """The incentive vocabulary, in the order of ``incentives``."""
        return tuple(s.name for s in self.incentives)
