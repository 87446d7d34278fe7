"""Benchmark of the incentive recommender and the partner ranking on the demo world.

Simulates a demo world in-process, trains on its tables only (the truth is used to score),
and prints a markdown table: the true net value (uplift - cost, from the world's
``incentive_effects`` for the quarter after the as-of date) of each policy as a share of the
oracle's, with and without a budget, and NDCG@50 of the partner ranking against the true
value of each partner's best incentive.

    .venv/bin/python benchmarks/recommend.py [--partners N] [--quarters Q] [--seed S]
        [--budget-share 0.25] [--world default|heterogeneous|no_effect]

The budget is ``--budget-share`` of what the oracle spends; the notes compare the net the
recommender reports for its choices with their true net, and the share of true uplifts
inside its 80 % intervals (``benchmarks/recommend_worlds.py`` holds the test worlds).
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

from benchmarks.recommend_worlds import WORLDS  # noqa: E402

SEGMENTS = ("partner_type", "tier", "region")
log = logging.getLogger("benchmarks.recommend")


def _growth(ds, spec, as_of, features: pd.DataFrame, seed: int) -> pd.Series:
    """Forecast P50 of next quarter minus last quarter's revenue (a small forecaster)."""
    from features.frames import build_forecast_frame, build_scoring_frame
    from training.forecast import QuantileForecaster

    train = build_forecast_frame(ds, spec=spec, horizons=1, data_end=as_of)
    cols = list(spec.feature_columns)
    model = QuantileForecaster(
        quantiles=(0.5,), conformal=False, n_estimators=150, random_state=seed, n_jobs=1
    )
    model.fit(train[cols], train["target"].to_numpy())
    score = build_scoring_frame(ds, as_of=as_of, spec=spec, horizon=1)
    p50 = model.predict(score[cols])
    last = features.set_index("partner_id")["revenue_lag_1"]
    ids = score["partner_id"].astype(str).to_numpy()
    return pd.Series(p50 - last.reindex(ids).to_numpy(dtype=np.float64), index=ids)


def _row(name: str, value: float, oracle: float, spent: float, partners: int) -> dict:
    return {
        "policy": name,
        "net value": value,
        "share of oracle": value / oracle if oracle > 0 else float("nan"),
        "spent": spent,
        "partners with an incentive": partners,
    }


def _evaluate(name, rec, effects, oracle) -> dict:
    from training.incentives import policy_net_value

    value = policy_net_value(rec[["partner_id", "incentive"]], effects)
    true_cost = effects.set_index(["partner_id", "incentive"])["expected_cost"]
    given = rec.loc[rec["incentive"] != "none"]
    keys = pd.MultiIndex.from_arrays(
        [given["partner_id"].astype(str).to_numpy(), given["incentive"].astype(str).to_numpy()]
    )
    true_cost.index = true_cost.index.set_levels([lv.astype(str) for lv in true_cost.index.levels])
    spent = float(true_cost.reindex(keys).sum())
    return _row(name, value, oracle, spent, len(given))


