"""Scenario suite benchmark: the forecaster and the recommender on every named world.

    make bench-scenarios
    .venv/bin/python benchmarks/scenarios.py [--scenarios a,b] [--quick] [--partners N]
        [--folds K] [--seed S[,S...]] [--uplift-params JSON] [--out benchmarks/results/scenarios.md]

For each scenario (``features.world.SCENARIOS``) it simulates the world in memory, then

- forecasting: the project's rolling-origin backtest (``run_backtest``, default
  ``ForecastConfig``) with its four baselines, the ridge reference
  (``training.forecast.reference``) on the same folds, and the floor (the world's own
  expected revenue on the same test rows); WAPE, ratio to the best baseline and to the
  ridge, the share of the gap from the best baseline to the floor the model closes, and
  the model's 80 % interval coverage;
- incentives: the recommender fitted as ``partnercast train`` fits it, its next-quarter
  policy scored on the truth next to the reference policies
  (``training.incentives.references``), without and with a budget of 25 % of the
  oracle's spend; and the sum of the expected net it reports for its choices next to
  their true net.

With several world seeds (``--seed 42,7,11``) it measures the suite at each and puts a summary
first: per scenario the headline columns at every seed and their mean (a choice judged at one
world seed is judged on that world's noise: the recommender's value on `heterogeneous` was
0.728 / 0.343 / 0.000 at seeds 42 / 7 / 11 in session 10).

Partners are capped (``--partners``, default 1,000; ``--quick`` 300 and 2 folds) so the whole
suite runs in well under 30 minutes on 2 cores; the caps and folds used are printed. Progress
goes to stderr; the tables to stdout and to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == ROOT / "benchmarks":
    sys.path[0] = str(ROOT)  # run as a script: don't shadow the ``features`` package

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

log = logging.getLogger("benchmarks.scenarios")

DEFAULT_PARTNERS, QUICK_PARTNERS, QUICK_FOLDS = 1000, 300, 2
PARTS = ("forecaster", "recommender")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def forecast_row(world, ds, *, folds: int, seed: int) -> dict:
    """Backtest the forecaster, the baselines and the ridge reference; score against the floor."""
    from features import metrics
    from features.calendar import QuarterCalendar
    from training.forecast import (
        MODEL,
        ForecastConfig,
        prepare_training_data,
        run_backtest,
        usable_folds,
    )
    from training.forecast.backtest import SALES_OPS
    from training.forecast.reference import (
        REFERENCE,
        backtest_reference,
        expected_on_test_rows,
        floor_wape,
    )
    from training.jobs.forecaster_run import quality_gate

    data = prepare_training_data(ds, as_of=None, calendar=QuarterCalendar())
    wanted = folds
    folds = usable_folds(data.frame, wanted)  # as ``partnercast train`` does
    config = ForecastConfig(folds=folds, seed=seed)
    result = run_backtest(data.frame, data.panel, data.spec, config, progress=_say)
    ridge = backtest_reference(data.frame, folds=folds, horizon=config.horizon)
    keys = ["partner_id", "as_of", "horizon", "quarter_start"]
    preds = result.predictions.merge(ridge, on=keys, how="left", validate="one_to_one")
    best = result.best_baseline("wape")
    wape = {
        "model": metrics.wape(preds["actual"], preds[f"{MODEL}_p50"]),
        "best": metrics.wape(preds["actual"], preds[f"{best}_p50"]),
        "ridge": metrics.wape(preds["actual"], preds[f"{REFERENCE}_p50"]),
        "sales-ops": metrics.wape(preds["actual"], preds[f"{SALES_OPS}_p50"]),
    }
    # the quality gate as ``train`` applies it to a first model (no champion yet)
    gate = quality_gate(result, None, folds=folds, wanted=wanted)
    floor_rows = expected_on_test_rows(preds, world.truth["revenue"])
    expected_wape, floor, factor = floor_wape(floor_rows["actual"], floor_rows["expected_revenue"])
    by_h = {
        int(h): (
            metrics.wape(g["actual"], g[f"{MODEL}_p50"]),
            metrics.wape(g["actual"], g[f"{REFERENCE}_p50"]),
        )
        for h, g in preds.groupby("horizon")
    }
    return {
        "folds": folds,
        "test rows": len(preds),
        "WAPE": wape["model"],
        "sales-ops": wape["sales-ops"],
        "best baseline": f"{best} {wape['best']:.3f}",
        "x best baseline": wape["model"] / wape["best"],
        "ridge": wape["ridge"],
        "x ridge": wape["model"] / wape["ridge"],
        "expected": expected_wape,
        "floor": f"{floor:.3f} (x{factor:.2f})",
        "gap closed": (wape["best"] - wape["model"]) / (wape["best"] - floor),
        "coverage 80": result.metric(MODEL, "coverage_80"),
        "coverage by h": "/".join(
            f"{result.metric(MODEL, 'coverage_80', h):.2f}" for h in sorted(by_h)
        ),
        "loses to ridge at h": ",".join(str(h) for h, (m, r) in by_h.items() if m > r) or "-",
        "gate": "passed"
        if gate.passed
        else "failed: "
        + "; ".join(r.removeprefix("FAILED: ") for r in gate.reasons if r.startswith("FAILED")),
    }


def incentive_row(world, ds, *, seed: int, uplift_params: dict | None = None) -> dict:
    """Fit the recommender as ``partnercast train`` does; score its policy on the truth."""
    from features.calendar import QuarterCalendar
    from features.frames import build_features, build_recommender_frame, fit_feature_spec
    from training.incentives import IncentiveRecommender, TruthMatrices, reference_policies

    as_of = pd.Timestamp(ds.last_date).normalize()
    spec = fit_feature_spec(ds, as_of=as_of, calendar=QuarterCalendar())
    frame = build_recommender_frame(ds, spec=spec, data_end=as_of)
    features = build_features(ds, as_of=as_of, spec=spec)
    model = IncentiveRecommender(uplift_params=uplift_params, random_state=seed).fit(
        frame, feature_columns=list(spec.partner_feature_columns)
    )
    effects = world.truth["incentive_effects"]
    truth = TruthMatrices.from_effects(effects[effects["horizon"] == 1])
    segments = world.truth["partners"].astype({"partner_id": str}).set_index("partner_id")
    segments = segments["segment"].reindex(truth.partner_ids).to_numpy(dtype=object)
    given = frame.loc[frame["incentive"] != "none", "incentive"]
    common = str(given.value_counts().index[0])
    refs, budget = reference_policies(truth, segments, most_common=common, seed=seed)
    share = refs.set_index(["policy", "budget"])["share_of_oracle"]
    oracle = refs.set_index(["policy", "budget"])["net"][("oracle", False)]

    rec = model.recommend(features)
    pick = truth.choice_index(rec[["partner_id", "incentive"]])
    net, spent, partners = truth.value(pick)
    chosen = rec["incentive"].astype(str) != "none"
    reported = float(rec.loc[chosen, "expected_net"].sum())
    rec_b = model.recommend(features, budget=budget)
    net_b = truth.value(truth.choice_index(rec_b[["partner_id", "incentive"]]))[0]
    oracle_b = refs.set_index(["policy", "budget"])["net"][("oracle", True)]
    cover_all, cover_chosen = interval_coverage(truth, rec, pick)
    gap, gap_se = gap_to_average_policy(truth, pick)
    quarters = frame["quarter_start"].nunique()
    history_spend = float(frame["cost"].sum()) / max(quarters, 1)
    se = model.uplift_.effect_se_
    # what the data permit: how clearly the training rows' doubly-robust estimate tells
    # the policy that knows the true average effects (fixed in advance) from none for all
    true_average = dict(
        zip(truth.incentives, truth.uplift.sum(axis=0) / truth.base.sum(), strict=True)
    )
    avg_value, avg_value_se = model.policy_value(frame, true_average)

    def ratio(value: float, of: float) -> float:
        return value / of if of > 0 else float("nan")

    return {
        "oracle net": oracle,
        "model": ratio(net, oracle),
        "none": share[("none", False)],
        "everyone": share[(f"everyone gets {common}", False)],
        "random": share[("random", False)],
        "avg effect": share[("true average effect", False)],
        "model - avg": ratio(gap, oracle),
        "(se)": ratio(gap_se, oracle),
        "segment effect": share[("true segment effect", False)],
        "model @25%": ratio(net_b, oracle_b),
        "avg @25%": share[("true average effect", True)],
        "segment @25%": share[("true segment effect", True)],
        "model net": net,
        "reported net": reported,
        "reported / true": reported / net if net != 0 else float("nan"),
        "partners given": f"{partners}/{len(rec)}",
        "most common": common,
        "spent": spent,
        "spent / history": spent / history_spend if history_spend > 0 else float("nan"),
        "effect se": float(np.median(list(se.values()))) if se else float("nan"),
        "avg policy DR z": avg_value / avg_value_se if avg_value_se > 0 else float("nan"),
        "cover80 all": cover_all,
        "cover80 chosen": cover_chosen,
    }


def gap_to_average_policy(truth, pick: np.ndarray) -> tuple[float, float]:
    """True net of the model's choices minus that of the policy that knows each incentive's
    true average effect, and its standard error over partners (``sd x sqrt(n)`` of the
    per-partner differences): how far the model is from that policy beyond the luck of
    which partners the world drew."""
    from features.scoring.policy import best_by_net
    from training.incentives.references import known_effect_net

    def per_partner(choice: np.ndarray) -> np.ndarray:
        out = np.zeros(len(choice))
        on = np.flatnonzero(choice >= 0)
        out[on] = truth.net[on, choice[on]]
        return out

    average = best_by_net(known_effect_net(truth, np.zeros(len(pick))))
    diff = per_partner(pick) - per_partner(average)
    return float(diff.sum()), float(diff.std(ddof=1) * np.sqrt(len(diff)))


def interval_coverage(truth, rec: pd.DataFrame, pick: np.ndarray) -> tuple[float, float]:
    """Share of the true per-partner uplifts inside the reported 80 % intervals: over every
    (partner, incentive) and over the chosen options only (nan when nothing is chosen)."""
    rows = rec.astype({"partner_id": str}).set_index("partner_id").reindex(truth.partner_ids)
    inside = np.zeros(truth.uplift.shape, dtype=bool)
    known = np.zeros(truth.uplift.shape, dtype=bool)
    for j, name in enumerate(truth.incentives):
        if f"p10_uplift_{name}" not in rows.columns:
            continue
        lo = rows[f"p10_uplift_{name}"].to_numpy(dtype=np.float64)
        hi = rows[f"p90_uplift_{name}"].to_numpy(dtype=np.float64)
        known[:, j] = np.isfinite(lo) & np.isfinite(hi)
        inside[:, j] = (truth.uplift[:, j] >= lo) & (truth.uplift[:, j] <= hi)
    on = np.flatnonzero(pick >= 0)
    cover_all = float(inside[known].mean()) if known.any() else float("nan")
    picked = inside[on, pick[on]][known[on, pick[on]]]
    return cover_all, float(picked.mean()) if picked.size else float("nan")


def _fmt(value: object) -> str:
    if isinstance(value, float | np.floating):
        if np.isnan(value):
            return "n/a"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3f}"
    return str(value)


def markdown(rows: list[dict], first: str = "scenario") -> str:
    """One markdown table from rows of equal keys (money rounded, ratios to 3 places)."""
    columns = list(dict.fromkeys(c for r in rows for c in r))
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" if c == first else "---:" for c in columns) + "|",
    ]
    lines += ["| " + " | ".join(_fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def measure(
    names: list[str],
    *,
    partners: int,
    folds: int,
    seed: int,
    parts: tuple[str, ...] = PARTS,
    uplift_params: dict | None = None,
) -> dict:
    """Every scenario of ``names`` at world seed ``seed``: its rows and what it took."""
    from features.world import get_scenario
    from features.world.simulate import simulate_world, world_dataset

    began = time.perf_counter()
    forecast_rows, incentive_rows, sizes = [], [], []
    for name in names:
        scenario = get_scenario(name)
        n = min(partners, scenario.partners)
        t0 = time.perf_counter()
        _say(f"[{name}] simulating {n} partners x {scenario.quarters} quarters (seed {seed})")
        world = simulate_world(n, scenario.quarters, seed=seed, params=scenario.params)
        ds = world_dataset(world)
        folds_note = ""
        if "forecaster" in parts:
            _say(f"[{name}] forecaster backtest")
            f_row = forecast_row(world, ds, folds=folds, seed=seed)
            forecast_rows.append({"scenario": name, **f_row})
            folds_note = f"{f_row['folds']} folds, "
        if "recommender" in parts:
            _say(f"[{name}] recommender")
            i_row = incentive_row(world, ds, seed=seed, uplift_params=uplift_params)
            incentive_rows.append({"scenario": name, **i_row})
        seconds = time.perf_counter() - t0
        _say(f"[{name}] done in {seconds:.0f}s")
        sizes.append(f"{name} {n}x{scenario.quarters} ({folds_note}{seconds:.0f}s)")
    return {
        "seed": seed,
        "forecaster": forecast_rows,
        "recommender": incentive_rows,
        "sizes": sizes,
        "seconds": time.perf_counter() - began,
    }


def render(measured: dict, *, partners: int, parts: tuple[str, ...] = PARTS) -> str:
    """One seed's tables (markdown)."""
    header = [
        f"## Scenario suite (seed {measured['seed']}; partners capped at {partners}; "
        f"wall time {measured['seconds'] / 60:.1f} min)",
        "",
        "Sizes: " + "; ".join(measured["sizes"]) + ".",
    ]
    forecaster = [
        "",
        "### Forecaster: rolling-origin backtest, horizons 1-4, all folds pooled",
        "",
        markdown(measured["forecaster"]),
        "",
        "`expected`: WAPE of the world's expected revenue on the same rows; `floor`: of it "
        "scaled by the factor that scores best in hindsight (the mean is not the best "
        "point for absolute error where revenue is lumpy); `gap closed` = (best baseline - "
        "model) / (best baseline - floor); `x ridge` < 1: the model beats the ridge; `coverage by "
        "h`: 80 % interval coverage at horizons 1/2/3/4.",
    ]
    recommender = [
        "",
        "### Recommender: next quarter's policy, net value on the truth / oracle's",
        "",
        markdown(measured["recommender"]),
        "",
        "`everyone`: everyone gets the `most common` incentive. "
        "`model - avg`: the model's true net minus that of the true-average-effect policy, "
        "a share of the oracle's, with its standard error over partners `(se)`. "
        "`@25%`: within a budget of 25% of the oracle's spend (share of the oracle within "
        "it). `reported net`: the recommender's own expected net for its choices; "
        "`model net`: their true net. With no true effect (`no_effect`) the oracle is 0 "
        "and only money is shown. "
        "`spent / history`: spend over the history's average quarterly incentive spend. "
        "`effect se`: median partner-clustered standard error of the incentives' average "
        "relative effects (what the data permits). `avg policy DR z`: the doubly-robust value "
        "on the training rows of the true-average-effect policy over its partner-clustered "
        "standard error (how clearly the history can tell that policy from none). "
        "`cover80`: share of the true per-partner uplifts inside the reported 80% interval, "
        "over every option and over the chosen ones.",
    ]
    body = header
    if "forecaster" in parts:
        body += forecaster
    if "recommender" in parts:
        body += recommender
    return "\n".join(body)


