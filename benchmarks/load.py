"""``make load``: sustained load on ``partnercast serve``, through a champion reload and a
dataset change, with throughput and latency per endpoint.

Starts the service on the current champions (``make train`` first) over a copy of the
dataset, with an API key, on a free loopback port; runs ``benchmarks/locustfile.py``
headless (32 users by default: single-partner and 50-partner forecasts, recommendations,
group totals, ranking, KPIs); a third of the way in it calls ``POST /reload``, two thirds in
it changes the dataset (the last booking removed, so ``/kpis`` must reload it). Prints one
markdown table (requests, failures, requests/s, p50, p99 per endpoint) and exits 1 on any
failed request.

The reload is a real promotion: the service runs on a private copy of the embedded
registry (``mlruns/mlflow.db``; the artifacts are read where they are, never written),
in which each champion's model is registered again as a new version and given the
``champion`` alias just before ``POST /reload``, so the service loads, scores and warms
both models under load. With ``MLFLOW_TRACKING_URI`` set (a shared server) nothing is
promoted there and the reload finds nothing new. A probe (one more client, a
single-partner forecast every 50 ms) places slow answers against the two events or
neither: the table after the endpoints' gives its p50/p99 in quiet windows and after
each event.

    .venv/bin/python benchmarks/load.py [--users 32] [--duration 300] [--data data/demo]
"""

from __future__ import annotations

import argparse
import csv
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: import the sibling module below

from benchmarks.live_service import free_port, start_serve, wait_ready  # noqa: E402

BIN = Path(sys.executable).parent
WARM_UP = [
    ("/kpis", {}),
    *[("/kpis", {"group_by": g}) for g in ("region", "tier")],
    *[("/forecast/aggregate", {"group_by": g}) for g in ("region", "tier", "partner_type")],
    ("/forecast/aggregate", {"group_by": "total"}),
    ("/rank", {}),
]


def _partner_ids(data: Path) -> list[str]:
    with (data / "partners.csv").open(newline="", encoding="utf-8") as handle:
        return [row["partner_id"] for row in csv.DictReader(handle)]


def _drop_last_booking(data: Path) -> None:
    """A real change of the dataset that keeps it valid: the last booking row goes."""
    path = data / "bookings.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(lines[:-1]), encoding="utf-8")
    os.replace(tmp, path)


def _promote_again(tracking_uri: str) -> str:
    """Each champion registered again as a new version that takes the ``champion``
    alias: what ``partnercast train`` does when a candidate wins, without training."""
    import mlflow
    from mlflow import MlflowClient

    from features.names import CHAMPION, FORECASTER_MODEL, RECOMMENDER_MODEL

    mlflow.set_tracking_uri(tracking_uri)  # the registry looks the logged model up there
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    moved = []
    for name in (FORECASTER_MODEL, RECOMMENDER_MODEL):
        old = client.get_model_version_by_alias(name, CHAMPION)
        new = client.create_model_version(name, source=old.source, run_id=old.run_id)
        client.set_registered_model_alias(name, CHAMPION, new.version)
        moved.append(f"{name} v{old.version} -> v{new.version}")
    return ", ".join(moved)


def _events(
    url: str,
    key: str,
    data: Path,
    duration: float,
    said: list[str],
    marks: list[float],
    registry: str | None,
) -> None:
    time.sleep(duration / 3)
    if registry is not None:
        try:
            said.append(f"promoted {_promote_again(registry)}")
        except Exception as exc:  # the load goes on; the table says the reload was empty
            said.append(f"promotion failed ({type(exc).__name__}: {exc})")
    marks.append(time.monotonic())
    answer = httpx.post(f"{url}/reload", headers={"Authorization": f"Bearer {key}"}, timeout=60)
    said.append(f"POST /reload at {duration / 3:.0f} s: HTTP {answer.status_code}")
    time.sleep(duration / 3)
    marks.append(time.monotonic())
    _drop_last_booking(data)
    said.append(f"dataset changed at {2 * duration / 3:.0f} s (last booking removed)")


def _probe(url: str, key: str, partner: str, stop: threading.Event) -> list[tuple[float, float]]:
    """One more client, apart from locust's: a single-partner forecast every 50 ms, each
    with its start time, so slow answers can be placed against the reload, the dataset
    change, or neither (a quiet window)."""
    timeline: list[tuple[float, float]] = []
    body = {"partner_ids": [partner], "horizon": 4}
    with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        while not stop.is_set():
            start = time.monotonic()
            try:
                client.post(f"{url}/forecast", json=body).raise_for_status()
            except httpx.HTTPError:
                timeline.append((start, float("inf")))
            else:
                timeline.append((start, 1000 * (time.monotonic() - start)))
            stop.wait(0.05)
    return timeline


