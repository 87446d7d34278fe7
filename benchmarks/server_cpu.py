"""Server CPU per request: the serving worker's own CPU time over N requests.

    .venv/bin/python benchmarks/server_cpu.py --requests 1500   # on mlruns/'s champions

Starts ``partnercast serve`` on a free loopback port (the champions of ``mlruns/``), sends
N requests of each kind from 4 client threads, and divides the worker process's CPU time
(user + system, from /proc) by N: unlike latency, this barely moves with the machine's load,
so a change to the request path can be compared on a shared machine. Linux only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.live_service import free_port, start_serve, wait_ready  # noqa: E402

CLIENTS = 4
REQUESTS = {
    "forecast, 1 partner": ("/forecast", {"partner_ids": ["P00001"], "horizon": 4}),
    "aggregate by region": ("/forecast/aggregate", {"group_by": "region", "horizon": 4}),
    "unknown path (404)": ("/no-such-endpoint", {}),
}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_pid(parent: int) -> int:
    """The BentoML worker: the serve process's child that answers the requests."""
    out = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True)
    return int(out.stdout.split()[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500, help="per kind of request")
    args = parser.parse_args(argv)
    url = f"http://127.0.0.1:{free_port()}"
    env = dict(os.environ, PARTNERCAST_RELOAD_SECONDS="0")
    server = start_serve(url, env, Path("/tmp/partnercast-server-cpu.log"))
    try:
        wait_ready(url, server, timeout=400)
        pid = worker_pid(server.pid)
        print("| request | requests | worker CPU ms / request | requests/s (wall) |")
        print("|---|---:|---:|---:|")
        for name, (path, body) in REQUESTS.items():
            per_client = args.requests // CLIENTS

            def run(n: int, path: str = path, body: dict = body) -> None:
                with httpx.Client(base_url=url, timeout=30) as client:
                    for _ in range(n):
                        client.post(path, json=body)

            run(50)  # warm-up
            before, start = cpu_seconds(pid), time.monotonic()
            threads = [threading.Thread(target=run, args=(per_client,)) for _ in range(CLIENTS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            n = per_client * CLIENTS
            used, wall = cpu_seconds(pid) - before, time.monotonic() - start
            print(f"| {name} | {n} | {1000 * used / n:.2f} | {n / wall:.0f} |", flush=True)
    finally:
        server.terminate()
        server.wait(30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
