"""``make screenshots``: the planner app's pages at 1366x768, and how fast they answer.

Starts ``partnercast serve`` on the current champions (``make train`` first) over the
dataset (``data/demo`` unless ``--data``), with a planner key of its own and a copy of
the forecast ledger (the real one is never written), on a free loopback port. Then:

1. times every page and the slow fragments over HTTP after one warm-up visit each
   (median and worst of ``--repeats``), printed as a markdown table and written to
   ``benchmarks/results/app_pages.md``;
2. drives a headless Chromium (Debian's, as in the tests) through sign-in, Quarter,
   Partners, the top partner's page, Incentives and Accuracy, and writes one PNG each to
   ``--out`` (``build/screenshots``; not committed).

    .venv/bin/python benchmarks/app_pages.py [--data data/demo] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # first: benchmarks/serving.py must not shadow the package

from benchmarks.live_service import free_port, start_serve, wait_ready  # noqa: E402
from serving.identity import key_hash, new_key  # noqa: E402
from tests.browser import start_chromium  # noqa: E402

WAIT = 120.0


def _time(client: httpx.Client, path: str, repeats: int) -> tuple[int, float, float]:
    client.get(path)  # warm-up: first answers build caches
    seconds = []
    status = 0
    for _ in range(repeats):
        started = time.perf_counter()
        status = client.get(path).status_code
        seconds.append(time.perf_counter() - started)
    return status, statistics.median(seconds), max(seconds)


def _drawn(driver, css: str, at_least: int = 1) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    script = "return document.querySelectorAll(arguments[0] + '[data-drawn=\"true\"]').length"
    WebDriverWait(driver, WAIT).until(lambda d: d.execute_script(script, css) >= at_least)


def _screens(url: str, key: str, out: Path, top_partner: str) -> list[str]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    out.mkdir(parents=True, exist_ok=True)
    driver = start_chromium(1366, 768)
    written = []
    try:
        driver.get(f"{url}/app/quarter")
        WebDriverWait(driver, WAIT).until(lambda d: d.find_elements(By.ID, "sign-in"))
        driver.save_screenshot(str(out / "0-sign-in.png"))
        written.append("0-sign-in.png")
        driver.find_element(By.NAME, "key").send_keys(key)
        driver.find_element(By.CSS_SELECTOR, "#sign-in button").click()
        steps = [
            ("1-quarter.png", "/app/quarter", ".fan-group"),
            ("2-partners.png", "/app/partners", None),
            ("3-partner.png", f"/app/partners/{top_partner}", "#fan-partner"),
            ("4-incentives.png", "/app/incentives", None),
            ("5-accuracy.png", "/app/accuracy", ".backtest"),
        ]
        for name, path, chart in steps:
            driver.get(url + path)
            if chart:
                _drawn(driver, chart)
            elif path.endswith("incentives"):
                WebDriverWait(driver, WAIT).until(lambda d: d.find_elements(By.ID, "plan-summary"))
            else:
                WebDriverWait(driver, WAIT).until(lambda d: d.find_elements(By.ID, "board"))
            time.sleep(0.5)  # let Plotly finish its transitions
            driver.save_screenshot(str(out / name))
            written.append(name)
    finally:
        driver.quit()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "demo")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "screenshots")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    if not (args.data / "partners.csv").exists() and not (args.data / "partners.parquet").exists():
        raise SystemExit(f"no dataset in {args.data}: run 'make train' first, or give DATA=dir")
    work = Path(tempfile.mkdtemp(prefix="partnercast-app-"))
    key = new_key()
    (work / "keys.json").write_text(
        json.dumps([{"name": "screenshots", "role": "planner", "sha256": key_hash(key)}])
    )
    ledger = ROOT / "mlruns" / "ledger.db"
    if ledger.exists():
        shutil.copy2(ledger, work / "ledger.db")
    url = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERCAST_")}
    env |= {
        "PARTNERCAST_API_KEYS": str(work / "keys.json"),
        "PARTNERCAST_DATA_DIR": str(args.data.resolve()),
        "PARTNERCAST_LEDGER_URL": f"sqlite:///{work / 'ledger.db'}",
    }
    server = start_serve(url, env, work / "server.log")
    try:
        wait_ready(url, server)
        client = httpx.Client(base_url=url, timeout=180.0, follow_redirects=False)
        client.post("/app/sign-in", data={"key": key})
        board = client.get("/app/partners").text
        top = re.search(r'data-partner="([^"]+)"', board)
        top_partner = top.group(1) if top else ""
        paths = [
            "/app/quarter",
            "/app/quarter/groups?level=region",
            "/app/quarter/changes",
            "/app/partners",
            "/app/partners?partial=table&sort=revenue_ytd&dir=desc&q=P0001",
            f"/app/partners/{top_partner}",
            "/app/incentives",
            "/app/incentives/plan?budget=",
            "/app/incentives/plan?budget=100000",
            "/app/accuracy",
            "/app/accuracy/realised",
        ]
        rows = []
        for path in paths:
            fragment = any(p in path for p in ("partial", "/plan", "/quarter/", "/realised"))
            headers = {"HX-Request": "true"} if fragment else {}
            client.headers.update(headers)
            status, median, worst = _time(client, path, args.repeats)
            for name in headers:
                client.headers.pop(name)
            rows.append(f"| `{path}` | {status} | {median:.3f} | {worst:.3f} |")
        table = "\n".join(
            [
                f"App pages on {args.data} after one warm-up visit, {args.repeats} visits each",
                "",
                "| page | HTTP | median s | worst s |",
                "|---|---:|---:|---:|",
                *rows,
            ]
        )
        print(table)
        failed = [row for row in rows if not re.search(r"\| (200|307) \|", row)]
        if failed:
            kept = Path(tempfile.mkdtemp(prefix="partnercast-app-log-")) / "server.log"
            shutil.copy2(work / "server.log", kept)
            raise SystemExit(f"{len(failed)} page(s) did not answer: the server's log is {kept}")
        args.results.mkdir(parents=True, exist_ok=True)
        (args.results / "app_pages.md").write_text(table + "\n", encoding="utf-8")
        written = _screens(url, key, args.out, top_partner)
        print(f"\nscreenshots (1366x768) in {args.out}: {', '.join(written)}")
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
