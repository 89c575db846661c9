"""What every benchmark writes beside its table: the machine and the date, as JSON."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import numpy as np


def write_report(path: Path, report: dict) -> None:
    report = {**report, "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                    "python": platform.python_version(), "numpy": np.__version__},
              "date": time.strftime("%Y-%m-%d")}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {path}")
