"""Where a result came from: the versions, the BLAS kernel, the machine, the command and the commit.

Every run's ``summary.json`` and every sweep's ``sweep.yaml`` carry ``provenance`` (see ``record``), so that a
number can be traced to what computed it. Floating-point results depend on more than the config: NumPy hands
every matrix product to a BLAS library, and OpenBLAS picks a kernel for the CPU it finds (``architecture``:
Haswell, SkylakeX, Zen, ...), whose summation order decides the last bits of every product; over a deep
network and many steps those bits can grow into visibly different gradients. So the record names the
library, its version, the kernel and the thread count (``threadpoolctl``) beside the usual versions.

It is cheap: the git commit is asked for once per process and working directory (two ``git`` calls with a
short timeout, and no record at all where git is missing or the directory is not in a repository: provenance
never fails a run); the rest is read from the interpreter and ``threadpoolctl`` in about a millisecond.
"""

from __future__ import annotations

import copy
import functools
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

import numpy as np

from . import __version__

# Set by some machines' administrators to pin OpenBLAS to an older kernel; they change numpy's speed (and the
# kernel that computes every product), not its use.
BLAS_PINS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
BLAS_FIELDS = ("internal_api", "prefix", "version", "architecture", "threading_layer", "num_threads")
GIT_TIMEOUT_S = 2.0


def now() -> str:
    """The time in UTC, ISO 8601 with its offset: ``2025-01-31T12:00:00.123+00:00``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def blas() -> dict:
    """NumPy's BLAS as threadpoolctl sees it in this process: ``libraries`` (one mapping of BLAS_FIELDS per
    library loaded: OpenBLAS's ``architecture`` is the kernel it chose for this CPU, ``num_threads`` what it
    may use now) and ``pins`` (the BLAS_PINS set in the environment)."""
    from threadpoolctl import threadpool_info

    libraries = [{k: lib.get(k) for k in BLAS_FIELDS} for lib in threadpool_info() if lib.get("user_api") == "blas"]
    return {"libraries": libraries, "pins": {k: os.environ[k] for k in BLAS_PINS if k in os.environ}}


def cpu_model() -> str:
    """The CPU's name: ``model name`` in /proc/cpuinfo (Linux), else what ``platform.processor()`` says
    (which may be only the architecture, or empty)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor()


@functools.lru_cache(maxsize=1)
def _machine() -> dict:
    """What cannot change while the process lives."""
    uname = platform.uname()
    return {
        "python": {"version": platform.python_version(), "implementation": platform.python_implementation()},
        "platform": {"system": uname.system, "release": uname.release, "machine": uname.machine},
        "cpu": {"model": cpu_model(), "count": os.cpu_count()},
    }


def _git_output(args: list[str], cwd: str) -> Optional[str]:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT_S,
                              stdin=subprocess.DEVNULL, env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    except (OSError, subprocess.SubprocessError):  # no git, or it hangs (a network filesystem)
        return None
    return done.stdout if done.returncode == 0 else None


@functools.lru_cache(maxsize=8)
def git(cwd: str) -> Optional[dict]:
    """``{"commit": sha, "dirty": bool}`` for the repository holding ``cwd``, or None outside one (or without
    git). ``dirty``: tracked files differ from the commit (untracked files, such as results, do not count).
    Cached: asked once per process and directory. ``GIT_OPTIONAL_LOCKS=0`` keeps ``git status`` from taking
    the index lock, so a run never gets in the way of a commit being made beside it."""
    commit = _git_output(["rev-parse", "--verify", "HEAD"], cwd)
    if not commit or not commit.strip():
        return None
    status = _git_output(["status", "--porcelain", "--untracked-files=no"], cwd)
    if status is None:
        return None
    return {"commit": commit.strip(), "dirty": bool(status.strip())}


def _argv() -> list[str]:
    """The command line, its program by name only (``gradlab``, not the path of a virtual environment)."""
    args = [str(a) for a in sys.argv]
    return [os.path.basename(args[0]), *args[1:]] if args else []


def record(started: Optional[str] = None, ended: Optional[str] = None) -> dict:
    """The provenance of a result made now, in this process, as plain JSON/YAML data.

    Keys: ``gradlab`` and ``numpy`` (versions); ``python`` (version, implementation); ``blas`` (see ``blas``);
    ``platform`` (system, release, machine); ``cpu`` (model, count); ``argv`` (the command line, as a list:
    for library use, whatever ``sys.argv`` is); ``git`` (commit, dirty; only where the working directory is in
    a git repository); ``started`` and ``ended`` (see ``now``; ``ended`` None when not known yet).
    """
    machine = copy.deepcopy(_machine())  # fresh mappings: YAML would write a shared one as an alias
    out = {"gradlab": __version__, "numpy": np.__version__, "python": machine["python"], "blas": blas(),
           "platform": machine["platform"], "cpu": machine["cpu"], "argv": _argv()}
    try:
        repo = git(str(Path.cwd()))
    except OSError:  # the working directory was removed
        repo = None
    if repo is not None:
        out["git"] = dict(repo)
    out["started"] = started if started is not None else now()
    out["ended"] = ended
    return out


def _minor(version) -> Optional[tuple[str, ...]]:
    return tuple(str(version).split(".")[:2]) if version else None


def differences(recorded: dict) -> list[tuple[str, str, str]]:
    """What tells this process's numbers apart from those of the process ``recorded`` describes:
    ``(what, recorded version, current version)`` for a different gradlab version, or a different NumPy
    major.minor version (a patch release fixes bugs; a minor one may change an algorithm or its bundled BLAS).
    A version the record does not hold cannot be compared, and is not counted."""
    found = []
    theirs, ours = recorded.get("gradlab"), __version__
    if theirs and str(theirs) != ours:
        found.append(("gradlab", str(theirs), ours))
    theirs, ours = recorded.get("numpy"), np.__version__
    if theirs and _minor(theirs) != _minor(ours):
        found.append(("NumPy", str(theirs), ours))
    return found


def engine(recorded: Optional[dict] = None) -> str:
    """``gradlab 0.1.0 with NumPy 2.2.1``: the versions ``recorded`` holds (``?`` where it holds none), or,
    by default, this process's."""
    if recorded is None:
        return f"gradlab {__version__} with NumPy {np.__version__}"
    return f"gradlab {recorded.get('gradlab') or '?'} with NumPy {recorded.get('numpy') or '?'}"