ACROSS = {
    "forecaster": ("WAPE", "x best baseline", "x ridge", "gap closed", "coverage 80"),
    "recommender": ("model", "avg effect", "segment effect", "reported / true", "partners given"),
}
"""The columns the across-seeds summary follows, per part."""


def across_seeds(measured: list[dict], parts: tuple[str, ...] = PARTS) -> str:
    """Per scenario, each column of :data:`ACROSS` at every world seed, and the mean of the
    numeric ones over the seeds where it is a number (a choice judged on one world seed is
    judged on that world's noise)."""
    seeds = [m["seed"] for m in measured]
    out = [f"## Across world seeds {', '.join(map(str, seeds))}"]
    for part in parts:
        rows = []
        by_seed = [{r["scenario"]: r for r in m[part]} for m in measured]
        for name in by_seed[0]:
            row: dict = {"scenario": name}
            for column in ACROSS[part]:
                values = [b.get(name, {}).get(column) for b in by_seed]
                row[column] = " / ".join(_fmt(v) if v is not None else "-" for v in values)
                numbers = [v for v in values if isinstance(v, int | float) and np.isfinite(v)]
                if numbers and len(numbers) == len(values):
                    row[f"{column} mean"] = _fmt(float(np.mean(numbers)))
            rows.append(row)
        label = "net / oracle" if part == "recommender" else "P50"
        out += ["", f"### {part.capitalize()} ({label}), seeds {' / '.join(map(str, seeds))}"]
        out += ["", markdown(rows)]
    return "\n".join(out)


