"""A trained champion in a throw-away MLflow store, and real servers started on it.

The champion is trained once per test run (a file lock shares it between xdist
workers); each test module starts one server in a subprocess on a free port and stops
it at the end. Run with ``--dist loadgroup`` so a module's tests stay on one worker
(each module is its own ``xdist_group``), else a module may start a server per worker.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from features.names import FORECASTER_MODEL
from features.scoring import PartnerForecaster, load_champion

ROOT = Path(__file__).resolve().parents[2]
FAST = {"n_estimators": 25, "learning_rate": 0.15, "num_leaves": 15, "min_child_samples": 10}
START_TIMEOUT = 120.0


@dataclass(frozen=True)
class Store:
    """An MLflow store on disk: ``root/mlruns/mlflow.db`` plus artifacts."""

    root: Path

    @property
    def uri(self) -> str:
        return f"sqlite:///{self.root / 'mlruns' / 'mlflow.db'}"


def _train_into(root: Path) -> None:
    """Train the small world's forecaster into ``root`` (lenient gate: it is promoted)."""
    from features.data import load_dataset
    from features.settings import Settings
    from features.world import simulate_world, write_world
    from training.forecast import ForecastConfig
    from training.jobs import forecaster_run as train_module

    (root / "mlruns").mkdir(parents=True, exist_ok=True)
    write_world(simulate_world(partners=120, quarters=12, seed=3), root / "demo")
    store = Store(root)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", store.uri)
        mp.chdir(root)
        mp.setattr(train_module, "COVERAGE_RANGE", (0.0, 1.0))
        outcome = train_module.train_forecaster(
            load_dataset(root / "demo"),
            data_path=root / "demo",
            as_of=None,
            settings=Settings(store_dir=root / "mlruns"),
            config=ForecastConfig(horizon=4, folds=2, params=FAST, seed=7),
        )
    import mlflow

    mlflow.set_tracking_uri(None)
    assert outcome.promoted, outcome


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A store with a promoted forecaster, trained once for all xdist workers."""
    base = tmp_path_factory.getbasetemp()
    # under xdist each worker's base is popen-gwN inside this run's own folder: its parent
    # is shared by the run's workers only. Without xdist the parent is every run's
    # (/tmp/pytest-of-USER), so two runs at once would delete each other's champion.
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    root = shared / "serving-champion"
    with open(shared / "serving-champion.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        # the folder outlives the run: retrain unless this very run made it (an old one
        # was made by older code, e.g. before the data contract's randomized none rows)
        run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid-{os.getpid()}"
        done = root / "done"
        if not done.exists() or done.read_text() != run:
            shutil.rmtree(root, ignore_errors=True)
            _train_into(root)
            done.write_text(run)
    return Store(root)


def copy_store(store: Store, to: Path) -> Store:
    """A private copy (the database; artifacts stay where the original's rows point)."""
    (to / "mlruns").mkdir(parents=True)
    shutil.copy2(store.root / "mlruns" / "mlflow.db", to / "mlruns" / "mlflow.db")
    return Store(to)


def champion_forecaster(store: Store) -> PartnerForecaster:
    """The library's own scoring object for the store's champion (the test oracle)."""
    return load_champion(FORECASTER_MODEL, store.uri).model.forecaster


def with_recommender(trained_store: Store, to: Path, params: dict | None = None) -> Store:
    """A copy of the forecaster store with a recommender champion trained into it
    (``params``: the recommender's, as ``train_recommender`` takes them)."""
    import mlflow
    from mlflow import MlflowClient

    from features.calendar import QuarterCalendar
    from features.data import load_dataset
    from training.forecast import prepare_training_data
    from training.jobs import GateDecision
    from training.jobs import recommender_run as rec_module

    store = copy_store(trained_store, to)
    ds = load_dataset(trained_store.root / "demo")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", store.uri)
        mp.chdir(store.root)
        mp.setattr(
            rec_module,
            "recommender_gate",
            lambda metrics: GateDecision.from_checks({"small world": True}),
        )
        mlflow.set_tracking_uri(store.uri)
        client = MlflowClient(store.uri, store.uri)
        forecaster = load_champion(FORECASTER_MODEL, store.uri).model.forecaster
        data = prepare_training_data(ds, as_of=None, calendar=QuarterCalendar())
        experiment = client.get_experiment_by_name("partnercast").experiment_id
        outcome = rec_module.train_recommender(
            ds, data, forecaster, client=client, experiment_id=experiment, seed=7, params=params
        )
    mlflow.set_tracking_uri(None)
    assert outcome is not None and outcome.promoted
    return store


# -- servers -------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0)

    def wait(self, path: str, status: int = 200, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + path, timeout=2.0).status_code == status:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"{path} never answered {status}: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the server and every process under it at once: a crash, no clean-up
        (BentoML's workers run in sessions of their own, so a process group is not enough)."""
        import psutil

        parent = psutil.Process(self.process.pid)
        family = [*parent.children(recursive=True), parent]
        for process in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.send_signal(signal.SIGKILL)
        psutil.wait_procs(family, timeout=30)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_server(workdir: Path, env: dict[str, str]) -> Server:
    """``python -m serving.run`` on a free port, with only the given settings in its env."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PARTNERCAST_", "MLFLOW_"))}
    clean.update(env)
    clean["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), clean.get("PYTHONPATH")]))
    log = workdir / f"server-{port}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "serving.run", "--host", "127.0.0.1", "--port", str(port)],
        cwd=workdir,
        env=clean,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = Server(url=f"http://127.0.0.1:{port}", process=process, log=log)
    try:
        server.wait("/healthz")
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="module")
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """Start servers for a module; all are stopped when the module ends."""
    started: list[Server] = []

    def start(env: dict[str, str], workdir: Path | None = None) -> Server:
        server = start_server(workdir or tmp_path_factory.mktemp("server"), env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def assert_error(response: httpx.Response, status: int) -> dict:
    """A 4xx/5xx answer in the contract's shape: ``{"error": str, ...}``."""
    assert response.status_code == status, response.text
    body = json.loads(response.text)
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]
    return body
