#!/bin/bash
# This session's speed figures, alone on the machine, in order (results/speed_session/*.txt):
# the training step against the tutorial's loop (float32 and bfloat16), time to quality, the CPU attempts.
set -euo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/results/speed_session
mkdir -p "$out"
python -m benchmarks.train_speed --batches 32 256 --repeats 5 --seconds 10 | tee "$out/train_speed.txt"
python -m benchmarks.time_to_quality --curves benchmarks/results/recipes_10epoch.csv \
    benchmarks/results/recipes_10epoch_speed.csv --recipes tutorial ema+r1 ema+lazy-r1+bf16 --repeats 5 \
    --out "$out/time_to_quality.md" | tee "$out/time_to_quality.txt"
python -m research.cpu_attempts --repeats 3 --only bfloat16 | tee "$out/cpu_attempts_bf16.txt"
