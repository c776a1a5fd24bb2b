#!/usr/bin/env bash
# scripts/gpt-demo.sh — a character-level GPT on Debian's fortunes: converts the corpus
# once with `volt-data text` (byte tokens, windows of 65), then trains
# configs/gpt_char.yaml with volt-train on 2 ranks (a couple of minutes on 2 cores).
# Extra arguments go to volt-train (--trainer.limit_train_batches=100 ...).
#
#   VOLT_BUILD_DIR   the build tree holding apps/volt-data and apps/volt-train (build)
#   VOLT_FORTUNES    the folder of the fortune files (/usr/share/games/fortunes, from
#                    Debian's fortunes: scripts/install-deps.sh)
#   VOLT_GPT_DATA    the converted file (data/fortunes.h5)
#   MPIEXEC          the launcher (mpirun)
#   VOLT_DEMO_RANKS  MPI ranks (2)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${VOLT_BUILD_DIR:-build}
fortunes=${VOLT_FORTUNES:-/usr/share/games/fortunes}
data=${VOLT_GPT_DATA:-data/fortunes.h5}
mpiexec=${MPIEXEC:-mpirun}
ranks=${VOLT_DEMO_RANKS:-2}

for tool in volt-data volt-train; do
  if [ ! -x "$build/apps/$tool" ]; then
    echo "gpt-demo.sh: $build/apps/$tool not found; build first (cmake --preset default &&" \
         "cmake --build build) or set VOLT_BUILD_DIR" >&2
    exit 1
  fi
done
if [ ! -f "$data" ]; then
  # the text files only: not the .dat indexes, not the .u8 links
  mapfile -t files < <(find "$fortunes" -maxdepth 1 -type f ! -name '*.dat' | sort)
  if ((${#files[@]} == 0)); then
    echo "gpt-demo.sh: no fortune files in $fortunes (apt-get install fortunes)" >&2
    exit 1
  fi
  mkdir -p "$(dirname "$data")"
  "$build/apps/volt-data" text --block-size 64 --output "$data" "${files[@]}"
fi

mpi_flags=()
if [[ $("$mpiexec" --version 2>/dev/null) == *"Open MPI"* ]] && [ "$(id -u)" = 0 ]; then
  mpi_flags+=(--allow-run-as-root)
fi
"$mpiexec" -n "$ranks" ${mpi_flags[@]+"${mpi_flags[@]}"} "$build/apps/volt-train" fit \
  --config configs/gpt_char.yaml --data.path="$data" "$@"
