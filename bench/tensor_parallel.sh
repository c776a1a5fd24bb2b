#!/usr/bin/env bash
# bench/tensor_parallel.sh — memory per rank and step time of a GPT under tensor
# parallelism: tp = 1, 2 and 4 ranks (dp = 1), the same model and global batch, and data
# parallelism on 2 ranks (dp = 2) for comparison.
#
#   bench/tensor_parallel.sh [BUILD_DIR] [OUT_DIR]       (build-bench, bench/results)
#
# The model: 12 blocks, width 768, 12 heads, byte vocabulary, context 64 (85 M
# parameters, 340 MB in f32; with gradients and AdamW's two moments 1.4 GB per rank at
# tp = 1); batch 4; STEPS optimizer steps (5) after one warm-up step, profiled
# (trainer.profiler=simple). tp = 1 runs twice, with 1 and with 2 BLAS threads: tp = 2 and
# dp = 2 use both cores of a 2-core machine, and tp = 4 oversubscribes them (say so when
# you quote it). Per run, from volt-train's own reports: this rank's parameters and optimizer
# state (ModelSummary), the peak resident memory per rank and the seconds per training
# step (the profiler's train_batch over the measured steps), and the MB each rank
# communicated. Writes OUT_DIR/tensor_parallel.csv and prints it as a table.
#
# Environment: VOLT_GPT_DATA (a token file, volt-data text --block-size 64; by default the
# fortunes are converted into BUILD_DIR/bench-fortunes.h5), VOLT_FORTUNES
# (/usr/share/games/fortunes), MPIEXEC (mpirun), STEPS (5).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-bench}
out=${2:-bench/results}
steps=${STEPS:-5}
mpiexec=${MPIEXEC:-mpirun}
train=$build/apps/volt-train
[ -x "$train" ] || { echo "tensor_parallel.sh: no $train (build first)" >&2; exit 1; }
data=${VOLT_GPT_DATA:-$build/bench-fortunes.h5}
if [ ! -f "$data" ]; then
  fortunes=${VOLT_FORTUNES:-/usr/share/games/fortunes}
  mapfile -t files < <(find "$fortunes" -maxdepth 1 -type f ! -name '*.dat' | sort)
  ((${#files[@]})) || { echo "tensor_parallel.sh: no fortune files in $fortunes" >&2; exit 1; }
  "$build/apps/volt-data" text --block-size 64 --output "$data" "${files[@]}" >/dev/null
fi

# Open MPI refuses root without these, and 4 ranks on fewer cores without --oversubscribe
mpi_flags=()
if [[ $("$mpiexec" --version 2>/dev/null) == *"Open MPI"* ]]; then
  mpi_flags+=(--oversubscribe)
  [ "$(id -u)" = 0 ] && mpi_flags+=(--allow-run-as-root)
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
csv=$out/tensor_parallel.csv
columns=(dp tp blas_threads params_per_rank params_whole optimizer_bytes_rank0 peak_rss_mb_max
  seconds_per_step comm_mb_per_step)
(IFS=,; echo "${columns[*]}") >"$csv"

# run DP TP BLAS_THREADS: one measured fit (global batch 4)
run() {
  local dp=$1 tp=$2 threads=$3 log=$work/dp$1_tp$2_t$3.log
  OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads \
    "$mpiexec" -n $((dp * tp)) "${mpi_flags[@]}" "$train" fit --model.name=gpt \
    --model.n_layer=12 --model.n_embd=768 --model.n_head=12 --data.path="$data" \
    --data.batch_size=$((4 / dp)) --trainer.layout="dp=$dp,tp=$tp" \
    --trainer.max_steps=$((steps + 1)) --trainer.num_sanity_val_steps=0 \
    --trainer.enable_progress_bar=false --trainer.enable_checkpointing=false \
    --trainer.profiler=simple --trainer.default_root_dir="$work/runs" \
    --trainer.name="dp${dp}_tp${tp}_t${threads}" >"$log" 2>&1 ||
    { cat "$log" >&2; echo "tensor_parallel.sh: dp=$dp, tp=$tp failed" >&2; exit 1; }
  awk -v dp="$dp" -v tp="$tp" -v threads="$threads" '
    /total: [0-9]+ parameters/ { for (i = 1; i <= NF; i++) if ($i == "total:") mine = $(i + 1) }
    /per rank under tp=/ { for (i = 1; i <= NF; i++) if ($i == "model'"'"'s") whole = $(i + 1) }
    /optimizer state of rank 0:/ { for (i = 1; i <= NF; i++) if ($i == "0:") opt = $(i + 1) }
    /peak resident memory per rank:/ { rss = $6 }
    $1 == "train_batch" { batch_s = $3; count = $2 }
    $1 == "forward" || $1 == "backward" || $1 == "optimizer" || $1 == "grad_allreduce_wait" {
      comm += $NF
    }
    END {
      if (whole == "") whole = mine
      # the profiler covers the warm-up step too: take the mean of all steps as the figure
      printf "%d,%d,%d,%s,%s,%s,%s,%.3f,%.1f\n", dp, tp, threads, mine, whole, opt, rss,
             batch_s / count, comm / count
    }' "$log" >>"$csv"
}

run 1 1 1
run 1 1 2
run 1 2 1
run 1 4 1
run 2 1 1
column -s, -t "$csv"
echo "written: $csv"
