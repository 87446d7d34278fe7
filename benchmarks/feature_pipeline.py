"""Benchmark of the feature pipeline on the demo world.

For each size (partners x quarters) it builds, in a fresh subprocess, the forecaster frame
over every quarter-end cutoff plus a scoring frame as of the world's last date, and prints
rows/s and peak memory (``ru_maxrss`` of that subprocess, which includes the loaded data).
The world is simulated and written as typed parquet by another subprocess first, so the
simulator's own memory does not count.

    .venv/bin/python -m benchmarks.feature_pipeline [--sizes 1000 10000 50000] [--quarters 20]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == ROOT / "benchmarks":
    sys.path[0] = str(ROOT)  # run as a script: don't shadow the ``features`` package

log = logging.getLogger("benchmarks.feature_pipeline")


def _prepare(partners: int, quarters: int, out: Path) -> None:
    """Simulate the demo world and write typed tables as parquet."""
    from features.data import TABLES
    from features.data.reader import coerce_table
    from features.world import simulate_world

    world = simulate_world(partners, quarters, seed=7)
    out.mkdir(parents=True, exist_ok=True)
    for table in TABLES:
        coerce_table(table, world.tables[table]).frame.to_parquet(out / f"{table}.parquet")
    (out / "as_of.txt").write_text(world.as_of.date().isoformat())


def _load(folder: Path):  # -> Dataset
    import pandas as pd

    from features.data.dataset import COLUMNS, TABLES, Dataset, dtype_of

    frames = {}
    for table in TABLES:
        frame = pd.read_parquet(folder / f"{table}.parquet")
        for col in COLUMNS[table]:
            frame[col.name] = frame[col.name].astype(dtype_of(col))
        frames[table] = frame
    return Dataset(**frames, present=frozenset(TABLES))


def _measure(folder: Path) -> dict[str, float]:
    """Build the frames once and report sizes, times and peak memory of this process."""
    from features.calendar import QuarterCalendar
    from features.frames import build_forecast_frame, build_scoring_frame, fit_feature_spec

    ds = _load(folder)
    as_of = (folder / "as_of.txt").read_text().strip()
    loaded_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    began = time.perf_counter()
    spec = fit_feature_spec(ds, as_of=as_of, calendar=QuarterCalendar())
    fit_s = time.perf_counter() - began
    began = time.perf_counter()
    forecast = build_forecast_frame(ds, spec=spec)
    forecast_s = time.perf_counter() - began
    began = time.perf_counter()
    scoring = build_scoring_frame(ds, as_of=as_of, spec=spec)
    scoring_s = time.perf_counter() - began
    return {
        "bookings": len(ds.bookings),
        "opportunities": len(ds.opportunities),
        "activities": len(ds.activities),
        "forecast_rows": len(forecast),
        "columns": forecast.shape[1],
        "scoring_rows": len(scoring),
        "fit_s": fit_s,
        "forecast_s": forecast_s,
        "scoring_s": scoring_s,
        "loaded_mib": loaded_rss,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _run(args: list[str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.feature_pipeline", *args],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    return done.stdout


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--quarters", type=int, default=20)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "pc-bench")
    parser.add_argument("--prepare", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(_measure(args.measure)))
        return
    if args.prepare:
        _prepare(args.prepare, args.quarters, args.cache)
        return

    header = (
        f"{'partners':>8} {'quarters':>8} {'bookings':>10} {'opps':>9} {'activities':>10} "
        f"{'fc rows':>9} {'cols':>5} {'fit s':>6} {'forecast s':>10} {'score s':>7} "
        f"{'rows/s':>9} {'data MiB':>8} {'peak MiB':>8}"
    )
    print(header)
    for partners in args.sizes:
        folder = args.cache / f"world-{partners}x{args.quarters}"
        if not (folder / "as_of.txt").exists():
            _run(
                [
                    "--prepare",
                    str(partners),
                    "--quarters",
                    str(args.quarters),
                    "--cache",
                    str(folder),
                ]
            )
        r = json.loads(_run(["--measure", str(folder)]).strip().splitlines()[-1])
        total = r["forecast_s"] + r["scoring_s"]
        rows_per_s = (r["forecast_rows"] + r["scoring_rows"]) / total
        print(
            f"{partners:>8} {args.quarters:>8} {r['bookings']:>10} {r['opportunities']:>9} "
            f"{r['activities']:>10} {r['forecast_rows']:>9} {r['columns']:>5} "
            f"{r['fit_s']:>6.1f} {r['forecast_s']:>10.1f} {r['scoring_s']:>7.1f} "
            f"{rows_per_s:>9.0f} {r['loaded_mib']:>8.0f} {r['peak_mib']:>8.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
