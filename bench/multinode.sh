#!/usr/bin/env bash
# bench/multinode.sh — flat against hierarchical all-reduce on simulated nodes with shaped
# links: bench_hier_comm's bandwidths and the step time of the MLP under volt-train with
# strategy.hierarchical false and true, on 2 and 4 nodes of 2 ranks each.
#
#   bench/multinode.sh [BUILD_DIR] [OUT_DIR]            (build-bench, bench/results)
#
# For each node count: tests/cluster/vcluster brings the nodes up (network namespaces on
# this machine, real MPI over TCP through a bridge: docs/multinode.md), shapes every node's
# link to RATE and DELAY, runs bench_hier_comm (4 KB .. LARGEST_MB, flat and hierarchical
# alternating inside the job), then PAIRS pairs of MLP fits, hierarchical false and true
# (the order swapped each pair): configs/fashion_mnist_mlp.yaml (784-256-10, per-rank batch
# 64) on the Fashion-MNIST file, STEPS steps with the profiler's trace, the step time the
# median over the steps after the first 5, each step as long as its slowest rank
# (bench/trace_steps.py). The cluster is taken down after each node count and whenever the
# script ends (trap). Every node shares this machine's cores: 2 nodes x 2 ranks are 4
# ranks, 4 nodes x 2 are 8, on however many cores there are (the output says how many).
#
# tc's netem adds the delay; a kernel without it (sch_netem) cannot: the links are then
# shaped to RATE only, the CSVs say delay "none" and OUT_DIR/notes.txt says why. Where no
# cluster can be made (not root, no namespaces, a program missing) it exits with status 77
# and the reason on stderr and in OUT_DIR/notes.txt, having run nothing.
#
# Writes OUT_DIR/hier_comm_<N>nodes.csv (bench_hier_comm's CSV), OUT_DIR/mlp_steps.csv
# (nodes, ranks_per_node, cores, rate, delay, hierarchical, pair, steps, step_ms_median,
# step_ms_min, step_ms_max, allreduce_wait_ms_median), OUT_DIR/notes.txt and the fits'
# logs (OUT_DIR/logs/).
#
# Environment: VOLT_DEMO_DATA (data/fashion_mnist.h5), NODES ("2 4"), PER_NODE (2),
# RATE (10gbit), DELAY (50us; empty: none), LARGEST_MB (16), STEPS (100), PAIRS (2),
# VOLT_BENCH_PYTHON (python3, for bench/trace_steps.py), VCLUSTER_STATE (BUILD_DIR/
# bench-vcluster: the cluster's state folder, whose path names its namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath -m "${1:-build-bench}")
out_given=${2:-bench/results}
out=$(realpath -m "$out_given")
data=$(realpath -m "${VOLT_DEMO_DATA:-data/fashion_mnist.h5}")
node_counts=${NODES:-2 4}
per_node=${PER_NODE:-2}
rate=${RATE:-10gbit}
delay=${DELAY-50us}
largest_mb=${LARGEST_MB:-16}
steps=${STEPS:-100}
pairs=${PAIRS:-2}
python=${VOLT_BENCH_PYTHON:-python3}
vcluster=$PWD/tests/cluster/vcluster
state=$(realpath -m "${VCLUSTER_STATE:-$build/bench-vcluster}")
train=$build/apps/volt-train
hier_comm=$build/bench/bench_hier_comm
for program in "$train" "$hier_comm"; do
  [ -x "$program" ] || { echo "multinode.sh: no $program (build first)" >&2; exit 1; }
done
[ -f "$data" ] || { echo "multinode.sh: no data file $data (VOLT_DEMO_DATA)" >&2; exit 1; }
mkdir -p "$out/logs"
notes=$out/notes.txt
: >"$notes"
note() { echo "multinode.sh: $*" >&2; echo "$*" >>"$notes"; }
# vcluster's messages without the state folder's path (the logs are committed results)
unstated() { sed -e 's/, state [^ ]*$//' -e 's/ state [^ ]*$//'; }

# --- can a cluster run here? ----------------------------------------------------------------
why=""
"$vcluster" --state "$state" check 2>"$out/logs/check.txt" || {
  rc=$?
  why=$(sed -n 's/^vcluster: skipped: //p' "$out/logs/check.txt")
  [ "$rc" -eq 77 ] || { cat "$out/logs/check.txt" >&2; exit 1; }
  note "skipped: no simulated cluster here: ${why:-see logs/check.txt}"
  exit 77
}

cluster_up=0
teardown() {
  if [ "$cluster_up" = 1 ]; then
    "$vcluster" --state "$state" down >/dev/null 2>&1 || echo "multinode.sh: vcluster down failed" >&2
    cluster_up=0
  fi
}
work=$(mktemp -d "${TMPDIR:-/tmp}/volt_bench_multinode.XXXXXX")
trap 'teardown; rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cores=$(getconf _NPROCESSORS_ONLN) # not nproc, which obeys OMP_NUM_THREADS
# one BLAS thread per rank; the ranks inherit this environment (docs/multinode.md)
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
steps_csv=$out/mlp_steps.csv
echo "nodes,ranks_per_node,cores,rate,delay,hierarchical,pair,steps,step_ms_median,step_ms_min,step_ms_max,allreduce_wait_ms_median" \
  >"$steps_csv"

