#!/usr/bin/env bash
# Loads the installed modulefile with Lmod and checks what it sets: volt-train on PATH
# (the installed one), VOLT_ROOT, pkg-config and CMake finding Volt; then unloads it.
#   lmod.sh LMOD_INIT PREFIX VERSION        (exit 77 without Lmod)
set -euo pipefail
init=$1 prefix=$2 version=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
[[ -f $init ]] || { echo "skipped: no Lmod (apt-get install lmod)"; exit 77; }

unset LD_LIBRARY_PATH CMAKE_PREFIX_PATH PKG_CONFIG_PATH VOLT_ROOT
set +u # Lmod's shell functions read unset variables
# shellcheck disable=SC1090
source "$init"
module use "$prefix/share/modulefiles"
# outputs captured first: under pipefail, grep -q leaving early can fail the pipeline
avail=$(module --redirect avail volt 2>&1)
[[ $avail == *"volt/$version"* ]] || fail "module avail lists no volt/$version"
whatis=$(module --redirect whatis volt 2>&1)
[[ $whatis == *"Version: $version"* ]] || fail "module whatis"
module load "volt/$version"
set -u
[[ ${VOLT_ROOT:-} == "$prefix" ]] || fail "VOLT_ROOT is '${VOLT_ROOT:-}', not $prefix"
[[ $(command -v volt-train) == "$prefix/bin/volt-train" ]] ||
  fail "volt-train on PATH is $(command -v volt-train || echo nothing)"
version_text=$(volt-train --version)
[[ $version_text == *"volt-train (Volt) $version"* ]] || fail "volt-train --version"
[[ $(pkg-config --modversion volt) == "$version" ]] || fail "pkg-config --modversion volt"
[[ :$CMAKE_PREFIX_PATH: == *":$prefix:"* ]] || fail "CMAKE_PREFIX_PATH lacks $prefix"
[[ :$LD_LIBRARY_PATH: == *":$prefix/lib:"* ]] || fail "LD_LIBRARY_PATH lacks $prefix/lib"
volt-train --version
set +u
module unload volt
set -u
[[ -z ${VOLT_ROOT:-} ]] || fail "VOLT_ROOT still set after unload"
! command -v volt-train >/dev/null || fail "volt-train still on PATH after unload"
echo "module volt/$version: loads, sets PATH, LD_LIBRARY_PATH, CMAKE_PREFIX_PATH,"
echo "PKG_CONFIG_PATH and VOLT_ROOT, and unloads cleanly"
