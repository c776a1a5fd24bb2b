#!/usr/bin/env bash
# Builds Volt and runs the whole test suite: the Release build with warnings as errors and
# every test (unit, mpi at 1, 2 and 4 ranks, gpu tests skip without a GPU), then the
# AddressSanitizer + UBSan build with the unit tests. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

cmake --preset ci
cmake --build --preset ci -j"$jobs"
ctest --preset ci -j"$jobs"

cmake --preset asan
cmake --build --preset asan -j"$jobs"
ctest --preset asan -j"$jobs"
