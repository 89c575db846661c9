"""How many CPUs a run may use and how many of them other processes keep busy right now, for the BLAS thread
count of a single run (``executors.idle_cores``).

Three limits, each read from the kernel: the CPU affinity (taskset, cpusets), the cgroup's CPU quota (a
container's ``--cpus``, which leaves the affinity at every core of the host), and the load on those CPUs now.
The load is sampled from ``/proc/stat`` over a tenth of a second: the 1-minute load average lags a competing
process by a minute, and a BLAS thread on a core another process holds makes every multiply wait for it.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Optional

SAMPLE_S = 0.1
_CGROUP_V2 = Path("/sys/fs/cgroup/cpu.max")
_CGROUP_V1 = (Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))
_PROC_STAT = Path("/proc/stat")


def affinity() -> set[int]:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


def quota(v2: Path = _CGROUP_V2, v1: tuple[Path, Path] = _CGROUP_V1) -> Optional[float]:
    """The cgroup's CPU quota in CPUs (``200000 100000`` is 2.0), or None where there is none or no cgroup."""
    try:
        if v2.exists():
            limit, period = v2.read_text().split()[:2]
            return None if limit == "max" else int(limit) / int(period)
        if v1[0].exists():
            limit, period = int(v1[0].read_text()), int(v1[1].read_text())
            return None if limit <= 0 else limit / period
    except (OSError, ValueError):
        pass
    return None


def usable() -> int:
    """The CPUs this process may use: its affinity, capped by the cgroup quota (rounded up: a quota of 1.5
    CPUs still runs two threads at once, each for part of the time), at least one."""
    n, q = len(affinity()), quota()
    return max(1, min(n, math.ceil(q)) if q is not None else n)


def _times(stat: Path) -> dict[int, tuple[int, int]]:
    """(idle, total) jiffies of each CPU; idle counts iowait, total leaves out guest time (already in user)."""
    out = {}
    for line in stat.read_text().splitlines():
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit():
            values = [int(v) for v in fields[:8]]  # user nice system idle iowait irq softirq steal
            out[int(name[3:])] = (values[3] + values[4], sum(values))
    return out


def busy(cpus: set[int], window: float = SAMPLE_S, stat: Path = _PROC_STAT) -> Optional[float]:
    """How many of ``cpus`` other processes kept busy over the next ``window`` seconds, as a sum of busy
    fractions; None where ``/proc/stat`` cannot be read (not Linux). This process sleeps meanwhile, but its own
    threads may not (a BLAS pool spins for a while after its last call): their CPU time is not counted."""
    try:
        before, mine, t0 = _times(stat), _cpu_seconds(), time.monotonic()
        time.sleep(window)
        after, mine, elapsed = _times(stat), _cpu_seconds() - mine, time.monotonic() - t0
    except (OSError, ValueError):
        return None
    total = 0.0
    for cpu in cpus & before.keys() & after.keys():
        idle, all_ = after[cpu][0] - before[cpu][0], after[cpu][1] - before[cpu][1]
        total += 1.0 - idle / all_ if all_ > 0 else 0.0
    return max(0.0, total - mine / elapsed)


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system