def _reference_rows(model, X, features, effects, cost_frame, ids, oracle) -> list[dict]:
    """Policies that know part of the ground truth: how far the data can take any model.

    Each uses the model's own base revenue and the learned costs, and knows the true
    relative effects (uplift / revenue without an incentive) to some degree: only each
    incentive's money-weighted average; those effects projected on partner type, tier,
    region and a new-partner flag (the segments the simulator builds them from); or
    every partner's own.
    """
    from features.scoring import recommend_incentives

    names = model.incentives_
    revenue = effects.pivot(index="partner_id", columns="incentive", values="expected_revenue")
    uplift = effects.pivot(index="partner_id", columns="incentive", values="expected_uplift")
    none = revenue["none"].reindex(ids).fillna(0.0).to_numpy()
    rel = uplift[names].reindex(ids).to_numpy() / np.where(none > 0, none, np.nan)[:, None]
    rel = np.nan_to_num(rel)
    base = model.predict_base(X)[:, None]
    average = np.average(rel, axis=0, weights=none + 1e-9)[None, :]
    design = pd.concat(
        [pd.get_dummies(features[c].astype(str), dtype=float) for c in SEGMENTS], axis=1
    )
    design["new"] = (features["tenure_quarters"].fillna(0).to_numpy() <= 4).astype(float)
    D = design.to_numpy()
    sw = np.sqrt(none + 1e-9)[:, None]
    coef = np.linalg.lstsq(D * sw, rel * sw, rcond=None)[0]
    rows = []
    for label, relative in [
        ("knows each incentive's true average effect", np.repeat(average, len(ids), axis=0)),
        ("knows the true effects by type + tier + region + new", D @ coef),
        ("knows every partner's true effect", rel),
    ]:
        up = pd.DataFrame(relative * base, columns=names, index=X.index)
        rec = recommend_incentives(up, cost_frame, ids)
        rows.append(_evaluate(f"reference: {label}", rec, effects, oracle))
    return rows


def _choices(ids: np.ndarray, incentive: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"partner_id": ids, "incentive": incentive})


