"""``make fuzz``: schemathesis against a live ``partnercast serve``, at a larger budget.

Starts the service on the current champions (``make train`` first) and the demo dataset
(for ``/kpis``), with an API key, on a free loopback port; runs every schemathesis check
but ``positive_data_acceptance`` (business rules a schema cannot state: unknown partner
ids are 404) on every operation with ``--max-examples`` cases each, with the key and
then without it (every answer must then be a documented 401, for any method); prints the summary and
exits with schemathesis' code. The test suite runs the same at 12 cases
(``tests/serving/test_fuzz.py``).

    .venv/bin/python benchmarks/fuzz.py [--max-examples 200] [--data data/demo] [--seed 7]
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: import the sibling module below

from benchmarks.live_service import free_port, wait_ready  # noqa: E402

BIN = Path(sys.executable).parent
log = logging.getLogger("benchmarks.fuzz")


def _schemathesis(url: str, args: argparse.Namespace, headers: dict[str, str]) -> int:
    # without a key every call is 401 before the method is looked at (an unknown caller
    # learns nothing, not even which methods exist), so "405 for TRACE" is not asked then
    excluded = ["positive_data_acceptance"] + ([] if headers else ["unsupported_method"])
    command = [
        str(BIN / "st"), "run", f"{url}/docs.json",
        "--checks", "all", "--exclude-checks", ",".join(excluded),
        "--max-examples", str(args.max_examples), "--seed", str(args.seed),
        "--workers", "2", "--no-color",
        "--request-timeout", "60",  # the service's own timeout: latency is make load's
    ]  # fmt: skip
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    out = result.stdout
    cases = re.search(r"(\d+) generated", out)
    print(
        f"| {'with key' if headers else 'without key'} | {cases.group(1) if cases else '?'} | "
        f"{'0' if result.returncode == 0 else 'see below'} | {time.perf_counter() - started:.0f} |"
    )
    if result.returncode != 0:
        sys.stderr.write(out[-20000:] + result.stderr[-4000:])
    return result.returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=200)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "demo")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")

    key = secrets.token_urlsafe(24)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PARTNERCAST_API_KEY": key,
        "PARTNERCAST_DATA_DIR": str(args.data.resolve()),
        "PARTNERCAST_RELOAD_SECONDS": "0",
        "PARTNERCAST_RECORD_FORECASTS": "false",
    }
    log.info("starting partnercast serve on %s", url)
    server = subprocess.Popen(
        [str(BIN / "partnercast"), "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(url, server)
        print(f"schemathesis, {args.max_examples} cases per operation at most, seed {args.seed}\n")
        print("| run | cases | failures | seconds |\n|---|---:|---:|---:|")
        codes = [
            _schemathesis(url, args, {"Authorization": f"Bearer {key}"}),
            _schemathesis(url, args, {}),
        ]
    finally:
        server.terminate()
        server.wait(timeout=30)
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
