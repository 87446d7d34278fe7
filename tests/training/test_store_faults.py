"""A read-only or full ``mlruns/`` under ``partnercast train`` and ``serve``.

The faults are real: the store is re-mounted read-only, or replaced by a tmpfs just larger
than what it holds, inside a private mount namespace (``unshare -m``) of the command under
test, so nothing outside the test sees them. Needs root (or CAP_SYS_ADMIN) and util-linux's
``unshare``; skipped where the machine cannot make a mount namespace.

After each fault: ``train`` exits 1 with one clear line that names the store and says the
champion is unchanged, the registry's ``champion`` is the one from before and loads, and
the service still answers on it.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from mlflow import MlflowClient

from features.names import CHAMPION, FORECASTER_MODEL, RECOMMENDER_MODEL
from features.scoring import load_champion

PARTNERCAST = Path(sys.executable).with_name("partnercast")


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True,
    )
    return probe.returncode == 0


pytestmark = [
    pytest.mark.xdist_group("crash-safety"),
    pytest.mark.skipif(not _can_unshare(), reason="needs a private mount namespace (root)"),
]

READ_ONLY = "mount --bind mlruns mlruns && mount -o remount,ro,bind mlruns"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("PARTNERCAST_", "MLFLOW_"))}


def _run(
    workdir: Path, args: list[str], *, fault: str | None = None
) -> subprocess.CompletedProcess:
    """``partnercast ARGS`` in ``workdir``, inside a mount namespace set up by ``fault``."""
    command = shlex.join([str(PARTNERCAST), *args])
    argv = (
        ["unshare", "-m", "sh", "-c", f"{fault} && exec {command}"]
        if fault
        else [
            str(PARTNERCAST),
            *args,
        ]
    )
    return subprocess.run(
        argv, cwd=workdir, env=_env(), capture_output=True, text=True, timeout=600
    )


def _full_disk(workdir: Path) -> str:
    """Shell that puts the store on a tmpfs with 256 KiB to spare: the run's rows fit, the
    model's artifacts do not."""
    used_kib = int(
        subprocess.run(
            ["du", "-sk", "mlruns"], cwd=workdir, capture_output=True, text=True, check=True
        ).stdout.split()[0]
    )
    return (
        f"cp -a mlruns {workdir}/.mlruns-copy && "
        f"mount -t tmpfs -o size={used_kib + 256}k tmpfs mlruns && "
        f"cp -a {workdir}/.mlruns-copy/. mlruns/ && rm -rf {workdir}/.mlruns-copy"
    )


def _champions(workdir: Path) -> dict[str, tuple[str, list[str]]]:
    client = MlflowClient(_store(workdir), _store(workdir))
    out = {}
    for name in (FORECASTER_MODEL, RECOMMENDER_MODEL):
        champion = str(client.get_model_version_by_alias(name, CHAMPION).version)
        versions = sorted(str(v.version) for v in client.search_model_versions(f"name='{name}'"))
        out[name] = (champion, versions)
    return out


def _store(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'mlruns' / 'mlflow.db'}"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, small_world_dir: Path) -> Path:
    workdir = tmp_path_factory.mktemp("faults")
    done = _run(workdir, ["train", "--data", str(small_world_dir), "--no-backtest"])
    assert done.returncode == 0, done.stderr[-3000:]
    return workdir


def test_train_on_a_read_only_store_fails_fast_with_one_clear_line(
    trained: Path, small_world_dir: Path
) -> None:
    before = _champions(trained)
    done = _run(
        trained, ["train", "--data", str(small_world_dir), "--no-backtest"], fault=READ_ONLY
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("partnercast train: the MLflow store ")
    assert "cannot be written (Read-only file system)" in last
    assert "the champion is unchanged" in last
    assert "Traceback" not in done.stderr  # checked before any work, not after the backtest
    assert "backtest fold" not in done.stderr
    assert _champions(trained) == before


def test_scoring_reads_a_read_only_store(trained: Path, small_world_dir: Path) -> None:
    out = trained / "forecast.csv"
    done = _run(
        trained,
        [
            "forecast",
            "--data",
            str(small_world_dir),
            "--horizon",
            "2",
            "--out",
            str(out),
            "--no-ledger",
        ],
        fault=READ_ONLY,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(out.read_text().splitlines()) == 1 + 2 * 120
    # loading a champion leaves nothing behind in the store's model folders
    assert not list((trained / "mlruns").rglob("registered_model_meta"))


def test_train_on_a_full_disk_exits_1_and_keeps_the_champion(
    trained: Path, small_world_dir: Path
) -> None:
    before = _champions(trained)
    done = _run(
        trained,
        ["train", "--data", str(small_world_dir), "--no-backtest"],
        fault=_full_disk(trained),
    )
    assert done.returncode == 1, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("partnercast train: a write to disk failed (")
    assert "full" in last or "No space left on device" in last
    assert "the champion is unchanged" in last
    # the namespace's tmpfs is gone: the real store never saw the failed run's writes
    assert _champions(trained) == before
    loaded = load_champion(FORECASTER_MODEL, _store(trained))
    assert loaded.version == before[FORECASTER_MODEL][0]


def test_serve_answers_from_a_read_only_store(trained: Path, small_world_dir: Path) -> None:
    with socket.socket() as probe:  # a free port, as the serving tests take one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = shlex.join([str(PARTNERCAST), "serve", "--port", str(port)])
    env = _env() | {"PARTNERCAST_DATA_DIR": str(small_world_dir)}
    server = subprocess.Popen(
        ["unshare", "-m", "sh", "-c", f"{READ_ONLY} && exec {command}"],
        cwd=trained,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        ready = False
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    ready = r.status == 200
            except OSError:
                pass
            if ready:
                break
            time.sleep(1)
        assert ready, "the service never became ready on a read-only store"
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/forecast",
            data=b'{"partner_ids": ["P00001"], "horizon": 2}',
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
            assert b'"p50"' in answer.read()
    finally:  # BentoML's workers run in sessions of their own: kill the whole family
        family = [*psutil.Process(server.pid).children(recursive=True)]
        server.kill()
        server.wait(timeout=30)
        for process in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(family, timeout=30)
