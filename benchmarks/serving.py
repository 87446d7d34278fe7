"""HTTP API benchmark: latency and throughput of the real server, next to in-process scoring.

    .venv/bin/python benchmarks/serving.py                       # trains a demo champion
    .venv/bin/python benchmarks/serving.py --tracking-uri sqlite:///$PWD/mlruns/mlflow.db

Starts ``python -m serving.run`` on a free port on 127.0.0.1 (one worker, auth off,
no polling), then times, with bounded loops: a single-partner forecast, a 1,000-partner
batch, a recommendation (skipped with a note while the recommender has no champion),
and the throughput of 16 concurrent clients asking single-partner forecasts; next to
the same rows scored in process (``PartnerForecaster.forecast``, one LightGBM thread).
Targets on 2 cores: single forecast p99 < 50 ms, 1,000-partner batch < 500 ms, no errors.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features.names import FORECASTER_MODEL  # noqa: E402
from features.scoring import NoChampionError, load_champion  # noqa: E402

log = logging.getLogger("benchmarks.serving")
FAST = {"n_estimators": 100, "learning_rate": 0.1, "num_leaves": 31, "min_child_samples": 20}


def train_demo_champion(root: Path, partners: int) -> str:
    """A champion on a demo world in a temporary store; its tracking URI."""
    from features.data import load_dataset
    from features.settings import Settings
    from features.world import simulate_world, write_world
    from training.forecast import ForecastConfig
    from training.jobs import forecaster_run as train_module

    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    (root / "mlruns").mkdir(parents=True)
    write_world(simulate_world(partners=partners, quarters=12, seed=11), root / "demo")
    os.environ["MLFLOW_TRACKING_URI"] = uri
    train_module.COVERAGE_RANGE = (0.0, 1.0)  # a benchmark needs a champion, not a gate
    ds = load_dataset(root / "demo")
    outcome = train_module.train_forecaster(
        ds,
        data_path=root / "demo",
        as_of=None,
        settings=Settings(store_dir=root / "mlruns"),
        config=ForecastConfig(horizon=4, folds=2, params=FAST, seed=7),
    )
    from mlflow import MlflowClient

    from training.jobs import GateDecision
    from training.jobs import recommender_run as rec_module

    rec_module.recommender_gate = lambda metrics: GateDecision.from_checks({"benchmark": True})
    rec_module.train_recommender(
        ds,
        outcome.data,
        outcome.forecaster,
        client=MlflowClient(uri, uri),
        experiment_id=outcome.experiment_id,
        seed=7,
    )
    return uri


def start_server(uri: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERCAST_")}
    env.update(
        MLFLOW_TRACKING_URI=uri,
        PARTNERCAST_RELOAD_SECONDS="0",
        PYTHONPATH=str(ROOT),
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "serving.run", "--host", "127.0.0.1", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=(workdir / "server.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    while time.monotonic() - started < 180:
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                log.info("server ready in %.1f s", time.monotonic() - started)
                return process, url
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.25)
    process.terminate()
    raise RuntimeError((workdir / "server.log").read_text()[-2000:])


def timed(call: Callable[[], object], n: int, warmup: int = 3) -> np.ndarray:
    """Milliseconds of ``n`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        call()
    out = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        call()
        out[i] = (time.perf_counter() - t0) * 1000
    return out


def http_call(client: httpx.Client, path: str, body: dict, errors: list[int]) -> Callable:
    def call() -> None:
        r = client.post(path, json=body)
        if r.status_code != 200:
            errors.append(r.status_code)

    return call


def throughput(url: str, body: dict, clients: int, per_client: int) -> tuple[float, int, float]:
    """Requests per second, errors, p99 ms with ``clients`` threads each sending in turn."""
    errors: list[int] = []
    latencies: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            mine = []
            for _ in range(per_client):
                t0 = time.perf_counter()
                try:
                    r = client.post("/forecast", json=body)
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                mine.append((time.perf_counter() - t0) * 1000)
                if not ok:
                    with lock:
                        errors.append(1)
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    return clients * per_client / elapsed, len(errors), float(np.percentile(latencies, 99))


def row(label: str, ms: np.ndarray, inproc: np.ndarray | None, errors: int) -> str:
    p = np.percentile(ms, [50, 99])
    q = np.percentile(inproc, [50, 99]) if inproc is not None else (np.nan, np.nan)
    return f"| {label} | {len(ms)} | {p[0]:.1f} | {p[1]:.1f} | {q[0]:.1f} | {q[1]:.1f} | {errors} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", default=None, help="use this registry's champion")
    parser.add_argument("--partners", type=int, default=1500, help="demo world size to train")
    parser.add_argument("--single", type=int, default=300, help="single-partner requests")
    parser.add_argument("--batches", type=int, default=20, help="1,000-partner requests")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--per-client", type=int, default=40)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)

    with tempfile.TemporaryDirectory(prefix="partnercast-bench-") as tmp:
        workdir = Path(tmp)
        uri = args.tracking_uri
        if uri is None:
            log.info("training a demo champion (%d partners)...", args.partners)
            uri = train_demo_champion(workdir, args.partners)
        try:
            forecaster = load_champion(FORECASTER_MODEL, uri).model.forecaster
        except NoChampionError as exc:
            log.error("%s", exc)
            return 1
        ids = [str(p) for p in forecaster.partner_ids]
        if len(ids) < 1000:
            log.error("the champion knows %d partners; the batch needs 1,000", len(ids))
            return 1
        one, batch = ids[:1], ids[:1000]
        process, url = start_server(uri, workdir)
        try:
            errors: list[int] = []
            lines = [
                "| request | n | HTTP p50 ms | HTTP p99 ms | in-process p50 ms"
                " | in-process p99 ms | errors |",
                "|---|---:|---:|---:|---:|---:|---:|",
            ]
            with httpx.Client(base_url=url, timeout=60) as client:
                single_body = {"partner_ids": one, "horizon": 4}
                ms = timed(http_call(client, "/forecast", single_body, errors), args.single)
                local = timed(lambda: forecaster.forecast(one, 4, num_threads=1), args.single)
                lines.append(row("forecast, 1 partner x 4 quarters", ms, local, len(errors)))
                errors.clear()
                body = {"partner_ids": batch, "horizon": 4}
                ms = timed(http_call(client, "/forecast", body, errors), args.batches)
                local = timed(lambda: forecaster.forecast(batch, 4, num_threads=1), args.batches)
                lines.append(row("forecast, 1,000 partners x 4 quarters", ms, local, len(errors)))
                errors.clear()
                ms = timed(
                    http_call(client, "/forecast", {**single_body, "explain": True}, errors),
                    args.single // 3,
                )
                local = timed(
                    lambda: forecaster.drivers(forecaster.snapshot_rows(one, 4), num_threads=1),
                    args.single // 3,
                )
                lines.append(row("forecast + drivers, 1 partner", ms, local, len(errors)))
                errors.clear()
                ms = timed(
                    http_call(client, "/forecast/aggregate", {"group_by": "region"}, errors), 10
                )
                local = timed(lambda: forecaster.aggregate("region", 4, num_threads=1), 10)
                lines.append(row("aggregate by region", ms, local, len(errors)))
                probe = client.post("/recommend", json={"partner_ids": one})
                if probe.status_code == 200:
                    errors.clear()
                    ms = timed(http_call(client, "/recommend", {"partner_ids": one}, errors), 100)
                    lines.append(row("recommend, 1 partner", ms, None, len(errors)))
                    note = ""
                else:
                    note = f"recommend skipped: {probe.json().get('error')}"
            rps, errs, p99 = throughput(url, single_body, args.clients, args.per_client)
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(f"\n{len(ids)} partners in the model; server: 1 worker, 2 threads, 127.0.0.1\n")
    print("\n".join(lines))
    print(
        f"\nthroughput, {args.clients} concurrent clients x {args.per_client} single-partner "
        f"forecasts: {rps:.0f} requests/s, p99 {p99:.1f} ms, {errs} errors"
    )
    if note:
        print(f"\n{note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
