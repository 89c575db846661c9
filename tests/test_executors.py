"""The local executor's workers never outlive the sweep that started them, even a sweep killed with SIGKILL."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="finds processes through Linux /proc")


def _stat(pid: int):
    """``(ppid, start time, state)`` of a live process, or None once it is gone (a zombie is gone: it runs no
    more code, and in a container nobody may ever reap it)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after the command name, which may hold spaces
    state, ppid, start = fields[0], int(fields[1]), int(fields[19])
    return None if state in "ZX" else (ppid, start, state)


def _children(pid: int) -> dict[int, tuple[int, str]]:
    """``{child pid: (start time, command line)}``; the start time tells a child from a later process that
    reuses its pid."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) and stat[0] == pid:
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            out[int(entry.name)] = (stat[1], cmdline)
    return out


def test_workers_and_resource_tracker_exit_when_the_sweep_is_killed(tmp_path):
    log = (tmp_path / "sweep.log").open("w")  # not a pipe: orphans holding it must not block the test
    # depth 2 takes a few seconds at 2000 steps, the deeper runs much longer: once one run is finished, both
    # workers are inside a run
    cmd = [sys.executable, "-m", "gradlab", "sweep", "--depth", "2..40", "--set", "train.steps=2000",
           "--set", "record.every=1000", "--workers", "2", "-o", str(tmp_path), "--no-plots"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, NO_COLOR="1"),
                            start_new_session=True)
    runs = tmp_path / "sweeps" / "default" / "runs"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "sweep.log").read_text()
            children = _children(proc.pid)
            workers = [p for p, (_, cmd) in children.items() if "spawn_main" in cmd]
            trackers = [p for p, (_, cmd) in children.items() if "resource_tracker" in cmd]
            finished = runs.is_dir() and any(not p.name.startswith(".") for p in runs.iterdir())
            if len(workers) == 2 and len(trackers) == 1 and finished:
                break
            time.sleep(0.1)

        os.kill(proc.pid, signal.SIGKILL)  # the main process alone, as the OOM killer would
        killed = time.monotonic()
        proc.wait(timeout=10)
        alive = children
        while alive and time.monotonic() - killed < 5:
            time.sleep(0.05)
            alive = {p: c for p, c in alive.items() if (s := _stat(p)) and s[1] == c[0]}
        assert not alive, f"orphans 5 s after the sweep was killed: {alive}"
        print(f"every child gone {time.monotonic() - killed:.2f} s after the SIGKILL")
    finally:
        try:  # whatever happened, leave nothing behind: the group outlives its leader while members remain
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
        log.close()


@pytest.mark.parametrize("address", ["not a url", "tcp://127.0.0.1", "http//x:1", "tcp://host:port"])
def test_a_malformed_scheduler_address_is_a_usage_error_before_any_connection(address):
    pytest.importorskip("distributed")
    from gradlab.errors import UsageError
    from gradlab.executors import DaskExecutor

    with pytest.raises(UsageError, match="not a scheduler address; give one like tcp://HOST:PORT"):
        DaskExecutor(address)


def test_the_default_pool_uses_the_cores_this_process_may_run_on():
    from gradlab.executors import cores

    allowed = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert cores() == allowed >= 1


@pytest.mark.parametrize("busy, quota, expected", [(0.0, 4, 4), (0.4, 4, 4), (0.6, 4, 3), (2.7, 4, 1), (9.0, 4, 1),
                                                    (0.0, 2, 2), (5.0, 2, 2), (7.4, 2, 1)])
def test_one_run_takes_the_cores_other_processes_leave_idle(monkeypatch, busy, quota, expected):
    """Of 8 CPUs in the affinity and ``quota`` usable (a container's --cpus), as many as are idle now."""
    from gradlab import cpus, executors

    monkeypatch.setattr(cpus, "affinity", lambda: set(range(8)) if quota == 2 else set(range(4)))
    monkeypatch.setattr(executors, "cores", lambda: quota)
    monkeypatch.setattr(cpus, "busy", lambda mine: busy)
    assert executors.idle_cores() == expected


@pytest.mark.parametrize("load, expected", [(0.0, 4), (0.6, 3), (9.0, 1), (None, 4)])
def test_without_proc_stat_the_load_average_counts_and_without_it_every_core(monkeypatch, load, expected):
    from gradlab import cpus, executors

    def average():
        if load is None:
            raise OSError("no load average")
        return (load, 0.0, 0.0)

    monkeypatch.setattr(cpus, "affinity", lambda: set(range(4)))
    monkeypatch.setattr(executors, "cores", lambda: 4)
    monkeypatch.setattr(cpus, "busy", lambda mine: None)
    monkeypatch.setattr(os, "getloadavg", average)
    assert executors.idle_cores() == expected


def test_a_competing_process_takes_a_core_from_the_next_run():
    """The real counters: with a process spinning, a run on this machine takes one core fewer than it may use
    (at least one), whatever the load average of the last minute says."""
    from gradlab import executors

    spinner = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 20\nwhile time.time() < end: pass"])
    try:
        time.sleep(0.3)
        assert executors.idle_cores() <= max(1, executors.cores() - 1)
    finally:
        spinner.kill()
        spinner.wait()


def test_run_trains_on_the_threads_it_is_given(tmp_path):
    import json

    from typer.testing import CliRunner

    from gradlab.cli import app

    config = Path(__file__).resolve().parent.parent / "configs" / "tanh_xavier.yaml"
    result = CliRunner().invoke(app, ["run", str(config), "--set", "train.steps=1", "--set", "model.depth=3",
                                      "-o", str(tmp_path), "--no-plots", "--threads", "1", "--json"])
    assert result.exit_code == 0, result.output
    libraries = json.loads(result.stdout)["provenance"]["blas"]["libraries"]
    assert libraries and all(lib["num_threads"] == 1 for lib in libraries)  # recorded inside the limit
    refused = CliRunner().invoke(app, ["run", str(config), "--threads", "0"])
    assert refused.exit_code == 2 and "Traceback" not in refused.output