def run(
    partners: int,
    quarters: int,
    seed: int,
    budget_share: float,
    world_name: str,
    uplift_params: dict | None = None,
) -> str:
    from benchmarks.recommend_worlds import history_quarterly_spend, honesty, world_params
    from features.calendar import QuarterCalendar
    from features.frames import build_features, build_recommender_frame, fit_feature_spec
    from features.scoring import rank_by_last_revenue, rank_partners
    from features.scoring.policy import choose_within_budget, recommend_incentives
    from features.world.simulate import simulate_world, world_dataset
    from training.incentives import IncentiveRecommender, NaiveUpliftModel
    from training.incentives.uplift_eval import ndcg_at_k, oracle_net_value, randomized_contrasts

    began = time.perf_counter()
    world = simulate_world(partners, quarters, seed=seed, params=world_params(world_name))
    ds = world_dataset(world)
    spec = fit_feature_spec(ds, as_of=world.as_of, calendar=QuarterCalendar())
    frame = build_recommender_frame(ds, spec=spec, data_end=world.as_of)
    features = build_features(ds, as_of=world.as_of, spec=spec)
    cols = list(spec.partner_feature_columns)
    X = features[cols]
    ids = features["partner_id"].astype(str).to_numpy()
    eff = world.truth["incentive_effects"]
    effects = eff.loc[eff["horizon"] == 1].copy()
    effects["partner_id"] = effects["partner_id"].astype(str)
    effects["incentive"] = effects["incentive"].astype(str)
    oracle = oracle_net_value(effects)
    log.info("world and frames ready in %.0fs", time.perf_counter() - began)

    t0 = time.perf_counter()
    model = IncentiveRecommender(uplift_params=uplift_params, random_state=seed)
    model.fit(frame, feature_columns=cols)
    fit_seconds = time.perf_counter() - t0
    main, costs = model.uplift_, model.cost_
    cost_frame = costs.predict_costs(X)
    truth_cost = effects.pivot(index="partner_id", columns="incentive", values="expected_cost")
    names = costs.incentives_
    rel_err = np.abs(cost_frame[names].to_numpy() / truth_cost.loc[ids, names].to_numpy() - 1)
    notes = [f"cost model: median relative error {np.median(rel_err):.1%} against true cost"]
    main_name = "recommender (IncentiveRecommender)"
    rec_main = model.recommend(features)
    rows = [_evaluate(main_name, rec_main, effects, oracle)]
    naive = NaiveUpliftModel(random_state=seed).fit(frame, feature_columns=cols)
    rec_naive = recommend_incentives(naive.predict_uplift(X), cost_frame, ids)
    rows.append(_evaluate("naive treated-vs-untreated LightGBM", rec_naive, effects, oracle))
    rows += _reference_rows(main, X, features, effects, cost_frame, ids, oracle)
    rng = np.random.default_rng(seed)
    options = np.asarray(["none", *names], dtype=object)
    random_pick = options[rng.integers(0, len(options), len(ids))]
    rows.append(_evaluate("random incentive", _choices(ids, random_pick), effects, oracle))
    rows.append(
        _evaluate("none for all", _choices(ids, np.full(len(ids), "none")), effects, oracle)
    )
    common = frame.loc[frame["incentive"] != "none", "incentive"].value_counts().index[0]
    rows.append(
        _evaluate(
            f"everyone gets {common}", _choices(ids, np.full(len(ids), common)), effects, oracle
        )
    )

    # -- with a budget: a share of what the oracle spends ----------------------------------
    true_net = effects.assign(net=effects["expected_uplift"] - effects["expected_cost"])
    net_m = true_net.pivot(index="partner_id", columns="incentive", values="net").loc[ids, names]
    best = np.where(net_m.to_numpy().max(axis=1) > 0, net_m.to_numpy().argmax(axis=1), -1)
    on = best >= 0
    oracle_spend = float(truth_cost.loc[ids, names].to_numpy()[np.flatnonzero(on), best[on]].sum())
    budget = budget_share * oracle_spend
    opt = choose_within_budget(net_m.to_numpy(), truth_cost.loc[ids, names].to_numpy(), budget)
    picked = np.where(opt >= 0, np.asarray(names, dtype=object)[np.maximum(opt, 0)], "none")
    b_oracle = _evaluate("oracle within budget", _choices(ids, picked), effects, oracle)[
        "net value"
    ]
    budget_rows = []
    rec_budget = model.recommend(features, budget=budget)
    assert rec_budget["cost"].sum() <= budget
    budget_rows.append(_evaluate(main_name, rec_budget, effects, b_oracle))
    rec = recommend_incentives(naive.predict_uplift(X), cost_frame, ids, budget=budget)
    budget_rows.append(_evaluate("naive treated-vs-untreated LightGBM", rec, effects, b_oracle))
    order = rng.permutation(len(ids))
    rand_b = np.full(len(ids), "none", dtype=object)
    left = budget
    for i in order:
        k = rng.integers(0, len(names))
        c = cost_frame.iloc[i][names[k]]
        if c <= left:
            rand_b[i], left = names[k], left - c
    budget_rows.append(
        _evaluate("random incentive until the budget", _choices(ids, rand_b), effects, b_oracle)
    )

    # -- ranking -----------------------------------------------------------------------------
    relevance = net_m.max(axis=1).clip(lower=0)
    growth = _growth(ds, spec, world.as_of, features, seed)
    rank_rows = []
    for label, weight in [("net of best incentive", 0.0), ("net + 0.1 x forecast growth", 0.1)]:
        ranked = rank_partners(rec_main, growth=growth, growth_weight=weight)
        rank_rows.append((label, ndcg_at_k(ranked["partner_id"].to_numpy(), relevance, 50)))
    ranked = rank_partners(rec_naive, growth=growth, growth_weight=0.0)
    rank_rows.append(
        ("naive model's net", ndcg_at_k(ranked["partner_id"].to_numpy(), relevance, 50))
    )
    base = rank_by_last_revenue(features)
    rank_rows.append(
        ("last quarter's revenue", ndcg_at_k(base["partner_id"].to_numpy(), relevance, 50))
    )

    contrasts = randomized_contrasts(
        frame.iloc[main.oof_uplift_["row"]].reset_index(drop=True), main.oof_uplift_
    )
    base = pd.Series(main.predict_base(X), index=ids)
    honest = {f"no budget: {k}": v for k, v in honesty(rec_main, effects, base).items()}
    honest |= {f"budget: {k}": v for k, v in honesty(rec_budget, effects, base).items()}
    given = rec_main["incentive"] != "none"
    metrics, _ = model.evaluation(frame)
    if "heldout_dr_net" in metrics:
        notes.append(
            "held-out (training rows, no truth): reported net {:,.0f}, DR net {:,.0f} "
            "(se {:,.0f}), calibration {:.2f}".format(
                metrics["heldout_reported_net"],
                metrics["heldout_dr_net"],
                metrics["heldout_dr_net_se"],
                metrics["heldout_net_calibration"],
            )
        )
    notes += [
        f"world {world_name}: recommender fit {fit_seconds:.0f}s",
        f"oracle spend {oracle_spend:,.0f}; history's average quarterly incentive spend "
        f"{history_quarterly_spend(ds.incentives):,.0f}; the recommender spends (learned "
        f"cost) {rec_main['cost'].sum():,.0f} on {int(given.sum())} partners "
        f"({given.mean():.1%}); none for {1 - given.mean():.1%}",
        *[f"{k}: {v:,.3f}" for k, v in honest.items()],
        "reported / true net of chosen: "
        + ", ".join(
            f"{p} {honest[f'{p}: reported_net'] / honest[f'{p}: true_net_of_chosen']:.2f}"
            for p in ("no budget", "budget")
            if honest.get(f"{p}: true_net_of_chosen")
        ),
        f"overlap: {main.overlap_}",
        f"selection: {getattr(main, 'effect_model_', getattr(main, 'effect_trees_', None))}",
        "relative effects (partner-clustered se): "
        + ", ".join(
            f"{a} {main.effect_constant_[a]:+.3f} ({main.effect_se_[a]:.3f})"
            for a in main.incentives_
        ),
        f"total {time.perf_counter() - began:.0f}s",
    ]
    return _markdown(
        partners,
        quarters,
        seed,
        oracle,
        rows,
        budget,
        b_oracle,
        budget_rows,
        rank_rows,
        contrasts,
        notes,
    )


