"""partnercast against peer libraries, side by side in one run (``make bench``).

    .venv/bin/python benchmarks/peers.py [--data data/demo] [--folds 4] [--out FILE.md]

1. Forecasting: the rolling-origin backtest of ``training.forecast.backtest`` (same folds, horizons
   1-4, same rows) for our forecaster, and the same rows forecast by Nixtla ``mlforecast``
   (LightGBM, conformal intervals), ``statsforecast`` AutoETS and SeasonalNaive.
2. Incentive uplift: our DR-learner against ``causalml``'s X-learner and DR-learner with
   LightGBM, on the same recommender frame; each policy picks per partner the incentive with
   the highest uplift minus cost (our learned cost model for all), ``none`` when nothing pays.

The peers run in their own uv project (``benchmarks/peers_env``: pandas < 3, CPU-only
xgboost), created on first use, and exchange files with this side: the dataset in the
contract format, plus the rows, features and folds written here. Every model is scored here by
the same code (``features.metrics`` via ``training.forecast.backtest.metrics_table``,
``training.incentives.uplift_eval``). Logs go to stderr; the markdown table to stdout and ``--out``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == ROOT / "benchmarks":
    sys.path[0] = str(ROOT)  # run as a script: don't shadow the ``features`` package

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

log = logging.getLogger("benchmarks.peers")

PEERS_ENV = ROOT / "benchmarks" / "peers_env"
OURS = "lightgbm"  # our forecaster's prefix in the backtest predictions
FILL = "seasonal_naive"  # our baseline that fills rows a peer cannot forecast
FORECAST_PEERS = {
    "mlforecast": "mlforecast LightGBM + conformal",
    "statsforecast_autoets": "statsforecast AutoETS",
    "statsforecast_seasonal_naive": "statsforecast SeasonalNaive",
}
UPLIFT_PEERS = {
    "causalml_x_learner": "causalml X-learner (LightGBM)",
    "causalml_dr_learner": "causalml DR-learner (LightGBM)",
}
KEYS = ["partner_id", "as_of", "horizon"]
THREADS = {  # one thread each: OpenMP / numba threads crawl on a shared two-core machine
    "OMP_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


@dataclass(frozen=True)
class Filled:
    """Rows a peer could not forecast, filled from our seasonal-naive baseline."""

    rows: int
    total: int
    revenue_share: float
    missing: np.ndarray  # one flag per backtest row


def merge_forecasts(
    predictions: pd.DataFrame, name: str, peer: pd.DataFrame
) -> tuple[pd.DataFrame, Filled]:
    """Add ``{name}_p10/p50/p90`` from ``peer`` (keys + p10, p50, p90) to the backtest rows.

    Rows the peer left empty (or missing) get our seasonal-naive forecast and interval.
    """
    peer = peer.assign(
        as_of=pd.to_datetime(peer["as_of"]), partner_id=peer["partner_id"].astype(str)
    )
    keyed = predictions.assign(partner_id=predictions["partner_id"].astype(str))[KEYS]
    got = keyed.merge(peer, on=KEYS, how="left", validate="one_to_one")
    cols = ["p10", "p50", "p90"]
    missing = got[cols].isna().any(axis=1).to_numpy()
    out = predictions.copy()
    for c in cols:
        out[f"{name}_{c}"] = np.where(missing, out[f"{FILL}_{c}"], got[c].to_numpy(float))
    actual = out["actual"].abs()
    share = float(actual[missing].sum() / actual.sum()) if actual.sum() > 0 else 0.0
    return out, Filled(int(missing.sum()), len(out), share, missing)


def forecast_metrics(predictions: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """Over all horizons: wape, mase, pinball, coverage_80 per model (rows), same code as
    the backtest (``training.forecast.backtest.metrics_table``)."""
    from training.forecast import metrics_table

    m = metrics_table(predictions, models)
    m = m[m["horizon"] == "all"].pivot(index="model", columns="metric", values="value")
    return m.loc[models, ["wape", "mase", "pinball", "coverage_80"]]


def policy_scores(
    uplift: pd.DataFrame, costs: pd.DataFrame, ids: np.ndarray, effects: pd.DataFrame | None
) -> tuple[pd.DataFrame, float]:
    """The policy (best uplift - cost, ``none`` when nothing pays) and its true net / oracle's
    (NaN without ground truth)."""
    from features.scoring import recommend_incentives
    from training.incentives import oracle_net_value, policy_net_value

    names = [c for c in uplift.columns if c in costs.columns]
    rec = recommend_incentives(uplift[names], costs[names], ids)
    if effects is None:
        return rec, float("nan")
    return rec, policy_net_value(rec[["partner_id", "incentive"]], effects) / oracle_net_value(
        effects
    )


def mean_qini(rows: pd.DataFrame, oof: pd.DataFrame) -> float:
    """Mean over incentives of the Qini coefficient on randomized rows (each incentive against
    the other randomized incentives, ``training.incentives.uplift_eval.randomized_contrasts``)."""
    from training.incentives.uplift_eval import randomized_contrasts

    return float(randomized_contrasts(rows, oof)["qini"].mean())


# -- our side -----------------------------------------------------------------------------
def run_ours(data_dir: Path, folds: int, seed: int, fy_start_month: int, exchange: Path) -> dict:
    """Our backtest and recommender; writes the peers' inputs into ``exchange``."""
    from features.calendar import QuarterCalendar
    from features.data import load_dataset
    from features.frames import build_features, build_recommender_frame
    from training.forecast import ForecastConfig, backtest_forecaster, prepare_training_data
    from training.incentives import IncentiveCostModel, UpliftModel

    ds = load_dataset(data_dir)
    began, began_cpu = time.perf_counter(), time.process_time()
    data = prepare_training_data(ds, as_of=None, calendar=QuarterCalendar(fy_start_month))
    features_seconds = time.perf_counter() - began
    features_cpu = time.process_time() - began_cpu
    log.info("our forecaster: rolling-origin backtest, %d folds", folds)
    began = time.perf_counter()
    result = backtest_forecaster(data, ForecastConfig(folds=folds, seed=seed))
    out: dict = {"as_of": data.as_of, "backtest": result, "times": {}}
    # features + fit + predict, as the peers' times (mlforecast builds its lags in fit)
    out["times"][OURS] = features_seconds + result.model_seconds
    out["times"]["ours_cpu"] = features_cpu + result.model_cpu_seconds  # the load moves it less
    out["times"]["backtest"] = time.perf_counter() - began
    rows = result.predictions[KEYS].assign(partner_id=lambda f: f["partner_id"].astype(str))
    rows.to_parquet(exchange / "forecast_rows.parquet", index=False)
    spec = {"data": str(data_dir.resolve()), "fy_start_month": fy_start_month, "seed": seed}
    spec["arms"] = []  # no incentives: no uplift comparison
    if "incentives" in ds.present and len(ds.incentives):
        frame = build_recommender_frame(ds, spec=data.spec, data_end=data.as_of)
        features = build_features(ds, as_of=data.as_of, spec=data.spec)
        cols = list(data.spec.partner_feature_columns)
        log.info("our recommender: uplift (DR-learner) and cost models")
        began = time.perf_counter()
        uplift = UpliftModel(random_state=seed, n_jobs=1).fit(frame, feature_columns=cols)
        ours = uplift.predict_uplift(features[cols])
        out["times"]["uplift"] = time.perf_counter() - began
        costs = IncentiveCostModel(random_state=seed, n_jobs=1).fit(frame, feature_columns=cols)
        train = frame.iloc[uplift.oof_uplift_["row"].to_numpy()].reset_index(drop=True)
        fold = np.zeros(len(train), dtype=np.int64)
        for k, te in enumerate(uplift.folds_):
            fold[te] = k
        train = train[["partner_id", "incentive", "revenue", "randomized", *cols]].assign(
            row=uplift.oof_uplift_["row"].to_numpy(), fold=fold
        )
        train.to_parquet(exchange / "uplift_train.parquet", index=False)
        features[["partner_id", *cols]].to_parquet(exchange / "uplift_score.parquet", index=False)
        spec |= {"arms": list(uplift.arms_), "uplift_features": cols}
        out |= {
            "uplift": uplift,
            "uplift_ours": ours,
            "costs": costs.predict_costs(features[cols]),
            "ids": features["partner_id"].astype(str).to_numpy(),
            "train": train,
        }
    (exchange / "spec.json").write_text(json.dumps(spec, indent=2))
    return out


