#!/bin/bash
# tests/slurm/cluster.sh — a real one-machine Slurm for the tests, all of it in one folder.
#
#   cluster.sh up DIR     a fresh munge key, then munged, slurmctld and slurmd, each with its
#                         own pid, log and socket files in DIR; waits until the node is idle
#                         and prints what the caller needs: export SLURM_CONF=DIR/slurm.conf
#   cluster.sh down DIR   cancels the cluster's jobs, stops the three daemons by the PIDs in
#                         their pid files (TERM, then KILL after 10 s); removes nothing
#   cluster.sh check DIR  exit 77 with the reason when no cluster can run here, else 0 (the
#                         tests that use the cluster call it: CTest runs them even when the
#                         set-up was skipped)
#
# Slurm and munge are Debian 12's packages (scripts/install-deps.sh); no systemd is needed.
# DIR/slurm.conf comes from slurm.conf.in beside this script. `up` clears what a previous
# run left in DIR (state, spool, logs, key) and stops daemons it left running, so every
# run starts from nothing. Ports: VOLT_SLURMCTLD_PORT (16817) and the next one for slurmd.
# Exit status 77 (CTest's skip): the script cannot run here (not root, a program missing).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PATH=$PATH:/usr/sbin:/sbin # the daemons live in sbin, which a non-login shell may lack

usage() {
  echo "usage: $0 up|down|check DIR" >&2
  exit 2
}
skip() {
  echo "cluster.sh: skipped: $*" >&2
  exit 77
}
fail() {
  echo "cluster.sh: $*" >&2
  exit 1
}

[ $# -eq 2 ] || usage
action=$1
dir=$(realpath -m "$2")
conf=$dir/slurm.conf
[ "$dir" != / ] || fail "DIR must not be /"

# daemon_pid NAME: the PID in NAME's pid file while it is still a NAME process (a stale
# file from an earlier run may name a PID that something else has now)
daemon_pid() {
  local pid
  [ -s "$dir/run/$1.pid" ] || return 0
  pid=$(<"$dir/run/$1.pid")
  [[ $pid =~ ^[0-9]+$ ]] || return 0
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] && echo "$pid"
  return 0
}

down() {
  local deadline
  # the jobs first, while slurmctld and slurmd can still end them: their slurmstepd and
  # tasks would otherwise outlive slurmd
  if [ -f "$conf" ] && SLURM_CONF=$conf timeout 10 scontrol ping >/dev/null 2>&1; then
    SLURM_CONF=$conf scancel --user="$(id -un)" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while [ -n "$(SLURM_CONF=$conf timeout 10 squeue --noheader 2>/dev/null)" ] &&
          [ "$SECONDS" -lt "$deadline" ]; do
      sleep 0.1
    done
  fi
  # TERM to all three at once (each takes a second or two to finish), KILL after 10 s
  local name pid alive pids=()
  deadline=$((SECONDS + 10))
  for name in slurmd slurmctld munged; do
    pid=$(daemon_pid "$name")
    [ -n "$pid" ] || continue
    kill -TERM "$pid" 2>/dev/null && pids+=("$pid") && echo "stopping $name ($pid)"
  done
  while [ "$SECONDS" -lt "$deadline" ]; do
    alive=0
    for pid in "${pids[@]}"; do
      [ -d "/proc/$pid" ] && alive=1
    done
    [ "$alive" -eq 1 ] || return 0
    sleep 0.1
  done
  for pid in "${pids[@]}"; do
    if [ -d "/proc/$pid" ]; then
      echo "$(cat "/proc/$pid/comm" 2>/dev/null) ($pid) ignored SIGTERM for 10 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}

# show_logs: the end of every daemon's log, for a start that failed
show_logs() {
  local log
  for log in "$dir"/log/*.log; do
    [ -f "$log" ] || continue
    echo "--- $log (last 30 lines)" >&2
    tail -n 30 "$log" >&2
  done
}

check() {
  [ "$(id -u)" -eq 0 ] || skip "needs root (slurmd starts jobs as their user)"
  local program
  for program in munged slurmctld slurmd sinfo srun sbatch scontrol scancel squeue; do
    command -v "$program" >/dev/null ||
      skip "$program is not installed (scripts/install-deps.sh)"
  done
}

up() {
  check
  # A Unix socket's path holds at most 107 bytes; the longest here are slurmstepd's in the
  # spool: <node>_<job>.<step> (the batch step is 4294967291), stepd.slurm.pmix.<job>.<step>
  local node longest
  node=$(hostname -s)
  longest=$dir/spool/${node}_9999999.4294967291
  [ ${#longest} -le 107 ] ||
    fail "$dir is too long for the sockets slurmd makes in it ($longest: over 107 bytes)"

  down >/dev/null # what a previous run may have left running
  rm -rf "$dir/state" "$dir/spool" "$dir/run" "$dir/log" "$dir/munge" "$conf" \
         "$dir/plugstack.conf"
  mkdir -p "$dir/state" "$dir/spool" "$dir/run" "$dir/log" "$dir/munge"

  # munge: a key of its own, and a socket that only this cluster's daemons and clients use.
  # --force: munged would refuse a key or socket under a folder that others may write to,
  # which a build tree may be; the key is a throwaway.
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 0400 "$dir/munge/munge.key"
  munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
         --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" \
         --seed-file="$dir/munge/munged.seed" ||
    { show_logs; fail "munged did not start"; }

  # slurm.conf: this machine as slurmd sees it (CPUs, sockets, cores, threads, memory)
  local name hardware ctld_port=${VOLT_SLURMCTLD_PORT:-16817}
  hardware=$(slurmd -C | head -n 1 | tr ' ' '\n' | grep -v -e '^NodeName=' -e '^$' |
             tr '\n' ' ')
  [[ $hardware == *CPUs=* && $hardware == *RealMemory=* ]] ||
    fail "slurmd -C did not report CPUs and RealMemory: $hardware"
  sed -e "s|@DIR@|$dir|g" -e "s|@NODE@|$node|g" -e "s|@HARDWARE@|${hardware% }|g" \
      -e "s|@CTLD_PORT@|$ctld_port|g" -e "s|@SLURMD_PORT@|$((ctld_port + 1))|g" \
      "$here/slurm.conf.in" >"$conf"
  : >"$dir/plugstack.conf"
  export SLURM_CONF=$conf

  # both daemonise and write their pid files; -f as well as SLURM_CONF, to be explicit
  slurmctld -f "$conf" || { show_logs; down >/dev/null; fail "slurmctld did not start"; }
  slurmd -f "$conf" -N "$node" || { show_logs; down >/dev/null; fail "slurmd did not start"; }

  local state="" problem="" deadline=$((SECONDS + 30))
  while [ "$SECONDS" -lt "$deadline" ]; do
    state=$(timeout 10 sinfo --noheader --nodes="$node" --format=%T 2>/dev/null || true)
    [ "$state" = idle ] && break
    for name in slurmctld slurmd; do # a daemon that died will not come back: say so now
      if [ -s "$dir/run/$name.pid" ] && [ -z "$(daemon_pid "$name")" ]; then
        problem="$name exited (its log below says why)"
      fi
    done
    [ -z "$problem" ] || break
    sleep 0.1
  done
  if [ "$state" != idle ]; then
    echo "cluster.sh: node $node is '${state:-unknown}', not idle: ${problem:-30 s passed}" >&2
    timeout 10 sinfo --long --Node >&2 || true
    show_logs
    down >/dev/null
    exit 1
  fi
  echo "export SLURM_CONF=$conf"
}

case $action in
  up) up ;;
  down) check && down ;;
  check) check ;;
  *) usage ;;
esac