# fit NODES HIERARCHICAL PAIR: one MLP fit on the cluster, its step times appended to the CSV
fit() {
  local nodes=$1 hierarchical=$2 pair=$3 name="n$1_h$2_p$3" log=$out/logs/mlp_n$1_h$2_p$3.txt
  echo "multinode.sh: $nodes nodes, MLP, strategy.hierarchical=$hierarchical (pair $pair)"
  "$vcluster" --state "$state" run -n $((nodes * per_node)) --per-node "$per_node" -- \
    "$train" fit --config "$PWD/configs/fashion_mnist_mlp.yaml" --data.path="$data" \
    --data.prefetch=false --strategy.hierarchical="$hierarchical" \
    --trainer.max_steps="$steps" --trainer.num_sanity_val_steps=0 \
    --trainer.limit_val_batches=0 --trainer.enable_progress_bar=false \
    --trainer.enable_checkpointing=false --trainer.enable_model_summary=false \
    --trainer.profiler=simple --profiler.trace=true --trainer.default_root_dir="$work/runs" \
    --trainer.name="$name" --trainer.version=0 >"$log" 2>&1 ||
    { tail -20 "$log" >&2; echo "multinode.sh: the fit $name failed" >&2; exit 1; }
  local times
  times=$("$python" bench/trace_steps.py "$work/runs/$name/version_0")
  echo "$nodes,$per_node,$cores,$rate,$applied_delay,$hierarchical,$pair,$times" >>"$steps_csv"
}

for nodes in $node_counts; do
  echo "multinode.sh: $nodes nodes x $per_node ranks ($((nodes * per_node)) ranks on $cores cores)"
  cluster_up=1
  rc=0
  "$vcluster" --state "$state" up "$nodes" 2>&1 | unstated >"$out/logs/up_$nodes.txt" ||
    rc=$?
  if [ "$rc" -ne 0 ]; then
    cat "$out/logs/up_$nodes.txt" >&2
    if [ "$rc" -eq 77 ]; then
      note "skipped: no simulated cluster here: $(sed -n 's/^vcluster: skipped: //p' \
        "$out/logs/up_$nodes.txt")"
      exit 77
    fi
    exit 1
  fi
  # the delay needs netem: without it, the rate alone (vcluster skips, status 77, otherwise)
  applied_delay=none
  rc=0
  if [ -n "$delay" ]; then
    "$vcluster" --state "$state" shape --rate "$rate" --delay "$delay" \
      >"$out/logs/shape_$nodes.txt" 2>&1 || rc=$?
    if [ "$rc" -eq 0 ]; then
      applied_delay=$delay
    elif [ "$rc" -eq 77 ]; then
      # one note for all node counts
      grep -q "^delay $delay not applied" "$notes" ||
        note "delay $delay not applied, links shaped to $rate only: $(sed -n \
          's/^vcluster: skipped: //p' "$out/logs/shape_$nodes.txt")"
      rc=0
    else
      cat "$out/logs/shape_$nodes.txt" >&2
      exit 1
    fi
  fi
  if [ "$applied_delay" = none ]; then
    "$vcluster" --state "$state" shape --rate "$rate" >>"$out/logs/shape_$nodes.txt" 2>&1 ||
      { cat "$out/logs/shape_$nodes.txt" >&2; exit 1; }
  fi
  "$vcluster" --state "$state" status 2>&1 | unstated >>"$out/logs/shape_$nodes.txt"

  echo "multinode.sh: $nodes nodes, bench_hier_comm up to $largest_mb MB"
  mkdir -p "$work/comm"
  "$vcluster" --state "$state" run -n $((nodes * per_node)) --per-node "$per_node" -- \
    "$hier_comm" "$work/comm" "$largest_mb" "$rate" "$applied_delay" \
    >"$out/logs/hier_comm_$nodes.txt" 2>&1 ||
    { tail -20 "$out/logs/hier_comm_$nodes.txt" >&2; echo "multinode.sh: bench_hier_comm failed" >&2
      exit 1; }
  grep -v '^\[rank' "$out/logs/hier_comm_$nodes.txt"
  mv "$work/comm/hier_comm.csv" "$out/hier_comm_${nodes}nodes.csv"

  for pair in $(seq "$pairs"); do
    if [ $((pair % 2)) = 1 ]; then
      fit "$nodes" false "$pair"
      fit "$nodes" true "$pair"
    else
      fit "$nodes" true "$pair"
      fit "$nodes" false "$pair"
    fi
  done
  teardown
done
column -s, -t "$steps_csv"
echo "written: $out_given/hier_comm_*nodes.csv, $out_given/mlp_steps.csv"