# -- the peers' environment ------------------------------------------------------------------
def run_peers(exchange: Path, uv: str) -> float:
    """``uv run --project benchmarks/peers_env --locked python -m peers_runner all``."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    }
    env |= THREADS | {
        "NUMBA_CACHE_DIR": str(PEERS_ENV / ".cache" / "numba"),
        "NIXTLA_NUMBA_CACHE": "1",
        "PYTHONPATH": str(PEERS_ENV),
    }
    if not (PEERS_ENV / ".venv").exists():
        log.info(
            "creating the peers' environment in %s (first use: about 160 MB to download "
            "beyond the service's own packages, 850 MB installed)",
            PEERS_ENV,
        )
    tail = ["run", "--project", str(PEERS_ENV), "--locked", "python", "-m", "peers_runner"]
    command = [*shlex.split(uv), *tail, "all", "--exchange", str(exchange)]
    log.info("peers: %s", " ".join(command))
    began = time.perf_counter()
    subprocess.run(command, cwd=PEERS_ENV, env=env, check=True)  # its stderr is ours
    return time.perf_counter() - began


# -- scoring and the table ------------------------------------------------------------------
def _truth(data_dir: Path, as_of: pd.Timestamp) -> pd.DataFrame | None:
    path = data_dir / "_truth" / "incentive_effects.csv"
    if not path.exists():
        return None
    eff = pd.read_csv(path, dtype={"partner_id": str, "incentive": str})
    eff = eff.loc[eff["horizon"] == 1].copy()
    starts = pd.to_datetime(eff["quarter_start"]).unique()
    first = pd.Timestamp(starts[0]) if len(starts) == 1 else None
    if first is None or not first - pd.DateOffset(months=3) <= as_of < first:
        log.warning("ground truth horizon 1 is not the quarter after %s: ignored", as_of.date())
        return None
    return eff


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.{digits}f}"


def forecast_section(ours: dict, exchange: Path) -> tuple[list[str], list[str], list[str]]:
    """Table rows and notes of the forecasting comparison."""
    predictions = ours["backtest"].predictions.copy()
    info = json.loads((exchange / "forecast_info.json").read_text())
    actual = pd.read_parquet(exchange / "forecast_actual.parquet")
    same = actual.assign(p10=actual["actual"], p50=actual["actual"], p90=actual["actual"])
    check, _ = merge_forecasts(predictions, "check", same.drop(columns="actual"))
    mismatch = int((~np.isclose(check["check_p50"], check["actual"], atol=0.01)).sum())
    filled = {}
    for name in FORECAST_PEERS:
        peer = pd.read_parquet(exchange / f"forecast_{name}.parquet")
        predictions, filled[name] = merge_forecasts(predictions, name, peer)
    models = [OURS, *FORECAST_PEERS, FILL]
    table = forecast_metrics(predictions, models)
    seconds = {OURS: ours["times"][OURS], **info["fit_predict_seconds"]}
    labels = {OURS: "partnercast forecaster (LightGBM quantiles)", **FORECAST_PEERS}
    labels[FILL] = "seasonal naive (partnercast baseline, fills peers' gaps)"
    rows = [
        f"| forecast | {labels[m]} | {table.loc[m, 'wape']:.3f} | {table.loc[m, 'mase']:.3f} "
        f"| {table.loc[m, 'pinball']:,.0f} | {table.loc[m, 'coverage_80']:.3f} | – | – "
        f"| {_fmt(seconds.get(m), 1)} |"
        for m in models
    ]
    n_folds = predictions["as_of"].nunique()
    notes = [
        f"forecast rows: {len(predictions):,} partner-quarters, {n_folds} rolling-origin folds "
        f"(cutoffs {', '.join(str(d.date()) for d in sorted(predictions['as_of'].unique()))}), "
        "horizons 1-4 where the target quarter is known; MASE scaled per fold by the in-sample "
        "seasonal-naive error, as in the backtest",
        f"the peers built their own quarterly series from the contract files: "
        f"{mismatch} of {len(predictions):,} actuals differ from ours",
    ]
    for name, f in filled.items():
        if f.rows:
            notes.append(
                f"{FORECAST_PEERS[name]} could not forecast {f.rows:,} of {f.total:,} rows "
                f"({f.revenue_share:.1%} of actual revenue; series too short for it): filled "
                "with the seasonal-naive baseline and its interval"
            )
    common = ~np.any([f.missing for f in filled.values()], axis=0)
    if common.any() and not common.all():
        sub = forecast_metrics(predictions[common].reset_index(drop=True), models)
        notes.append(
            f"on the {int(common.sum()):,} rows every peer forecast itself, WAPE / 80% coverage: "
            + "; ".join(
                f"{labels[m]} {sub.loc[m, 'wape']:.3f} / {sub.loc[m, 'coverage_80']:.3f}"
                for m in models
            )
        )
    search = ", ".join(f"{k} {v:.4f}" for k, v in info["mlforecast_search_wape"].items())
    notes.append(
        f"mlforecast target transform: {info['mlforecast_target_transform']} (validation WAPE "
        f"at the cutoff a year before the first test cutoff: {search}; "
        f"{info['mlforecast_search_seconds']:.0f}s, not in its time)"
    )
    notes.append(
        f"fit+predict: summed over the {n_folds} folds; ours is the feature frame (built once "
        "for every fold) plus each fold's feature screen, three quantile boosters with "
        "conformal calibration and the test-fold prediction (the whole backtest, with the "
        f"baselines and the ridge reference next to it: {ours['times']['backtest']:.1f}s; "
        f"ours in CPU time, which the machine's load moves less: "
        f"{ours['times']['ours_cpu']:.1f}s); "
        f"statsforecast's one-off warm-up ({info['statsforecast_jit_warm_up_seconds']:.1f}s) "
        "is not in its time"
    )
    return rows, notes, info["settings"]


def uplift_section(
    ours: dict, exchange: Path, data_dir: Path
) -> tuple[list[str], list[str], list[str]]:
    """Table rows and notes of the uplift comparison."""
    info = json.loads((exchange / "uplift_info.json").read_text())
    effects = _truth(data_dir, ours["as_of"])
    up, train, ids = ours["uplift"], ours["train"], ours["ids"]
    names = list(up.incentives_)
    costs = ours["costs"].reset_index(drop=True)
    candidates = {
        "partnercast DR-learner (relative, size-weighted)": (
            ours["uplift_ours"].reset_index(drop=True),
            up.oof_uplift_[names],
            ours["times"]["uplift"],
        )
    }
    for name, label in UPLIFT_PEERS.items():
        score = pd.read_parquet(exchange / f"uplift_{name}_score.parquet")
        oof = pd.read_parquet(exchange / f"uplift_{name}_oof.parquet")
        if not np.array_equal(oof["row"].to_numpy(), train["row"].to_numpy()):
            raise ValueError(f"{name}: out-of-fold rows do not match the training rows")
        score = score.set_index("partner_id").loc[ids, names].reset_index(drop=True)
        candidates[label] = (score, oof[names], info["seconds"][f"{name}_fit_predict"])
    rows, given = [], []
    for label, (uplift, oof, secs) in candidates.items():
        rec, share = policy_scores(uplift, costs, ids, effects)
        qini = mean_qini(train, oof.reset_index(drop=True))
        rows.append(
            f"| uplift | {label} | – | – | – | – | {_fmt(share)} | {_fmt(qini)} | {secs:.1f} |"
        )
        given.append(f"{label} {int((rec['incentive'] != 'none').sum())}")
    oof_s = ", ".join(
        f"{label} {info['seconds'][f'{name}_out_of_fold']:.0f}s"
        for name, label in UPLIFT_PEERS.items()
    )
    levels = {
        c: train[c].nunique()
        for c in up.effect_columns_
        if isinstance(train[c].dtype, pd.CategoricalDtype)
    }
    notes = [
        "our effect stage's columns: "
        + ", ".join(f"{c} ({levels[c]} levels)" if c in levels else c for c in up.effect_columns_),
        f"uplift: {len(train):,} partner-quarters of the recommender frame "
        f"({int(train['randomized'].sum()):,} randomized), {len(ids):,} partners scored as of "
        f"{ours['as_of'].date()}, incentives {', '.join(names)}, control none",
        "net value / oracle: true net (uplift - cost) of each policy next quarter from "
        "`_truth/incentive_effects.csv`, over the oracle's; costs from our cost model for all"
        if effects is not None
        else "net value / oracle: no `_truth/` folder in the data, so no ground truth",
        "partners given an incentive: " + "; ".join(given),
        "Qini: mean over incentives of the Qini coefficient on randomized rows, each incentive "
        "against the other randomized incentives, from out-of-fold predictions over the same "
        "partner folds for all (revenue units; higher is better)",
        f"fit+predict: our uplift model's time includes its own cross-fitting; the peers' is one "
        f"fit on all rows plus scoring, after a shared cross-fitted LightGBM propensity "
        f"({info['seconds']['propensity']:.0f}s) and out-of-fold fits for Qini ({oof_s}), "
        "not in their times",
    ]
    return rows, notes, info["settings"]


SETTINGS = [
    "partnercast forecaster: `training.forecast.backtest.ForecastConfig` defaults "
    "(LightGBM P10/P50/P90 on asinh revenue from the sales-ops offset, conformal per horizon)",
    "partnercast uplift: `training.incentives.uplift.UpliftModel` defaults "
    "(what `IncentiveRecommender` fits), the same features for every uplift model: "
    "`FeatureSpec.partner_feature_columns`",
    "policy for every uplift model: per partner the incentive with the highest uplift - cost, "
    "`none` when nothing pays (`features.scoring.policy.recommend_incentives`), costs from our "
    "`training.incentives.costs.IncentiveCostModel`",
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "demo")
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "peers.md")
    parser.add_argument("--exchange", type=Path, default=None, help="keep the exchanged files here")
    parser.add_argument("--seed", type=int, default=None, help="default: PARTNERCAST_SEED or 42")
    parser.add_argument("--uv", default=os.environ.get("UV", shutil.which("uv") or "uv"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    from features.data import DataContractError
    from features.settings import Settings

    settings = Settings()
    seed = settings.seed if args.seed is None else args.seed
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        exchange = args.exchange or Path(tmp)
        exchange.mkdir(parents=True, exist_ok=True)
        try:
            ours = run_ours(args.data, args.folds, seed, settings.fy_start_month, exchange)
        except DataContractError as error:  # the CLI's convention: a report and exit code 2
            print(error, file=sys.stderr)
            raise SystemExit(2) from error
        peers_s = run_peers(exchange, args.uv)
        rows, notes, peer_settings = forecast_section(ours, exchange)
        if "uplift" in ours:
            more = uplift_section(ours, exchange, args.data)
            rows, notes, peer_settings = rows + more[0], notes + more[1], peer_settings + more[2]
    total = time.perf_counter() - began
    notes.append(
        f"times in seconds on this machine: 2 cores shared with other jobs, so pessimistic; "
        f"every LightGBM single-threaded; the peers' process took {peers_s:.0f}s "
        f"(environment sync included), the whole run {total:.0f}s"
    )
    report = "\n".join(
        [
            f"## partnercast against peer libraries: {args.data}, seed {seed}",
            "",
            "| task | model | WAPE | MASE | pinball P10/P50/P90 | 80% coverage "
            "| net value / oracle | Qini (randomized) | fit+predict s |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
            "Settings:",
            "",
            *[f"- {s}" for s in [*SETTINGS, *peer_settings]],
            "",
            "Notes:",
            "",
            *[f"- {n}" for n in notes],
        ]
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report + "\n")
    print(report)
    log.info("written to %s", args.out)


if __name__ == "__main__":
    main()
