#!/usr/bin/env bash
# Every benchmark the README's performance section reports; JSON goes to benchmarks/results/.
# Torch is compared when installed: pip install -e '.[bench]'
set -euo pipefail
cd "$(dirname "$0")/.."
python benchmarks/startup.py
python benchmarks/step.py --threads 1 --repeats 15
python benchmarks/step.py --threads 2 --repeats 15
python benchmarks/threads.py
python benchmarks/sweep.py
python benchmarks/sweep_scale.py
python benchmarks/distributions.py --threads 1
python benchmarks/sharpness.py --threads 1
python benchmarks/memory.py  # the longest: one process per configuration at (20, 2048, 256)
