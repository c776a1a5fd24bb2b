#!/usr/bin/env bash
# scripts/demo.sh — Fashion-MNIST end to end: converts the data set once with volt-data,
# then trains the MLP of configs/fashion_mnist_mlp.yaml with volt-train (5 epochs; about
# 0.87 val/acc). Extra arguments go to volt-train (--trainer.max_epochs=1 ...).
#
#   VOLT_BUILD_DIR         the build tree holding apps/volt-data and apps/volt-train (build)
#   VOLT_FASHION_MNIST_DIR the gzip IDX files (/usr/share/datasets/fashion-mnist, from
#                          Debian's dataset-fashion-mnist: scripts/install-deps.sh)
#   VOLT_DEMO_DATA         the converted file (data/fashion_mnist.h5)
#   MPIEXEC                the launcher (mpirun)
#   VOLT_DEMO_RANKS        MPI ranks (2): data parallel, per-rank batch data.batch_size
set -euo pipefail
cd "$(dirname "$0")/.."
build=${VOLT_BUILD_DIR:-build}
fashion=${VOLT_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
data=${VOLT_DEMO_DATA:-data/fashion_mnist.h5}
mpiexec=${MPIEXEC:-mpirun}
ranks=${VOLT_DEMO_RANKS:-2}

for tool in volt-data volt-train; do
  if [ ! -x "$build/apps/$tool" ]; then
    echo "demo.sh: $build/apps/$tool not found; build first (cmake --preset default &&" \
         "cmake --build build) or set VOLT_BUILD_DIR" >&2
    exit 1
  fi
done

if [ ! -f "$data" ]; then
  echo "demo.sh: converting Fashion-MNIST from $fashion into $data"
  mkdir -p "$(dirname "$data")"
  "$build/apps/volt-data" idx \
    --train-images "$fashion/train-images-idx3-ubyte.gz" \
    --train-labels "$fashion/train-labels-idx1-ubyte.gz" \
    --test-images "$fashion/t10k-images-idx3-ubyte.gz" \
    --test-labels "$fashion/t10k-labels-idx1-ubyte.gz" \
    --val-fraction 0.1 --seed 0 --output "$data"
fi

# Open MPI refuses root without this flag (containers often run as root).
mpi_flags=()
if [[ $("$mpiexec" --version 2>/dev/null) == *"Open MPI"* ]] && [ "$(id -u)" = 0 ]; then
  mpi_flags+=(--allow-run-as-root)
fi
start=$(date +%s.%N)
"$mpiexec" -n "$ranks" ${mpi_flags[@]+"${mpi_flags[@]}"} "$build/apps/volt-train" fit \
  --config configs/fashion_mnist_mlp.yaml --data.path="$data" "$@"
awk -v start="$start" -v end="$(date +%s.%N)" \
  'BEGIN { printf "demo.sh: volt-train took %.1f s\n", end - start }'
