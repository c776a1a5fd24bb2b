#!/bin/bash
# tests/slurm/srun_case.sh — volt-train fit launched by srun at 2 ranks through PMIx (from
# tests/slurm.cmake, with SLURM_CONF set).
#
#   srun_case.sh ROOT TRAIN CONFIG DATA
#
# In a fresh ROOT: `srun --mpi=pmix -n 2 TRAIN fit` for 2 epochs of 100 batches (global
# batch 128). It must exit 0; rank 0's banner must say 2 ranks with launcher srun; the run
# must log train/loss and end with val/acc >= 0.75 (about 0.85 here, 0.10 by chance).
set -euo pipefail

[ $# -eq 4 ] || { echo "usage: $0 ROOT TRAIN CONFIG DATA" >&2; exit 2; }
root=$1 train=$2 config=$3 data=$4
: "${SLURM_CONF:?SLURM_CONF must name the test cluster (tests/slurm/cluster.sh up)}"
"$(dirname "$0")/cluster.sh" check "$(dirname "$SLURM_CONF")" # 77 where none can run

# SLURM_* of a job this test itself may run in would steer srun elsewhere
while read -r name; do
  [ "$name" = SLURM_CONF ] || unset "$name"
done < <(compgen -e SLURM_)

fail() {
  echo "srun_case.sh: $*" >&2
  echo "--- $root/srun.out" >&2
  cat "$root/srun.out" >&2
  exit 1
}

rm -rf "$root"
mkdir -p "$root"
status=0
srun --mpi=pmix -n 2 --chdir="$root" "$train" fit --config "$config" --data.path="$data" \
     --trainer.max_epochs=2 --trainer.limit_train_batches=100 --trainer.log_every_n_steps=10 \
     --trainer.enable_progress_bar=false --trainer.default_root_dir="$root" \
     --trainer.name=srun >"$root/srun.out" 2>&1 || status=$?
[ "$status" -eq 0 ] || fail "srun exited with $status"

output=$(<"$root/srun.out")
banner='Volt [^ ]+: 2 ranks on 1 node \(2 per node\), launcher: srun \(Slurm\)'
[[ $output =~ $banner ]] || fail "no banner naming 2 ranks and srun"
echo "${BASH_REMATCH[0]}"

metrics=$root/srun/version_0/metrics.csv
[ -f "$metrics" ] || fail "no $metrics"
# the last value of each column, and how many train/loss values there were
read -r losses loss accuracy < <(awk -F, '
  NR == 1 { for (i = 1; i <= NF; i++) column[$i] = i; next }
  $column["train/loss"] != "" { losses++; loss = $column["train/loss"] }
  $column["val/acc"] != "" { accuracy = $column["val/acc"] }
  END { print losses + 0, (loss == "" ? "none" : loss), (accuracy == "" ? "none" : accuracy) }
' "$metrics")
[ "$losses" -gt 0 ] || fail "$metrics holds no train/loss"
[ "$accuracy" != none ] || fail "$metrics holds no val/acc"
awk -v a="$accuracy" 'BEGIN { exit !(a >= 0.75) }' || fail "val/acc $accuracy, below 0.75"
echo "$losses train/loss values logged, the last $loss; val/acc $accuracy (>= 0.75)"
