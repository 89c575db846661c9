"""What every benchmark writes beside its table: the machine, the BLAS kernel and the date, as JSON."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np

# Set by some machines' administrators to pin OpenBLAS to an older kernel; they change numpy's speed, not its use.
BLAS_PINS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def blas() -> dict:
    """numpy's BLAS: library, version and the kernel it chose for this CPU (threadpoolctl), and any pins."""
    from threadpoolctl import threadpool_info

    info = [{k: lib.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for lib in threadpool_info() if lib.get("user_api") == "blas"]
    return {"libraries": info, "pins": {k: os.environ[k] for k in BLAS_PINS if k in os.environ}}


def describe_blas() -> str:
    """One line for the top of a benchmark's table, with a warning where the kernel is pinned."""
    b = blas()
    line = ", ".join(f"{lib['internal_api']} {lib['version']} ({lib['architecture']} kernel)" for lib in b["libraries"])
    if b["pins"]:
        pins = " ".join(f"{k}={v}" for k, v in b["pins"].items())
        line += (f"\nwarning: {pins} pins OpenBLAS, which slows numpy on newer CPUs; to measure numpy as a user "
                 f"would get it, run with: env -u {' -u '.join(BLAS_PINS)} ...")
    return f"numpy BLAS: {line}"


def write_report(path: Path, report: dict) -> None:
    report = {**report, "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                    "python": platform.python_version(), "numpy": np.__version__, "blas": blas()},
              "date": time.strftime("%Y-%m-%d")}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {path}")