def _table(rows: list[dict]) -> list[str]:
    out = [
        "| policy | net value | share of oracle | true cost | partners with an incentive |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['policy']} | {r['net value']:,.0f} | {r['share of oracle']:.3f} | "
            f"{r['spent']:,.0f} | {r['partners with an incentive']} |"
        )
    return out


def _markdown(
    partners,
    quarters,
    seed,
    oracle,
    rows,
    budget,
    b_oracle,
    budget_rows,
    rank_rows,
    contrasts,
    notes,
) -> str:
    lines = [
        f"## Recommender benchmark: {partners} partners x {quarters} quarters, seed {seed}",
        "",
        f"Oracle net value next quarter: {oracle:,.0f}",
        "",
    ]
    lines += _table(rows)
    lines += [
        "",
        f"### Budget {budget:,.0f} (share is of the oracle within the same budget: "
        f"{b_oracle:,.0f})",
        "",
    ]
    lines += _table(budget_rows)
    lines += [
        "",
        "### Ranking: NDCG@50 against the true net of each partner's best incentive",
        "",
        "| ranking | NDCG@50 |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {value:.3f} |" for name, value in rank_rows]
    lines += ["", "### Randomized rows: each incentive against the other randomized incentives", ""]
    lines += [
        "| incentive | treated | control | qini | auuc | uplift@30% |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.incentive} | {r.n_treated} | {r.n_control} | {r.qini:,.0f} | {r.auuc:,.0f} | "
        f"{r.uplift_at_k:,.0f} |"
        for r in contrasts.itertuples()
    ]
    lines += [""] + [f"- {n}" for n in notes]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=2000)
    parser.add_argument("--quarters", type=int, default=20)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--budget-share", type=float, default=0.25)
    parser.add_argument("--world", choices=WORLDS, default="default")
    parser.add_argument(
        "--uplift-params", type=json.loads, default=None, help='JSON, e.g. {"selection_se": 0.5}'
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    print(
        run(
            args.partners,
            args.quarters,
            args.seed,
            args.budget_share,
            args.world,
            args.uplift_params,
        )
    )


if __name__ == "__main__":
    main()
