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
#   cases.sh cut VCLUSTER STATE DIR TRAIN CONFIG DATA
#       a long volt-train fit with comm.timeout_s = 5; once it logs steps, `vcluster cut 1`
#       takes node 1's link down. Within the timeout + 30 s every rank must have exited (no
#       volt-train left in either node), ranks 0 and 1 (node 0) each with the watchdog's
#       message, one at least naming node 1's ranks as not arrived (no answer). mpirun itself waits for
#       its daemon on node 1 until TCP gives up (Open MPI's behaviour, minutes): once
#       `vcluster mend 1` brings the link back it must return, with exit status 124
#
# DIR is emptied first; it gets the run's log and folders. Exit status 77 (skipped) where
# no cluster can run (vcluster check says why).
set -euo pipefail

fail() {
  echo "FAILED: $*" >&2
  exit 1
}
[ $# -eq 7 ] || { echo "usage: $0 banner|prepare_data|cut VCLUSTER STATE DIR PROGRAM CONFIG DATA" >&2; exit 2; }
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
  cut)
    timeout_s=5
    limit=$((timeout_s + 30))
    metrics=$dir/runs/cut/version_0/metrics.csv
    launcher=""
    cleanup() {
      "$vcluster" --state "$state" mend 1 >/dev/null 2>&1 || true
      [ -z "$launcher" ] || kill "$launcher" 2>/dev/null || true
    }
    trap cleanup EXIT
    "$vcluster" --state "$state" run -n 4 --per-node 2 -- \
      "$program" fit --config "$config" --data.path="$data" --trainer.max_epochs=1000 \
      --trainer.log_every_n_steps=1 --trainer.num_sanity_val_steps=0 \
      --trainer.enable_progress_bar=false --trainer.enable_model_summary=false \
      --trainer.enable_checkpointing=false --comm.timeout_s=$timeout_s \
      --trainer.default_root_dir="$dir/runs" --trainer.name=cut >"$log" 2>&1 &
    launcher=$!
    # training is under way once rank 0 has logged a few steps
    for _ in $(seq 600); do
      if [ -f "$metrics" ] && [ "$(wc -l <"$metrics")" -ge 4 ]; then break; fi
      kill -0 "$launcher" 2>/dev/null || { cat "$log"; fail "the run ended before the cut"; }
      sleep 0.1
    done
    [ -f "$metrics" ] || { cat "$log"; fail "no steps logged after 60 s"; }
    "$vcluster" --state "$state" cut 1
    cut_at=$SECONDS
    ranks_left() {
      { "$vcluster" --state "$state" pids 0 && "$vcluster" --state "$state" pids 1; } |
        awk '$2 == "volt-train"' | wc -l
    }
    while [ "$(ranks_left)" -gt 0 ] && [ $((SECONDS - cut_at)) -le "$limit" ]; do sleep 0.5; done
    left=$(ranks_left)
    [ "$left" -eq 0 ] || { cat "$log"; fail "$left rank(s) still running $limit s after the cut"; }
    echo "every rank ended within $((SECONDS - cut_at)) s of the cut (limit $limit s)"
    # node 0's ranks each said why; at least one waited on a rank of node 1 that never
    # answered (the others may wait on a node-0 peer stuck with node 1, such as the
    # hierarchical all-reduce's all-gather in the node behind its cross-node all-reduce)
    message="error: comm.timeout_s: .* made no progress for [0-9.]+ s \\(comm.timeout_s = $timeout_s\\) at fit step [0-9]+; ranks that did not arrive: "
    for rank in 0 1; do
      line=$(grep -E "^\[rank $rank\] $message" "$log" || true)
      [ -n "$line" ] || { cat "$log"; fail "rank $rank printed no timeout message"; }
      echo "$line"
    done
    silent=$(grep -E "^\[rank [01]\] ${message}(2|3|2, 3) \\(no answer within" "$log" || true)
    [ -n "$silent" ] || { cat "$log"; fail "no rank of node 0 named node 1's ranks as silent"; }
    "$vcluster" --state "$state" mend 1
    mended_at=$SECONDS
    while kill -0 "$launcher" 2>/dev/null && [ $((SECONDS - mended_at)) -le 30 ]; do sleep 0.5; done
    kill -0 "$launcher" 2>/dev/null && { cat "$log"; fail "mpirun still running 30 s after the mend"; }
    status=0
    wait "$launcher" || status=$?
    launcher=""
    [ "$status" -eq 124 ] || { cat "$log"; fail "mpirun exited with $status, expected 124"; }
    echo "mpirun returned 124 within $((SECONDS - mended_at)) s of the mend"
    ;;
  *) fail "unknown case '$case_name'" ;;
esac