def _windows(
    timeline: list[tuple[float, float]], begin: float, marks: list[float], after: float = 30.0
) -> str:
    """The probe's p50/p99/max in quiet windows and in the ``after`` seconds following each
    event, and the slowest answers with their time since the start."""

    def stats(ms: list[float]) -> str:
        if not ms:
            return "| 0 | | | |"
        q = sorted(ms)
        at = lambda p: q[min(len(q) - 1, int(p * len(q)))]  # noqa: E731
        return f"| {len(q):,} | {at(0.5):.0f} | {at(0.99):.0f} | {q[-1]:.0f} |"

    names = ["after POST /reload", "after the dataset change"]
    rows = ["| probe window | answers | p50 ms | p99 ms | max ms |", "|---|---:|---:|---:|---:|"]
    busy = [(m, m + after) for m in marks]
    quiet = [ms for t, ms in timeline if not any(a <= t < b for a, b in busy)]
    rows.append(f"| quiet (outside the {after:.0f} s after each event) " + stats(quiet))
    for name, (a, b) in zip(names, busy, strict=False):
        rows.append(f"| {name} ({after:.0f} s) " + stats([ms for t, ms in timeline if a <= t < b]))
    slow = sorted(timeline, key=lambda tm: -tm[1])[:8]
    rows.append("")
    rows.append("slowest probe answers (s since start: ms): " + ", ".join(
        f"{t - begin:.1f}: {ms:.0f}" for t, ms in sorted(slow)
    ))  # fmt: skip
    return "\n".join(rows)


def _table(stats: Path) -> tuple[str, int]:
    rows = list(csv.DictReader(stats.open(newline="", encoding="utf-8")))
    lines = [
        "| endpoint | requests | failures | requests/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    failures = 0
    for row in rows:
        name = "all" if row["Name"] == "Aggregated" else f"{row['Type']} {row['Name']}"
        failures += int(row["Failure Count"]) if row["Name"] != "Aggregated" else 0
        lines.append(
            f"| {name} | {int(row['Request Count']):,} | {int(row['Failure Count']):,} | "
            f"{float(row['Requests/s']):.1f} | {row['50%']} | {row['99%']} |"
        )
    return "\n".join(lines), failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "demo")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="partnercast-load-"))
    data = work / "data"
    shutil.copytree(args.data, data, ignore=shutil.ignore_patterns("_truth"))
    key = secrets.token_urlsafe(24)
    url = f"http://127.0.0.1:{free_port()}"
    registry = None  # a private copy of the embedded registry, promoted during the run
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        shutil.copy2(ROOT / "mlruns" / "mlflow.db", work / "mlflow.db")
        registry = f"sqlite:///{work / 'mlflow.db'}"
    env = {
        **os.environ,
        **({"MLFLOW_TRACKING_URI": registry} if registry else {}),
        "PARTNERCAST_API_KEY": key,
        "PARTNERCAST_DATA_DIR": str(data),
        "PARTNERCAST_LEDGER_URL": f"sqlite:///{work / 'ledger.db'}",
        "PARTNERCAST_LOAD_PARTNERS": ",".join(_partner_ids(data)),
    }
    print(f"load: {args.users} users for {args.duration:.0f} s against {url}", file=sys.stderr)
    server = start_serve(url, env, work / "server.log")
    said: list[str] = []
    try:
        wait_ready(url, server)
        # first answers build caches (KPI tables per grouping, group totals, the ranking):
        # not part of the load
        for path, body in WARM_UP:
            httpx.post(f"{url}{path}", json=body, headers={"Authorization": f"Bearer {key}"},
                       timeout=120)  # fmt: skip
        marks: list[float] = []
        events = threading.Thread(
            target=_events,
            args=(url, key, data, args.duration, said, marks, registry),
            daemon=True,
        )
        stop = threading.Event()
        probe_result: list[list[tuple[float, float]]] = []
        probe = threading.Thread(
            target=lambda: probe_result.append(
                _probe(url, key, env["PARTNERCAST_LOAD_PARTNERS"].split(",")[0], stop)
            ),
            daemon=True,
        )
        begin = time.monotonic()
        events.start()
        probe.start()
        subprocess.run(
            [
                str(BIN / "locust"), "-f", str(ROOT / "benchmarks" / "locustfile.py"),
                "--headless", "-u", str(args.users), "-r", str(max(1, args.users // 4)),
                "-t", f"{args.duration:.0f}s", "--host", url, "--csv", str(work / "load"),
                "--only-summary", "--loglevel", "WARNING",
            ],
            env=env, check=False, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        events.join(timeout=5)
        stop.set()
        probe.join(timeout=35)
    finally:
        server.terminate()
        server.wait(timeout=60)
    table, failures = _table(work / "load_stats.csv")
    print(f"{args.users} users, {args.duration:.0f} s, 2 cores; " + "; ".join(said) + "\n")
    print(table)
    if probe_result:
        print("\n" + _windows(probe_result[0], begin, marks))
    if failures:
        print((work / "load_failures.csv").read_text(encoding="utf-8"), file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
