"""The ``--dask`` path against the single-process one: feature frames at scale, boosters' accuracy.

Frames (``--data DIR``, a world written by ``partnercast demo-data --parts K``, which draws and
writes it part by part, never whole in one process): the forecaster's training data
(``prepare_training_data``: spec, forecast frame, panel) built once in one process and once
with the frames on a LocalCluster of ``--workers`` worker processes, each mode in its own
process; wall and CPU seconds of the build, the calling process's peak memory and each
worker's. Both modes load the whole dataset in the calling process first (not timed in the
build, reported apart): the workers do not read the parts themselves yet.

Accuracy (``--accuracy DIR``, a small world): the forecaster's backtest (default settings)
in one process and with the quantile boosters on ``lightgbm.dask`` over the workers; P50
WAPE and 80% coverage of each.

    .venv/bin/python benchmarks/dask_scale.py --data /tmp/w --workers 2 \\
        [--accuracy data/demo] [--out benchmarks/results/dask_scale.md]

Needs the Dask extra (``uv sync --extra dask``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def _worker_peak_gib() -> float:
    import resource as res

    return res.getrusage(res.RUSAGE_SELF).ru_maxrss / 2**20


def _cpu() -> float:
    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def frames_mode(data: Path, mode: str, workers: int) -> dict:
    """One mode's measurements (run in a process of its own)."""
    from features.calendar import QuarterCalendar
    from features.data import load_dataset
    from training.forecast import prepare_training_data

    t0 = time.time()
    ds = load_dataset(data)
    loaded = time.time() - t0
    load_peak = _peak_gib()
    out = {"mode": mode, "partners": len(ds.partners), "load_s": loaded, "load_gib": load_peak}
    cal = QuarterCalendar()
    if mode == "single":
        t, c = time.time(), _cpu()
        prepared = prepare_training_data(ds, as_of=None, calendar=cal)
        out.update(build_s=time.time() - t, cpu_s=_cpu() - c, workers_gib=[])
    else:
        from features.distributed import DaskFrames, dask_client

        with dask_client(f"local:{workers}") as client:
            t, c = time.time(), _cpu()
            frames = DaskFrames(client, ds)
            prepared = prepare_training_data(
                ds, as_of=None, calendar=cal, build_frame=frames.forecast_frame
            )
            out["build_s"] = time.time() - t
            out["cpu_s"] = _cpu() - c  # the calling process's only
            peaks = client.run(_worker_peak_gib)
            out["workers_gib"] = sorted(peaks.values())
            out["partitions"] = frames.parts
    out.update(rows=len(prepared.frame), peak_gib=_peak_gib())
    return out


def accuracy(data: Path, workers: int) -> dict:
    from features.calendar import QuarterCalendar
    from features.data import load_dataset
    from features.distributed import dask_client
    from training.forecast import MODEL, ForecastConfig, backtest_forecaster, prepare_training_data
    from training.jobs.dask_training import boosters_on

    ds = load_dataset(data)
    prepared = prepare_training_data(ds, as_of=None, calendar=QuarterCalendar())
    config = ForecastConfig()

    def timed() -> dict:
        t = time.time()
        result = backtest_forecaster(prepared, config, with_baselines=False)
        return {
            "wape": result.metric(MODEL, "wape"),
            "coverage_80": result.metric(MODEL, "coverage_80"),
            "s": time.time() - t,
        }

    out = {"partners": len(ds.partners), "rows": len(prepared.frame), "single": timed()}
    with dask_client(f"local:{workers}") as client, boosters_on(client):
        out["dask"] = timed()
    return out


def _child(args: list[str]) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode})")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _table(frames: list[dict], acc: dict | None, workers: int) -> str:
    lines = [f"# --dask against one process (LocalCluster of {workers} worker processes)"]
    if frames:
        lines += [
            "",
            "Forecaster training data (spec, forecast frame, panel), after loading the dataset:",
            "",
            "| mode | partners | frame rows | load s | build s | caller CPU s | caller peak GiB "
            "| workers' peak GiB |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
    for f in frames:
        workers_gib = ", ".join(f"{g:.2f}" for g in f["workers_gib"]) or "-"
        lines.append(
            f"| {f['mode']} | {f['partners']:,} | {f['rows']:,} | {f['load_s']:.0f} "
            f"| {f['build_s']:.0f} | {f['cpu_s']:.0f} | {f['peak_gib']:.2f} | {workers_gib} |"
        )
    if acc:
        lines += [
            "",
            f"Backtest, default settings, {acc['partners']:,} partners ({acc['rows']:,} rows):",
            "",
            "| boosters | P50 WAPE | 80% coverage | backtest s |",
            "|---|---:|---:|---:|",
        ]
        for name, label in (("single", "lightgbm.train"), ("dask", "lightgbm.dask")):
            r = acc[name]
            lines.append(f"| {label} | {r['wape']:.4f} | {r['coverage_80']:.3f} | {r['s']:.0f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--accuracy", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", choices=["single", "dask", "accuracy"], default=None)
    args = parser.parse_args()
    if args.child == "accuracy":
        print(json.dumps(accuracy(args.accuracy, args.workers)))
        return
    if args.child:
        print(json.dumps(frames_mode(args.data, args.child, args.workers)))
        return
    common = ["--workers", str(args.workers)]
    frames = []
    if args.data is not None:
        for mode in ("single", "dask"):
            frames.append(_child(["--child", mode, "--data", str(args.data), *common]))
            print(json.dumps(frames[-1]), file=sys.stderr)
    acc = None
    if args.accuracy is not None:
        acc = _child(["--child", "accuracy", "--accuracy", str(args.accuracy), *common])
    text = _table(frames, acc, args.workers)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
