"""gradlab.cpus: the CPUs a run may use (affinity, cgroup quota) and how busy other processes keep them now."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gradlab import cpus


def stat_text(rows: dict[int, tuple[int, int]]) -> str:
    """/proc/stat with each CPU's (busy, idle) jiffies, spread over the fields the kernel writes."""
    lines = ["cpu  0 0 0 0 0 0 0 0 0 0"]
    for cpu, (busy, idle) in rows.items():
        lines.append(f"cpu{cpu} {busy - busy // 3} 0 {busy // 3} {idle - idle // 4} {idle // 4} 0 0 0 0 0")
    return "\n".join(lines + ["intr 1 2 3", "ctxt 9"]) + "\n"


def test_busy_is_the_sum_of_each_cpus_busy_share_over_the_window(tmp_path, monkeypatch):
    stat = tmp_path / "stat"
    samples = iter([{0: (100, 900), 1: (50, 950), 2: (0, 1000)},     # before
                    {0: (200, 900), 1: (75, 1025), 2: (0, 1000)}])   # after: cpu0 all busy, cpu1 a quarter, cpu2 no time
    monkeypatch.setattr(cpus.time, "sleep", lambda s: stat.write_text(stat_text(next(samples))))
    stat.write_text(stat_text(next(samples)))
    assert cpus.busy({0, 1, 2, 7}, stat=stat) == pytest.approx(1.25)  # cpu 7 is not in the file: not counted
    stat.write_text("not a stat file\ncpu0 x y\n")
    assert cpus.busy({0}, stat=stat) is None
    assert cpus.busy({0}, stat=tmp_path / "missing") is None


def test_a_cpu_bound_process_shows_as_a_busy_cpu():
    """The real kernel counters: a spinning child keeps about one CPU busy while this process sleeps."""
    child = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 20\nwhile time.time() < end: pass"])
    try:
        import time

        time.sleep(0.3)  # past its start-up, into the loop
        assert cpus.busy(cpus.affinity(), window=0.5) >= 0.8
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize("v2, v1, expected", [
    ("max 100000\n", None, None), ("150000 100000\n", None, 1.5), ("200000 100000\n", None, 2.0),
    (None, ("-1", "100000"), None), (None, ("50000", "100000"), 0.5), (None, None, None), ("garbage\n", None, None)])
def test_the_cgroup_quota_is_read_from_either_version(tmp_path, v2, v1, expected):
    v2_path, v1_paths = tmp_path / "cpu.max", (tmp_path / "quota", tmp_path / "period")
    if v2 is not None:
        v2_path.write_text(v2)
    if v1 is not None:
        for path, text in zip(v1_paths, v1):
            path.write_text(text + "\n")
    assert cpus.quota(v2_path, v1_paths) == expected


@pytest.mark.parametrize("n_affinity, quota, expected", [(8, None, 8), (8, 2.0, 2), (8, 1.5, 2), (2, 4.0, 2), (8, 0.2, 1)])
def test_usable_cpus_are_the_affinity_capped_by_the_quota(monkeypatch, n_affinity, quota, expected):
    monkeypatch.setattr(cpus, "affinity", lambda: set(range(n_affinity)))
    monkeypatch.setattr(cpus, "quota", lambda: quota)
    assert cpus.usable() == expected


def test_this_processes_own_threads_are_not_counted_as_busy(tmp_path, monkeypatch):
    """A BLAS pool of this process spinning through the window is this run's, not a competitor's."""
    stat = tmp_path / "stat"
    samples = iter([{0: (0, 1000), 1: (0, 1000)}, {0: (100, 1000), 1: (50, 1050)}])  # 1.5 CPUs busy
    clock = iter([10.0, 10.1])
    own = iter([3.0, 3.1])  # this process used 0.1 s of CPU in the 0.1 s window: one CPU's worth
    monkeypatch.setattr(cpus.time, "sleep", lambda s: stat.write_text(stat_text(next(samples))))
    monkeypatch.setattr(cpus.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(cpus, "_cpu_seconds", lambda: next(own))
    stat.write_text(stat_text(next(samples)))
    assert cpus.busy({0, 1}, stat=stat) == pytest.approx(0.5)
