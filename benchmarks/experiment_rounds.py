"""Benchmark of the holdout loop: plan, play the quarter with the world's truth, retrain.

On the heterogeneous world (issue 17's "done means"): train the recommender, then for each
round either **explore** (``plan_experiment`` with ``--share`` of the partners drawn at
random, the recommender's choice for the rest) or **follow** (the recommender's choice for
everyone, nothing randomized), play the quarter forward with the world's own truth
(:func:`features.world.extend_world`), and retrain on the longer history. Prints a
markdown table per arm and round: the true net value of the recommender's plan for the
next quarter over the oracle's, the true net of what was played over that quarter's oracle
(what exploring cost), and the calibration of the new model's uplifts against the latest
randomized quarter (slope 1, intercept 0 when right in scale).

    nice -n 10 .venv/bin/python benchmarks/experiment_rounds.py [--partners 1000]
        [--quarters 20] [--seeds 7,8,9] [--share 0.2] [--rounds 2] [--out FILE.md]

The recommender is fitted as ``train`` fits it (``IncentiveRecommender``, no forecaster,
no MLflow: the growth outlook does not enter its choices); the truth only scores.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == ROOT / "benchmarks":
    sys.path[0] = str(ROOT)  # run as a script: don't shadow the ``features`` package

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

log = logging.getLogger("benchmarks.experiment_rounds")
ARMS = ("explore", "follow")


def _truth(folder: Path, quarter: pd.Timestamp) -> pd.DataFrame:
    effects = pd.read_csv(folder / "_truth" / "incentive_effects.csv", keep_default_na=False)
    effects = effects[pd.to_datetime(effects["quarter_start"]) == quarter]
    return effects.assign(
        partner_id=effects["partner_id"].astype(str), incentive=effects["incentive"].astype(str)
    )


def _share(choice: pd.DataFrame, effects: pd.DataFrame) -> float:
    from training.incentives.uplift_eval import oracle_net_value, policy_net_value

    return policy_net_value(choice, effects) / oracle_net_value(effects)


def _fit(folder: Path, seed: int):
    """The recommender fitted on ``folder`` as of its last date, and its scoring objects."""
    from features.calendar import QuarterCalendar
    from features.data import load_dataset
    from features.frames import build_features, build_recommender_frame, fit_feature_spec
    from features.scoring import FILTERS, PartnerRecommender
    from training.incentives import IncentiveRecommender

    ds = load_dataset(folder)
    as_of = ds.as_of(None)
    spec = fit_feature_spec(ds, as_of=as_of, calendar=QuarterCalendar())
    frame = build_recommender_frame(ds, spec=spec, data_end=as_of)
    cols = list(spec.partner_feature_columns)
    model = IncentiveRecommender(random_state=seed).fit(frame, feature_columns=cols)
    features = build_features(ds, as_of=as_of, spec=spec)
    chosen = model.recommend(features)
    prefixes = ("uplift_", "cost_", "p10_uplift_", "p90_uplift_")
    keep = [c for c in chosen.columns if c == "partner_id" or c.startswith(prefixes)]
    ids = chosen["partner_id"].astype(str)
    scoring = PartnerRecommender(
        options=chosen[keep].reset_index(drop=True),
        attributes=features[["partner_id", *FILTERS]].astype("string").reset_index(drop=True),
        growth=pd.Series(0.0, index=ids.to_numpy()),
        as_of=as_of,
    )
    return ds, spec, model, chosen, scoring, as_of


def _round(folder: Path, seed: int) -> dict:
    from training.jobs.experiment_calibration import latest_experiment_calibration

    began = time.perf_counter()
    ds, spec, model, chosen, scoring, as_of = _fit(folder, seed)
    effects = _truth(folder, _next_quarter(as_of))
    found = latest_experiment_calibration(ds, model, spec, as_of=as_of)
    quarter, cal = found if found is not None else (None, None)
    row = {
        "as_of": str(as_of.date()),
        "policy / oracle": _share(chosen[["partner_id", "incentive"]].astype(str), effects),
        "net rank corr": _net_rank_correlation(chosen, effects),
        "calibration quarter": "" if quarter is None else str(quarter.date()),
        "slope": np.nan if cal is None else cal.slope,
        "slope ci": (np.nan, np.nan) if cal is None else cal.slope_ci,
        "intercept": np.nan if cal is None else cal.intercept,
        "intercept ci": (np.nan, np.nan) if cal is None else cal.intercept_ci,
        "fit seconds": time.perf_counter() - began,
    }
    log.info("round on %s: %s", folder.name, row)
    return {"row": row, "ds": ds, "chosen": chosen, "scoring": scoring, "as_of": as_of}


def _net_rank_correlation(chosen: pd.DataFrame, effects: pd.DataFrame) -> float:
    """Spearman correlation of predicted and true net (uplift - cost) over every partner and
    incentive of the next quarter: how well the model orders the options, not only picks."""
    names = [c[len("uplift_") :] for c in chosen.columns if c.startswith("uplift_")]
    predicted = chosen.melt(
        id_vars="partner_id", value_vars=[f"uplift_{n}" for n in names], var_name="incentive"
    )
    costs = chosen.melt(
        id_vars="partner_id", value_vars=[f"cost_{n}" for n in names], var_name="incentive"
    )
    predicted["incentive"] = predicted["incentive"].str[len("uplift_") :]
    predicted["net"] = predicted["value"].to_numpy() - costs["value"].to_numpy()
    truth = effects.assign(true=effects["expected_uplift"] - effects["expected_cost"])
    both = predicted.assign(partner_id=predicted["partner_id"].astype(str)).merge(
        truth[["partner_id", "incentive", "true"]], on=["partner_id", "incentive"]
    )
    return float(both["net"].rank().corr(both["true"].rank()))


def _decisions(arm: str, state: dict, share: float, seed: int) -> pd.DataFrame:
    from features.calendar import QuarterCalendar
    from features.reporting.experiment_plan import plan_experiment

    if arm == "follow":
        chosen = state["chosen"]
        return pd.DataFrame(
            {"partner_id": chosen["partner_id"].astype(str), "arm": chosen["incentive"]}
        ).assign(randomized=False)
    plan = plan_experiment(
        state["scoring"], state["ds"], share=share, seed=seed, calendar=QuarterCalendar()
    )
    return plan.assignments[["partner_id", "arm", "randomized"]].astype({"partner_id": str})


def run(partners: int, quarters: int, seed: int, share: float, rounds: int, work: Path) -> list:
    """The table's rows for one world (seed)."""
    from features.world import extend_world, get_scenario, simulate_world, write_world

    work = work / f"seed{seed}"
    scenario = get_scenario("heterogeneous")
    start = work / "round0"
    write_world(simulate_world(partners, quarters, seed=seed, params=scenario.params), start)
    first = _round(start, seed)
    rows = [{"arm": "start", "round": 0, "played / oracle": np.nan, "drawn": 0, **first["row"]}]
    rows[0]["seed"] = seed
    for arm in ARMS:
        state, folder = first, start
        for r in range(1, rounds + 1):
            decisions = _decisions(arm, state, share, seed + r)
            quarter = _next_quarter(state["as_of"])
            nxt = work / f"{arm}{r}"
            extend_world(folder, decisions, seed=seed + r, out=nxt)
            played = decisions.rename(columns={"arm": "incentive"})[["partner_id", "incentive"]]
            played_share = _share(played, _truth(nxt, quarter))
            state, folder = _round(nxt, seed), nxt
            rows.append(
                {
                    "arm": arm,
                    "round": r,
                    "played / oracle": played_share,
                    "drawn": int(decisions["randomized"].sum()),
                    "seed": seed,
                    **state["row"],
                }
            )
    return rows