def run(
    names: list[str],
    *,
    partners: int,
    folds: int,
    seed: int | list[int],
    parts: tuple[str, ...] = PARTS,
    uplift_params: dict | None = None,
) -> str:
    """The suite's report: one seed's tables, or with several seeds each seed's tables after
    the across-seeds summary."""
    seeds = [seed] if isinstance(seed, int) else list(seed)
    measured = [
        measure(
            names,
            partners=partners,
            folds=folds,
            seed=s,
            parts=parts,
            uplift_params=uplift_params,
        )
        for s in seeds
    ]
    tables = [render(m, partners=partners, parts=parts) for m in measured]
    if len(measured) == 1:
        return tables[0]
    return "\n\n".join([across_seeds(measured, parts), *tables])


def main(argv: list[str] | None = None) -> None:
    from features.world import SCENARIOS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="comma-separated")
    parser.add_argument("--quick", action="store_true", help="300 partners, 2 folds")
    parser.add_argument("--partners", type=int, default=None, help="cap (default 1000)")
    parser.add_argument("--folds", type=int, default=None, help="default 4 (quick 2)")
    parser.add_argument(
        "--seed",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[42],
        help="world (and model) seed; several, comma-separated (42,7,11): each seed's tables "
        "and a summary across them",
    )
    parser.add_argument(
        "--only", choices=PARTS, default=None, help="run one half of the suite (default both)"
    )
    parser.add_argument(
        "--uplift-params",
        type=json.loads,
        default=None,
        help='the recommender\'s UpliftModel parameters, JSON, e.g. {"prior_centre": "pooled"}',
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/scenarios.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.exit(2, f"unknown scenarios {unknown}; known: {', '.join(SCENARIOS)}\n")
    partners = args.partners or (QUICK_PARTNERS if args.quick else DEFAULT_PARTNERS)
    folds = args.folds or (QUICK_FOLDS if args.quick else 4)
    parts = (args.only,) if args.only else PARTS
    report = run(
        names,
        partners=partners,
        folds=folds,
        seed=args.seed,
        parts=parts,
        uplift_params=args.uplift_params,
    )
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report + "\n", encoding="utf-8")
    _say(f"wrote {args.out}")


if __name__ == "__main__":
    main()
