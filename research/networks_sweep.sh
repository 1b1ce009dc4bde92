#!/bin/bash
# Issue 32's curves: FID after every epoch, two seeds, for each network and schedule candidate, in two
# streams that share the machine (the curves do not depend on that: CPU training is deterministic; the
# speed that turns epochs into seconds is measured alone by benchmarks.time_to_quality). Each candidate
# trains about the default's 10-epoch wall time (its recipe's epochs); rows are appended as they come,
# and a rerun skips the (recipe, seed) pairs already done.
#   bash research/networks_sweep.sh 1 & bash research/networks_sweep.sh 2
set -euo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/results
curve() {  # recipe, csv name, seeds
    local epochs
    epochs=$(python -c "from fashion_dcgan.config.recipes import recipe; print(recipe('research/$1')['train']['epochs'])")
    python -m benchmarks.recipes --recipes "research/$1" --epochs "$epochs" --seeds "${@:3}" --eval-every-epoch \
        --out "$out/$2.csv"
}
final() {  # recipe, csv name, seeds: scored after the last epoch only (an ablation at the same wall time)
    local epochs
    epochs=$(python -c "from fashion_dcgan.config.recipes import recipe; print(recipe('research/$1')['train']['epochs'])")
    python -m benchmarks.recipes --recipes "research/$1" --epochs "$epochs" --seeds "${@:3}" --out "$out/$2.csv"
}
case "${1:?stream 1 or 2}" in
1)
    curve default-linear-decay networks_default_linear_decay 1 2
    curve deep-conditional-batch-norm-linear-decay networks_deep_conditional_batch_norm 1 2
    final deep-networks networks_deep_constant_rate 1
    ;;
2)
    curve deep-networks-linear-decay networks_deep 1 2
    curve deep-conditional-embedding-linear-decay networks_deep_conditional_embedding 1 2
    final deep-networks networks_deep_constant_rate_seed2 2
    ;;
esac
