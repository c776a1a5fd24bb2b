#!/usr/bin/env bash
# scripts/setup-test-venv.sh VENV — the Python environment of the tests that read Volt's
# output with other people's readers: a virtual environment of Debian's /usr/bin/python3
# (python3 -m venv, package python3-venv) with these packages from PyPI:
#   tensorboard   reads the event files of lib/log/tensorboard.c (tests/tensorboard.cmake)
#
# Idempotent and quiet: when VENV/volt-test-venv.txt records the same Python and the
# same requirements, it does nothing; otherwise it rebuilds VENV from scratch. Concurrent
# calls (ctest -j, two build folders) take turns on the lock VENV.lock.
#
# Exit status: 0 ready; 77 it cannot be set up on this machine (no python3-venv, PyPI
# unreachable), with the reason on stderr, so that a test calling it can skip; 1 any
# other failure. Where the CI environment variable is "true" (GitHub Actions and GitLab CI
# set it), PyPI must be reachable: "cannot be set up" is 1 there, not 77.
set -euo pipefail

if (($# != 1)) || [[ -z $1 ]]; then
  echo "usage: $0 VENV_DIR   (build/test-venv, say)" >&2
  exit 1
fi
venv=$1
python=/usr/bin/python3
requirements=(tensorboard==2.21.0)

cannot() { # the reason, then exit 77 (1 under CI)
  echo "setup-test-venv: cannot set up $venv: $*" >&2
  if [[ ${CI:-} == true ]]; then exit 1; fi
  exit 77
}

[[ -x $python ]] || cannot "$python not found (Debian's python3)"
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9

stamp="$venv/volt-test-venv.txt"
want="$("$python" --version 2>&1) ${requirements[*]}"
if [[ -f $stamp && $(<"$stamp") == "$want" && -x $venv/bin/python ]]; then
  exit 0
fi

rm -rf "$venv"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! "$python" -m venv "$venv" >"$log" 2>&1; then
  rm -rf "$venv"
  cannot "'$python -m venv' failed (Debian: apt-get install python3-venv): $(tail -n 3 "$log")"
fi
# One short try per package index request: without a network this fails in seconds,
# not after pip's default 5 retries of 15 s each.
if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
       --timeout 30 --retries 2 "${requirements[@]}" >"$log" 2>&1; then
  rm -rf "$venv"
  cannot "pip install ${requirements[*]} failed (is PyPI reachable?): $(tail -n 5 "$log")"
fi
if ! "$venv/bin/python" -c 'import tensorboard.backend.event_processing.event_accumulator' \
       >"$log" 2>&1; then
  cat "$log" >&2
  rm -rf "$venv"
  echo "setup-test-venv: tensorboard installed in $venv but does not import" >&2
  exit 1
fi
echo "$want" >"$stamp"
echo "setup-test-venv: $venv ready (${requirements[*]})" >&2
