#!/usr/bin/env bash
# Builds apps/examples as a project of its own against the installed Volt, the way a user
# does, then trains with the program at 2 ranks:
#   cmake         find_package(Volt), linking Volt::volt (libvolt.so)
#   cmake-static  find_package(Volt), linking Volt::volt_static (libvolt.a)
#   make          the Makefile, with pkg-config volt
#   consumer.sh MODE PREFIX EXAMPLES_DIR WORK_DIR DATA_FILE MPIEXEC [MPIEXEC_FLAGS...]
set -euo pipefail
mode=$1 prefix=$2 examples=$3 work=$4 data=$5
shift 5
mpiexec=("$@")

fail() { echo "FAIL: $*" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work"
unset LD_LIBRARY_PATH
case $mode in
  cmake | cmake-static)
    static=OFF
    [[ $mode == cmake-static ]] && static=ON
    # only the prefix: nothing of Volt's build tree is visible to this project
    cmake -S "$examples" -B "$work/build" -DCMAKE_PREFIX_PATH="$prefix" \
      -DVOLT_EXAMPLES_LINK_STATIC=$static -DCMAKE_BUILD_TYPE=Release
    cmake --build "$work/build"
    program=$work/build/volt-example-custom
    ;;
  make)
    PKG_CONFIG_PATH=$prefix/lib/pkgconfig make -C "$examples" OUT="$work"
    program=$work/volt-example-custom
    ;;
  *) fail "unknown mode $mode" ;;
esac

# outputs captured first: under pipefail, grep -q leaving early can fail the pipeline
dynamic=$(readelf -d "$program")
loaded=$(ldd "$program")
if [[ $mode == cmake-static ]]; then
  [[ $dynamic != *libvolt.so* ]] || fail "linked to libvolt.so, not libvolt.a"
else
  [[ $dynamic == *libvolt.so* ]] || fail "not linked to libvolt.so"
  [[ $loaded == *"=> $prefix/lib/libvolt.so"* ]] ||
    fail "does not load the installed libvolt: $(grep libvolt <<<"$loaded")"
fi

"${mpiexec[@]}" -n 2 "$program" --data.path="$data" --data.batch_size=64 \
  --trainer.max_epochs=1 --trainer.limit_train_batches=20 --trainer.limit_val_batches=4 \
  --trainer.enable_progress_bar=false --trainer.default_root_dir="$work/runs" \
  --trainer.name=example 2>&1 | tee "$work/train.log"
metrics=$work/runs/example/version_0/metrics.csv
[[ -s $metrics ]] || fail "no $metrics"
grep -q "2 ranks" "$work/train.log" || fail "did not run on 2 ranks"
grep -q "val/acc" "$metrics" || fail "no val/acc in $metrics"
echo "$mode: built against $prefix and trained at 2 ranks"
