#!/usr/bin/env bash
# Installs the build tree into a fresh prefix and checks what an administrator and a user
# get: the layout, the library's SONAME, installed programs that run without
# LD_LIBRARY_PATH and find libvolt in the prefix, and public headers that each compile on
# their own with only what volt.pc gives.
#   check_tree.sh BUILD_DIR PREFIX VERSION C_COMPILER
set -euo pipefail
build=$1 prefix=$2 version=$3 cc=$4
IFS=. read -r major minor _ <<<"$version"
soversion=$major
[[ $major == 0 ]] && soversion=0.$minor

fail() { echo "FAIL: $*" >&2; exit 1; }

rm -rf "$prefix"
cmake --install "$build" --prefix "$prefix" >"$prefix.log" 2>&1 ||
  { cat "$prefix.log"; fail "cmake --install failed"; }

for f in bin/volt-train bin/volt-data \
         "lib/libvolt.so.$version" "lib/libvolt.so.$soversion" lib/libvolt.so lib/libvolt.a \
         include/volt/volt.h include/volt/version.h include/volt/trainer/trainer.h \
         lib/cmake/Volt/VoltConfig.cmake lib/cmake/Volt/VoltConfigVersion.cmake \
         lib/cmake/Volt/VoltTargets.cmake lib/pkgconfig/volt.pc \
         share/volt/configs/fashion_mnist_mlp.yaml share/volt/jobs/train_requeue.sbatch \
         "share/modulefiles/volt/$version.lua"; do
  [[ -e $prefix/$f ]] || fail "missing from the install tree: $f"
done
for f in trainer/trainer_internal.h ops/op_util.h data/hdf5_util.h comm/nccl_backend.h; do
  [[ ! -e $prefix/include/volt/$f ]] || fail "internal header installed: $f"
done
echo "layout: ok"

soname=$(readelf -d "$prefix/lib/libvolt.so.$version" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[[ $soname == "libvolt.so.$soversion" ]] || fail "SONAME is '$soname', not libvolt.so.$soversion"
echo "SONAME: $soname"

# The installed programs run from the prefix alone: no LD_LIBRARY_PATH, and the libvolt
# they load is the installed one, not the build tree's.
for program in volt-train volt-data; do
  out=$(env -u LD_LIBRARY_PATH "$prefix/bin/$program" --version) ||
    fail "$program --version failed"
  [[ $out == *"$program (Volt) $version"* ]] || fail "$program --version printed: $out"
  loaded=$(env -u LD_LIBRARY_PATH ldd "$prefix/bin/$program" | grep 'libvolt\.so')
  [[ $loaded == *"=> $prefix/bin/../lib/libvolt.so.$soversion"* ]] ||
    fail "$program loads libvolt from elsewhere: $loaded"
done
echo "programs: run without LD_LIBRARY_PATH, libvolt from the prefix"

# Every public header compiles alone, with warnings as errors, from volt.pc's flags.
cflags=$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --cflags volt) ||
  fail "pkg-config does not find volt.pc"
count=0
while IFS= read -r header; do
  rel=${header#"$prefix/include/volt/"}
  # shellcheck disable=SC2086 # cflags is several words
  printf '#include "%s"\ntypedef int volt_header_check;\n' "$rel" |
    "$cc" -std=c11 -Wall -Wextra -Wpedantic -Werror -fsyntax-only $cflags -x c - ||
    fail "the installed header $rel does not compile on its own"
  count=$((count + 1))
done < <(find "$prefix/include/volt" -name '*.h' | sort)
echo "headers: $count compile on their own"
echo "install tree ok: $prefix"
