"""`gradlab sweep --scheduler` on a real dask cluster (a scheduler and two workers, each its own process, on
127.0.0.1) that loses a worker mid-sweep: the sweep still finishes, with the results of a local sweep. And a
run that takes down every worker it runs on is a failed run, not an endless loop."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

SWEEP = ["sweep", "--depth", "2..5", "--set", "train.steps=200", "--set", "record.every=100", "--no-plots"]
RUNS = 8  # 4 depths × the default sweep's two activation+init pairs


def rows(path: Path):
    with path.open(newline="") as fh:
        return [{k: v for k, v in r.items() if k != "wall_time_s"} for r in csv.DictReader(fh)]


@pytest.fixture
def spawn(tmp_path):
    """``spawn(name, *args)`` starts ``python -m ...`` in its own session, logging to tmp_path/name.log;
    every process group started is killed at teardown, whatever happened."""
    procs = []

    def start(name, *args):
        # dask's scratch space in the test's folder: the shared default scratch folder is purged by any scheduler
        env = dict(os.environ, NO_COLOR="1", DASK_TEMPORARY_DIRECTORY=str(tmp_path))
        log = (tmp_path / f"{name}.log").open("w")
        procs.append(subprocess.Popen([sys.executable, "-m", *args], stdout=log, stderr=subprocess.STDOUT,
                                      cwd=tmp_path, env=env, start_new_session=True))
        log.close()
        return procs[-1]

    yield start
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def local_rows(tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    local = subprocess.run([sys.executable, "-m", "gradlab", *SWEEP, "-o", str(out), "--workers", "1"],
                           check=False, capture_output=True, text=True, timeout=60)
    assert local.returncode == 0, local.stderr
    return rows(out / "sweeps" / "default" / "summary.csv")


def logs(tmp_path: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(tmp_path.glob("*.log")))


# 3, dask's default: the scheduler reruns the lost worker's runs itself; 0: it gives up on them at once
# (KilledWorker), and DaskExecutor submits them again
@pytest.mark.parametrize("allowed_failures", [3, 0], ids=["rerun-by-dask", "KilledWorker-resubmitted"])
def test_a_sweep_survives_a_worker_killed_mid_run(tmp_path, spawn, local_rows, allowed_failures, monkeypatch):
    monkeypatch.setenv("DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES", str(allowed_failures))
    scheduler_file = tmp_path / "scheduler.json"
    # everything on 127.0.0.1 and port 0, the HTTP servers too (they listen even with --no-dashboard, the
    # scheduler's on 8787 by default); idle and death timeouts end any leftover by itself
    local_only = ["--host", "127.0.0.1", "--no-dashboard", "--dashboard-address", "127.0.0.1:0"]
    spawn("scheduler", "distributed.cli.dask_scheduler", *local_only, "--port", "0",
          "--scheduler-file", str(scheduler_file), "--idle-timeout", "120")
    # no nanny: the SIGKILL below takes the worker away for good, as a lost machine does
    workers = [spawn(f"worker{i}", "distributed.cli.dask_worker", *local_only, "--scheduler-file",
                     str(scheduler_file), "--nthreads", "1", "--no-nanny", "--name", f"w{i}", "--memory-limit", "0",
                     "--death-timeout", "60")
               for i in range(2)]
    deadline = time.monotonic() + 30
    while not scheduler_file.is_file() or not scheduler_file.read_text().strip():
        assert time.monotonic() < deadline, logs(tmp_path)
        time.sleep(0.05)
    address = json.loads(scheduler_file.read_text())["address"]
    assert address.startswith("tcp://127.0.0.1:")

    with distributed.Client(address, timeout=30) as client:
        client.wait_for_workers(2, timeout=30)
        names = {addr: w["name"] for addr, w in client.scheduler_info()["workers"].items()}

        sweep = spawn("sweep", "gradlab", *SWEEP, "-o", str(tmp_path / "dask"), "--scheduler", address)
        runs = tmp_path / "dask" / "sweeps" / "default" / "runs"
        while True:  # until a run is finished and a worker is inside another
            assert sweep.poll() is None and time.monotonic() < deadline + 30, logs(tmp_path)
            busy = sorted((len(keys), a) for a, keys in client.processing().items() if keys)
            if busy and runs.is_dir() and any(not p.name.startswith(".") for p in runs.iterdir()):
                break
            time.sleep(0.02)
        # the busiest: it holds a queued run beside the running one, so it still holds one when the kill lands
        workers[int(names[busy[-1][1]][1:])].kill()  # SIGKILL
        finished_then = sum(not p.name.startswith(".") for p in runs.iterdir())
        assert sweep.wait(timeout=60) == 0, logs(tmp_path)
        assert len(client.scheduler_info()["workers"]) == 1  # the kill did lose a worker

    assert finished_then < RUNS
    scheduler_log = (tmp_path / "scheduler.log").read_text()
    assert "Remove worker" in scheduler_log
    assert ("workers died while trying to run it" in scheduler_log) == (allowed_failures == 0)  # KilledWorker
    dask_rows = rows(tmp_path / "dask" / "sweeps" / "default" / "summary.csv")
    assert [r["status"] for r in dask_rows] == ["completed"] * RUNS
    assert dask_rows == local_rows


def test_a_run_that_kills_its_workers_fails_after_a_bounded_number_of_tries(tmp_path):
    import dask

    from gradlab.executors import LOST_WORKER_RETRIES, DaskExecutor

    def poison(path):  # takes its worker down, as a run out of memory does; nested, so pickled by value
        with open(path, "a") as fh:
            fh.write("try\n")
        os._exit(3)

    tries = tmp_path / "tries"
    # dashboard_address=None would still bind the HTTP server to the fixed port 8787
    with (dask.config.set({"distributed.scheduler.allowed-failures": 0, "temporary-directory": str(tmp_path)}),
          distributed.LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", protocol="tcp",
                                   dashboard_address="127.0.0.1:0") as cluster,
          DaskExecutor(cluster.scheduler_address) as executor):
        run = executor.submit(poison, str(tries))
        with pytest.raises(distributed.KilledWorker):
            run.result(timeout=60)  # the nanny restarts the worker each time
        executor.client.wait_for_workers(1, timeout=30)  # back, so that closing does not cut a restart short
    assert tries.read_text() == "try\n" * (1 + LOST_WORKER_RETRIES)
