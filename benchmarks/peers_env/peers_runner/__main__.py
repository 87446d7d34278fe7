"""``python -m peers_runner forecast|uplift|all --exchange DIR``: the peers' side of make bench.

``DIR/spec.json`` (written by ``benchmarks/peers.py``) names the data folder, the fiscal-year
start, the seed and the uplift feature columns; predictions are written next to it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="peers_runner", description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=["forecast", "uplift", "all"])
    parser.add_argument("--exchange", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    for noisy in ("causalml", "mlforecast", "statsforecast", "numba"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    spec = json.loads((args.exchange / "spec.json").read_text())
    if args.task in ("forecast", "all"):
        from peers_runner.data import revenue_series
        from peers_runner.forecast import write_forecasts

        series = revenue_series(Path(spec["data"]), spec["fy_start_month"])
        write_forecasts(args.exchange, spec, series)
    if args.task in ("uplift", "all") and spec.get("arms"):
        from peers_runner.uplift import write_uplift

        write_uplift(args.exchange, spec)


if __name__ == "__main__":
    main()
