"""How ``partnercast train`` scales with the number of partners, on one machine.

For each size it writes a demo world (``partnercast demo-data --partners N --quarters Q``,
not timed) and runs ``partnercast train`` on it in a fresh store, each in its own process,
and prints wall time (total, the forecaster's part up to its champion, the recommender's
after it, read from the log's own timestamps), peak memory (``ru_maxrss`` of the train
process), CPU seconds (user + system, steadier than wall time on a shared machine) and
seconds per 1,000 partners, so "roughly flat cost per partner" can be read
off the last column. The logs stay in the work folder (printed) for a closer look.

    .venv/bin/python benchmarks/train_scale.py [--sizes 2000 10000] [--quarters 12]
        [--out benchmarks/results/train_scale.md]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND = Path(sys.executable).with_name("partnercast")
STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}),(\d{3}) \w+ ([\w.]+): ?(.*)$")
# the recommender's steps, each ending at the first log line matching its pattern (after
# the step before): nuisance models cross-fitted and refitted (up to the overlap report),
# one effect model per incentive (up to the last choice), the rest of the fit and its
# evaluation (up to scoring), then scoring every partner and logging to MLflow (to the end)
STEPS = (
    ("nuisances", re.compile(r"propensity clipped")),
    ("effects", re.compile(r"scoring every partner|policy selection")),
    ("evaluation", re.compile(r"scoring every partner")),
)
# the child reports its own peak memory and CPU seconds (user + system: unlike wall time they
# hardly move with the shared machine's load): RUSAGE_CHILDREN of a wrapper that runs one
# command
WRAPPER = (
    "import resource, subprocess, sys; "
    "code = subprocess.call(sys.argv[1:]); "
    "use = resource.getrusage(resource.RUSAGE_CHILDREN); "
    "print(use.ru_maxrss, use.ru_utime + use.ru_stime, file=sys.stderr); "
    "raise SystemExit(code)"
)


def _stamps(log: Path) -> list[tuple[float, str, str]]:
    """(seconds since the epoch, logger name, message) of every timestamped line."""
    found = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        match = STAMP.match(line)
        if match:
            at = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").timestamp()
            found.append((at + int(match.group(2)) / 1000, match.group(3), match.group(4)))
    return found


def recommender_steps(
    stamps: list[tuple[float, str, str]], start: float, end: float
) -> dict[str, float]:
    """Seconds of each of :data:`STEPS` and of ``scoring`` (to ``end``), from the log."""
    out, at = {}, start
    for name, pattern in STEPS:
        hit = next((t for t, _, m in stamps if t >= at and pattern.search(m)), None)
        if hit is None:
            return out
        out[name], at = hit - at, hit
    out["scoring"] = end - at
    return out


def run_train(data: Path, store: Path, log: Path) -> dict[str, float]:
    """``partnercast train --data data`` into ``store``; wall time, parts and peak memory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARTNERCAST_", "MLFLOW_"))}
    env |= {"PARTNERCAST_STORE_DIR": str(store)}
    started = time.time()
    with log.open("wb") as handle:
        done = subprocess.run(
            [sys.executable, "-c", WRAPPER, str(COMMAND), "train", "--data", str(data)],
            stdout=subprocess.DEVNULL,
            stderr=handle,
            env=env,
            check=False,
        )
    ended = time.time()
    lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    if done.returncode != 0:
        raise SystemExit(f"train exited {done.returncode}: see {log}")
    peak_kib, cpu = lines[-1].split()
    stamps = _stamps(log)
    recommender = next(
        (at for at, name, _ in stamps if name.startswith("training.incentives")), ended
    )
    return {
        "seconds": ended - started,
        "forecaster": recommender - started,
        "recommender": ended - recommender,
        "cpu": float(cpu),
        "peak_gib": int(peak_kib) / 2**20,
        **recommender_steps(stamps, recommender, ended),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000])
    parser.add_argument("--quarters", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "train_scale.md"
    )
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="partnercast-scale-"))
    rows = []
    for partners in args.sizes:
        data = work / f"world-{partners}"
        if not (data / "partners.csv").exists():
            print(f"writing a {partners}-partner world to {data}", file=sys.stderr)
            subprocess.run(
                [
                    str(COMMAND),
                    "demo-data",
                    "--out",
                    str(data),
                    "--partners",
                    str(partners),
                    "--quarters",
                    str(args.quarters),
                    "--seed",
                    str(args.seed),
                ],
                check=True,
                stdout=subprocess.DEVNULL,
            )
        print(
            f"training on {partners} partners (log: {work / f'train-{partners}.log'})",
            file=sys.stderr,
        )
        found = run_train(data, work / f"store-{partners}", work / f"train-{partners}.log")
        steps = " | ".join(
            f"{found[k]:.0f}" if k in found else "-" for k in (*(n for n, _ in STEPS), "scoring")
        )
        rows.append(
            f"| {partners:,} | {found['seconds']:.0f} | {found['forecaster']:.0f} | "
            f"{found['recommender']:.0f} | {steps} | {found['peak_gib']:.2f} | "
            f"{found['seconds'] / partners * 1000:.1f} | {found['cpu']:.0f} | "
            f"{found['cpu'] / partners * 1000:.1f} |"
        )
        print(rows[-1], file=sys.stderr)
    load = os.getloadavg()
    table = "\n".join(
        [
            f"`partnercast train` (forecaster and recommender, default settings) on demo worlds of "
            f"{args.quarters} quarters, seed {args.seed}; {os.cpu_count()} cores, load average at "
            f"the end {load[0]:.1f}",
            "",
            "| partners | train s | forecaster s | recommender s | nuisances s | effect models s "
            "| evaluation s | scoring + logging s | peak GiB | s per 1k partners | CPU s "
            "| CPU s per 1k partners |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
        ]
    )
    print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(table + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
