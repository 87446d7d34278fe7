"""A live ``partnercast serve`` for the benchmarks that need one (``fuzz.py``, ``load.py``):
a free loopback port, and waiting until the service is ready or has died."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, server: subprocess.Popen, timeout: float = 180.0) -> None:
    """Return once ``/readyz`` answers 200; exit with the reason if the service dies or
    never gets ready (no champion yet)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the service exited with code {server.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit("the service was not ready in time: is there a champion? (make train)")


def start_serve(url: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """``partnercast serve`` on ``url``'s port from the repository root, its log to ``log``."""
    root = Path(__file__).resolve().parents[1]
    command = Path(sys.executable).with_name("partnercast")
    return subprocess.Popen(
        [str(command), "serve", "--port", url.rsplit(":", 1)[1]],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
