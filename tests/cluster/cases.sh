#!/bin/bash
# tests/cluster/cases.sh — the multinode tests that are shell (tests/multinode.cmake), each
# on the cluster that fixture volt_vcluster brought up (2 nodes), with 2 ranks per node:
#
#   cases.sh banner VCLUSTER STATE DIR TRAIN CONFIG DATA
#       volt-train fit, 2 steps: exit 0, and the start-up banner says 4 ranks on 2 nodes,
#       2 per node (MPI_Comm_split_type SHARED over the nodes' host names), launched by
#       mpirun
#   cases.sh prepare_data VCLUSTER STATE DIR PROBE CONFIG DATA
#       tests/cluster/prepare_data_probe, 2 steps: its data module's prepare_data left
#       exactly 2 markers (once per node: not once per job, not once per rank), from 2
#       different host names
#
# DIR is emptied first; it gets the run's log and folders. Exit status 77 (skipped) where
# no cluster can run (vcluster check says why).
set -euo pipefail

fail() {
  echo "FAILED: $*" >&2
  exit 1
}
[ $# -eq 7 ] || { echo "usage: $0 banner|prepare_data VCLUSTER STATE DIR PROGRAM CONFIG DATA" >&2; exit 2; }
case_name=$1 vcluster=$2 state=$3 dir=$4 program=$5 config=$6 data=$7
"$vcluster" --state "$state" check
rm -rf "$dir"
mkdir -p "$dir"
log=$dir/log

# run ARGS...: PROGRAM fit on 2 nodes x 2 ranks for 2 steps; the log in $log
run() {
  if ! "$vcluster" --state "$state" run -n 4 --per-node 2 -- \
       "$program" fit --config "$config" --data.path="$data" --trainer.max_steps=2 \
       --trainer.limit_val_batches=1 --trainer.num_sanity_val_steps=0 \
       --trainer.enable_progress_bar=false --trainer.enable_model_summary=false \
       --trainer.default_root_dir="$dir/runs" "$@" >"$log" 2>&1; then
    cat "$log"
    fail "$program failed on 2 nodes x 2 ranks (its output above)"
  fi
}

case $case_name in
  banner)
    run
    expected=': 4 ranks on 2 nodes (2 per node), launcher: mpirun (Open MPI)'
    banner=$(grep -F ' ranks on ' "$log" || true)
    if [[ $banner != *"$expected" ]]; then
      cat "$log"
      fail "the banner is '${banner:-missing}', expected '...$expected'"
    fi
    echo "banner: $banner"
    ;;
  prepare_data)
    mkdir -p "$dir/markers"
    run --model.input_size=784 --model.num_classes=10 --probe.marker_dir="$dir/markers"
    shopt -s nullglob
    markers=("$dir"/markers/prepare_data.*)
    hosts=$(for marker in "${markers[@]}"; do awk '{ print $2 }' "$marker"; done | sort -u)
    echo "prepare_data markers (${#markers[@]}):"
    for marker in "${markers[@]}"; do echo "  ${marker##*/}: $(cat "$marker")"; done
    [ ${#markers[@]} -eq 2 ] || fail "prepare_data ran ${#markers[@]} times on 2 nodes, expected 2"
    [ "$(echo "$hosts" | wc -l)" -eq 2 ] ||
      fail "prepare_data ran on host(s) $(echo "$hosts" | tr '\n' ' ')instead of once on each of 2"
    ;;
  *) fail "unknown case '$case_name'" ;;
esac
