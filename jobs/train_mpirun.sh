#!/bin/bash
# volt-train fit under plain mpirun: a workstation, or a cluster without a scheduler.
#
#   jobs/train_mpirun.sh                                 4 ranks on this machine
#   RANKS=32 HOSTFILE=hosts jobs/train_mpirun.sh         32 ranks over the hosts in 'hosts'
#   jobs/train_mpirun.sh --trainer.max_epochs=20         arguments go on to volt-train
#
# A hostfile (Open MPI's form) names one machine a line with its rank slots:
#   node01 slots=16
#   node02 slots=16
# and every machine must reach the others by ssh without a password, and see the same
# paths (volt-train, CONFIG, DATA, RUN_ROOT).
#
# Stopping with a checkpoint: Ctrl-C, or `kill <pid of this script>` (SIGTERM). The
# script passes either to the ranks as SIGUSR1 through mpirun (mpirun runs in a process
# group of its own, so Ctrl-C reaches only this script); volt-train
# (trainer.checkpoint_on_signal, on by default) saves <run folder>/checkpoints/
# hpc_ckpt_<n>.h5 and last.h5 at the next step and exits with 75. Run the script again to
# resume (--ckpt_path=auto: the newest last.h5 of the run name, also of a finished run,
# so a new experiment needs a new --trainer.name). A second Ctrl-C stops at once: it sends
# SIGTERM to mpirun, which (Open MPI 4.1) passes SIGTERM to the ranks 1 s later and SIGKILL
# 1 s after that, and exits with 1.
# When a rank gets SIGUSR1 or SIGTERM from something else (an administrator, a node-drain
# tool), the fit also ends with 75, and the script resumes it at once, up to MAX_RESTARTS
# times.
#
# --- the lines to change ---------------------------------------------------------------
RANKS=${RANKS:-4}                       # MPI ranks in all
HOSTFILE=${HOSTFILE:-}                  # machines and their slots; empty: this machine
THREADS=${THREADS:-1}                   # BLAS threads per rank (cores per rank)
VOLT_TRAIN=${VOLT_TRAIN:-volt-train}    # a build tree's: <build>/apps/volt-train
CONFIG=${CONFIG:-${VOLT_ROOT:-}/share/volt/configs/fashion_mnist_mlp.yaml}
DATA=${DATA:-data/fashion_mnist.h5}     # volt-data's output
RUN_ROOT=${RUN_ROOT:-runs}              # run folders go to $RUN_ROOT/<name>/version_<n>/
MPIRUN=${MPIRUN:-mpirun}                # the launcher of the MPI volt-train was built with
MAX_RESTARTS=${MAX_RESTARTS:-10}        # resumptions after a rank was told to stop
# Open MPI passes only the variables named with -x to ranks on other machines (MPICH and
# Intel MPI pass them all: leave this empty there).
mpirun_args=(-x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS)
# Open MPI placement, when the default (ranks by slot, bound to cores or sockets) is not
# what you want:
# mpirun_args+=(--map-by ppr:8:node)          # 8 ranks on each machine
# mpirun_args+=(--map-by "socket:PE=$THREADS") # THREADS cores per rank, filled by socket
# mpirun_args+=(--bind-to core)               # pin each rank to its core(s)
# mpirun_args+=(--report-bindings)            # print where each rank runs
# mpirun_args+=(--oversubscribe)              # more ranks than cores (testing only)
# mpirun_args+=(--allow-run-as-root)          # in a container that runs as root
# MPICH and Intel MPI: -f instead of --hostfile, -bind-to core, -map-by for placement.
# ---------------------------------------------------------------------------------------
set -uo pipefail
if ! command -v "$VOLT_TRAIN" > /dev/null; then
  echo "volt-train not found: module load volt, or set VOLT_TRAIN to a build's" >&2
  exit 1
fi
if [ ! -f "$CONFIG" ]; then
  echo "no configuration at '$CONFIG': set CONFIG (or VOLT_ROOT, which the module sets)" >&2
  exit 1
fi
if [ -n "$HOSTFILE" ]; then
  mpirun_args+=(--hostfile "$HOSTFILE")
fi
export OPENBLAS_NUM_THREADS=$THREADS
export OMP_NUM_THREADS=$THREADS

# The first stop request asks the ranks to checkpoint; a second one (Ctrl-C twice) asks
# mpirun to end the job now.
stop_requested=""
launcher=""
request_stop() {
  if [ -n "$launcher" ]; then
    if [ -z "$stop_requested" ]; then
      echo "stopping: the ranks save a checkpoint at their next step (Ctrl-C again: at once)"
      kill -USR1 "$launcher" 2> /dev/null
    else
      kill -TERM "$launcher" 2> /dev/null
    fi
  fi
  stop_requested=1
}
trap request_stop INT TERM
set -m                                  # background jobs get process groups of their own

restarts=0
while :; do
  echo "volt-train fit on $RANKS ranks, $THREADS thread(s) each, $(date)"
  "$MPIRUN" -n "$RANKS" "${mpirun_args[@]}" \
    "$VOLT_TRAIN" fit --config "$CONFIG" --data.path="$DATA" \
    --trainer.default_root_dir="$RUN_ROOT" --trainer.layout=dp="$RANKS" \
    --ckpt_path=auto "$@" &
  launcher=$!
  # wait returns early when the trap runs; wait again until mpirun has really ended.
  wait "$launcher"
  status=$?
  while kill -0 "$launcher" 2> /dev/null; do
    wait "$launcher"
    status=$?
  done
  launcher=""
  if [ "$status" -ne 75 ]; then
    exit "$status"
  fi
  if [ -n "$stop_requested" ]; then
    echo "stopped with a checkpoint: run this script again to resume"
    exit 75
  fi
  if [ "$restarts" -ge "$MAX_RESTARTS" ]; then
    echo "checkpointed, and $MAX_RESTARTS restarts done: not resuming again"
    exit 75
  fi
  restarts=$((restarts + 1))
  echo "a rank was told to stop and checkpointed (exit 75): resuming, restart $restarts"
done