def _next_quarter(as_of: pd.Timestamp) -> pd.Timestamp:
    """First day of the quarter after ``as_of`` (the quarter a plan plays)."""
    from features.calendar import QuarterCalendar

    return pd.Timestamp(QuarterCalendar().horizon_starts(as_of, 1)[0])


def _ci(pair: tuple[float, float]) -> str:
    return "" if np.isnan(pair[0]) else f"[{pair[0]:+.2f}, {pair[1]:+.2f}]"


def _fmt(value: float, spec: str) -> str:
    return "" if np.isnan(value) else format(value, spec)


def _markdown(partners, quarters, seeds, share, rows, total) -> str:
    lines = [
        f"# Holdout rounds on the heterogeneous world ({partners} partners, {quarters} "
        f"quarters, seeds {', '.join(map(str, seeds))}, share {share:g})",
        "",
        "`policy / oracle`: true net of the retrained recommender's plan for the next quarter "
        "over the oracle's; `played / oracle`: true net of what the round played (the plan "
        "with its drawn arms, or the recommender's choices) over that quarter's oracle; "
        "`net rank corr`: Spearman correlation of the model's and the true net over every "
        "partner and incentive of the next quarter; calibration of the retrained model's "
        "uplifts against the latest randomized quarter (slope 1, intercept 0 when right).",
        "",
        "## Mean over the seeds",
        "",
        "| arm | round | played / oracle | policy / oracle | net rank corr | slope | intercept |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    frame = pd.DataFrame(rows)
    means = frame.groupby(["round", "arm"], sort=True)[
        ["played / oracle", "policy / oracle", "net rank corr", "slope", "intercept"]
    ].mean()
    for (rnd, arm), m in means.iterrows():
        lines.append(
            f"| {arm} | {rnd} | {_fmt(m['played / oracle'], '.3f')} | "
            f"{m['policy / oracle']:.3f} | {m['net rank corr']:.3f} | "
            f"{_fmt(m['slope'], '.2f')} | {_fmt(m['intercept'], '+.3f')} |"
        )
    lines += [
        "",
        "## Per world",
        "",
        "| seed | arm | round | as of | drawn | played / oracle | policy / oracle | net rank "
        "corr | calibration quarter | slope | slope 95 % | intercept | intercept 95 % |",
        "|---:|---|---:|---|---:|---:|---:|---:|---|---:|---|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['seed']} | {r['arm']} | {r['round']} | {r['as_of']} | {r['drawn']} | "
            f"{_fmt(r['played / oracle'], '.3f')} | {r['policy / oracle']:.3f} | "
            f"{r['net rank corr']:.3f} | {r['calibration quarter']} | "
            f"{_fmt(r['slope'], '.2f')} | {_ci(r['slope ci'])} | "
            f"{_fmt(r['intercept'], '+.3f')} | {_ci(r['intercept ci'])} |"
        )
    fits = ", ".join(f"{r['fit seconds']:.0f}" for r in rows)
    lines += ["", f"fit + scoring seconds per round: {fits}; total {total:.0f}s"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partners", type=int, default=1000)
    parser.add_argument("--quarters", type=int, default=20)
    parser.add_argument(
        "--seeds", default="7", help="world seeds, comma-separated (each its own world)"
    )
    parser.add_argument("--share", type=float, default=0.2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    seeds = [int(s) for s in args.seeds.split(",")]
    began = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="experiment_rounds.") as tmp:
        for seed in seeds:
            rows += run(args.partners, args.quarters, seed, args.share, args.rounds, Path(tmp))
    total = time.perf_counter() - began
    text = _markdown(args.partners, args.quarters, seeds, args.share, rows, total)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
