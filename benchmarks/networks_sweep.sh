#!/bin/bash
# Issue 32's curves: FID after every epoch, two seeds, for each network and schedule candidate, in two
# streams that share the machine (the curves do not depend on that: CPU training is deterministic; the
# speed that turns epochs into seconds is measured alone by benchmarks.time_to_quality). Each candidate
# trains about the default's 10-epoch wall time; rows are appended as they come, a rerun skips what is done.
#   bash benchmarks/networks_sweep.sh 1   # stream 1;  bash benchmarks/networks_sweep.sh 2   # stream 2
set -euo pipefail
cd "$(dirname "$0")/.."
out=benchmarks/results
curve() {  # recipe, epochs, csv name
    python -m benchmarks.recipes --recipes "research/$1" --epochs "$2" --seeds 1 2 --eval-every-epoch \
        --out "$out/$3.csv"
}
case "${1:?stream 1 or 2}" in
1)
    curve default-linear-decay 10 networks_default_linear_decay
    curve conditional-batch-norm-linear-decay 8 networks_conditional_batch_norm
    ;;
2)
    curve deep-networks-linear-decay "${DEEP_EPOCHS:-8}" networks_deep
    curve conditional-embedding-linear-decay 8 networks_conditional_embedding
    ;;
esac
