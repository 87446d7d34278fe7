"""Benchmark of the channel KPIs: speed, and how honest the MDF return is.

1. Speed: partner and group KPIs (no models) on simulated worlds of several sizes, as of
   the last date, and at a mid-quarter date with a February fiscal year.
2. MDF return against the ground truth (only when a champion recommender trained on the
   demo data is in the registry at ``MLFLOW_TRACKING_URI`` or ``mlruns/``): per partner,
   the true incremental revenue per MDF dollar next quarter (``_truth/incentive_effects``)
   against the recommender's estimate (``mdf_roi``) and the naive revenue-per-dollar
   ratio; Spearman rank correlation and the mean over partners.

    .venv/bin/python -m benchmarks.kpis [--sizes 2000 10000] [--data data/demo]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == ROOT / "benchmarks":
    sys.path[0] = str(ROOT)  # run as a script: don't shadow the ``features`` package

log = logging.getLogger("benchmarks.kpis")


def _speed(partners: int, quarters: int) -> list[dict]:
    import pandas as pd

    from features.calendar import QuarterCalendar
    from features.data import Dataset
    from features.data.reader import coerce_table
    from features.reporting import build_partner_kpis, group_kpis
    from features.world import simulate_world

    world = simulate_world(partners, quarters, seed=7)
    ds = Dataset(
        **{t: coerce_table(t, f).frame for t, f in world.tables.items()},
        present=frozenset(world.tables),
    )
    rows = []
    mid = pd.Timestamp(world.as_of) - pd.Timedelta(days=45)
    for label, as_of, calendar in [
        ("last date, calendar FY", world.as_of, QuarterCalendar(1)),
        ("mid-quarter, FY from Feb", mid, QuarterCalendar(2)),
    ]:
        start = time.perf_counter()
        frame = build_partner_kpis(ds, as_of=as_of, calendar=calendar)
        partner_s = time.perf_counter() - start
        start = time.perf_counter()
        for level in ("region", "tier", "partner_type"):
            group_kpis(frame, level)
        rows.append(
            {
                "world": f"{partners:,} x {quarters}",
                "bookings": len(ds.bookings),
                "as of": label,
                "partners": len(frame),
                "partner KPIs s": partner_s,
                "3 group levels s": time.perf_counter() - start,
            }
        )
    return rows


def _mdf_honesty(data: Path) -> list[dict] | str:
    import numpy as np
    import pandas as pd

    from features.calendar import QuarterCalendar
    from features.data import load_dataset
    from features.names import RECOMMENDER_MODEL
    from features.reporting import build_partner_kpis
    from features.reporting.kpi_sources import mdf_return_per_dollar
    from features.scoring import NoChampionError, load_champion
    from features.settings import Settings

    settings = Settings()
    if not settings.has_tracking_store:
        return "no MLflow store: run `make train` first"
    try:
        champion = load_champion(RECOMMENDER_MODEL, settings.resolved_tracking_uri)
    except NoChampionError as exc:
        return str(exc)
    recommender = champion.model.recommender
    ds = load_dataset(data)
    if pd.Timestamp(recommender.as_of) != ds.last_date.normalize():
        return f"the champion is as of {recommender.as_of.date()}, the data ends {ds.last_date}"
    effects = pd.read_csv(data / "_truth" / "incentive_effects.csv", keep_default_na=False)
    mdf = effects[(effects["incentive"] == "mdf") & (effects["horizon"] == 1)]
    mdf = mdf.set_index(mdf["partner_id"].astype(str))
    truth = mdf["expected_uplift"] / mdf["expected_cost"]
    kpis = build_partner_kpis(
        ds,
        as_of=ds.last_date,
        calendar=QuarterCalendar(),
        mdf_roi=mdf_return_per_dollar(recommender, "mdf"),
    ).set_index("partner_id")
    rows = []
    for name, column in [
        ("recommender mdf_roi", "mdf_roi"),
        ("naive revenue per MDF dollar", "mdf_revenue_per_dollar_naive"),
    ]:
        both = pd.DataFrame({"truth": truth, "value": kpis[column]}).dropna()
        rows.append(
            {
                "measure": name,
                "partners": len(both),
                "spearman vs truth": both.corr(method="spearman").iloc[0, 1],
                "mean": both["value"].mean(),
                "true mean (same partners)": both["truth"].mean(),
                "median abs error": float(np.median(np.abs(both["value"] - both["truth"]))),
            }
        )
    return rows


def _markdown(rows: list[dict]) -> str:
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [
            f"{v:,.3f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v)
            for v in row.values()
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--quarters", type=int, default=20)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "demo")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    speed = []
    for size in args.sizes:
        log.info("KPIs on %d partners x %d quarters", size, args.quarters)
        speed += _speed(size, args.quarters)
    print("## KPI speed (no models)\n")
    print(_markdown(speed))
    print("\n## MDF return against the ground truth (demo world, champion recommender)\n")
    honesty = _mdf_honesty(args.data)
    print(honesty if isinstance(honesty, str) else _markdown(honesty))


if __name__ == "__main__":
    main()
