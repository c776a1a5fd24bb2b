#!/bin/bash
# tests/slurm/requeue_case.sh — jobs/train_requeue.sbatch on a real Slurm: a USR1 to the
# job's tasks checkpoints, the job requeues itself, resumes, and ends where an
# uninterrupted run ends (from tests/slurm.cmake, with SLURM_CONF set).
#
#   requeue_case.sh ROOT TRAIN CONFIG DATA SBATCH_SCRIPT
#
# In a fresh ROOT: (1) sbatch SBATCH_SCRIPT at 2 tasks on 1 node, output in ROOT/job.out,
# training 2000 steps (run name "requeue"); (2) once its metrics.csv exists, scancel
# --signal=USR1 signals the tasks of its steps (not the batch shell, which has no trap and
# would die): volt-train saves hpc_ckpt_1.h5 and exits 75, and the script requeues the
# job; (3) the job runs again as restart 1, resumes from last.h5 and must end COMPLETED
# with exit code 0; (4) an uninterrupted srun of the same training (run name "reference").
# Every train/loss the resumed run logged must equal the reference's at the same step,
# as text: same layout, same data order, same dropout masks, so bit-identical.
set -euo pipefail

[ $# -eq 5 ] || { echo "usage: $0 ROOT TRAIN CONFIG DATA SBATCH_SCRIPT" >&2; exit 2; }
root=$1 train=$2 config=$3 data=$4 sbatch_script=$5
: "${SLURM_CONF:?SLURM_CONF must name the test cluster (tests/slurm/cluster.sh up)}"
"$(dirname "$0")/cluster.sh" check "$(dirname "$SLURM_CONF")" # 77 where none can run
steps=2000 # 3 to 10 s at 2 ranks: time to signal it mid-run

# SLURM_* of a job this test itself may run in would steer sbatch and srun elsewhere
while read -r name; do
  [ "$name" = SLURM_CONF ] || unset "$name"
done < <(compgen -e SLURM_)

fail() {
  echo "requeue_case.sh: $*" >&2
  if [ -f "$root/job.out" ]; then
    echo "--- $root/job.out" >&2
    cat "$root/job.out" >&2
  fi
  if [ -n "${job:-}" ]; then
    echo "--- scontrol show job $job" >&2
    scontrol show job "$job" >&2 || true
  fi
  exit 1
}

# job_field NAME: NAME=value of `scontrol show job` (JobState, Reason, ExitCode, Restarts);
# empty when slurmctld does not answer (the callers poll, a busy moment is no failure)
job_field() {
  scontrol show job "$job" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1 || true
}

# train/loss of every logged step of a metrics.csv, as "step loss" lines
losses() {
  awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "train/loss") column = i; next }
           column && $column != "" { print $1, $column }' "$1"
}

rm -rf "$root"
mkdir -p "$root"
# the training of both runs; the job's EXTRA_ARGS is split at spaces, so no path may hold one
common=(--data.path="$data" --trainer.default_root_dir="$root"
        --trainer.enable_progress_bar=false --trainer.enable_model_summary=false
        --trainer.max_epochs=1000 --trainer.max_steps="$steps" --trainer.log_every_n_steps=10
        --model.dropout=0.2)

# (1) the job, with what must change here on the command line (it wins over #SBATCH)
job=$(CONFIG=$config VOLT_TRAIN=$train EXTRA_ARGS="${common[*]} --trainer.name=requeue" \
      sbatch --parsable --nodes=1 --ntasks=2 --ntasks-per-node=2 --job-name=volt-requeue-test \
             --output="$root/job.out" --chdir="$root" "$sbatch_script")
echo "submitted job $job (${SECONDS} s)"

# (2) USR1 once training is under way
metrics=$root/requeue/version_0/metrics.csv
deadline=$((SECONDS + 60))
while [ "$SECONDS" -lt "$deadline" ]; do
  [ -f "$metrics" ] && break
  case $(job_field JobState) in
    COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY)
      fail "job $job ended before it wrote $metrics" ;;
  esac
  sleep 0.1
done
[ -f "$metrics" ] || fail "job $job wrote no $metrics in 60 s"
scancel --signal=USR1 "$job"
echo "sent SIGUSR1 to the tasks of job $job (${SECONDS} s)"

# (3) requeued, run again, finished. Slurm holds a requeued job back for the lifetime of a
# job credential (AuthInfo cred_expire, 120 s by default; it shows as PENDING,
# Reason=BeginTime): slurmd revokes the credentials of a job it ends, and refuses any
# created up to the same second as that end (whole seconds), so a job started again at
# once fails ("Job credential revoked"). Two seconds after the requeue are past that
# second: the test lets the job start then, not two minutes later.
released=0
state=""
deadline=$((SECONDS + 180))
while [ "$SECONDS" -lt "$deadline" ]; do
  state=$(job_field JobState)
  case $state in
    PENDING)
      if [ "$released" -eq 0 ] && [ "$(job_field Reason)" = BeginTime ]; then
        scontrol update JobId="$job" StartTime=now+2
        released=1
        echo "job $job requeued: may start again in 2 s, not 120 (${SECONDS} s)"
      fi ;;
    COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY)
      break ;;
  esac
  sleep 0.1
done
restarts=$(job_field Restarts)
exit_code=$(job_field ExitCode)
case $state in
  COMPLETED) ;;
  "" | PENDING | RUNNING | REQUEUED | COMPLETING | CONFIGURING)
    fail "job $job is still ${state:-unknown to scontrol} after 180 s" ;;
  *) fail "job $job ended $state (exit code $exit_code, reason $(job_field Reason))" ;;
esac
[ "$restarts" = 1 ] || fail "job $job restarted $restarts times, not once"
[ "$exit_code" = 0:0 ] || fail "job $job ended with exit code $exit_code, not 0:0"

output=$(<"$root/job.out")
pattern='SIGUSR1 received: saved [^ ]*hpc_ckpt_1\.h5 at step ([0-9]+)'
[[ $output =~ $pattern ]] || fail "the first run did not save hpc_ckpt_1.h5 on SIGUSR1"
step=${BASH_REMATCH[1]}
for expected in "job $job, restart 0" \
                "checkpointed before the time limit: requeueing job $job" \
                "job $job, restart 1"; do
  [[ $output == *"$expected"* ]] || fail "job.out lacks '$expected'"
done
pattern="resumed from [^ ]*last\.h5: epoch [0-9]+, batch [0-9]+, step $step"$'\n'
[[ $output =~ $pattern ]] || fail "the second run did not resume from last.h5 at step $step"
echo "job $job: SIGUSR1, checkpoint at step $step, requeued, resumed, COMPLETED 0:0" \
     "(${SECONDS} s)"

# (4) the uninterrupted reference, then the losses step by step
srun --mpi=pmix --nodes=1 --ntasks=2 --chdir="$root" "$train" fit --config "$config" \
     "${common[@]}" --trainer.name=reference >"$root/reference.out" 2>&1 ||
  { cat "$root/reference.out" >&2; fail "the uninterrupted srun failed"; }
echo "the uninterrupted srun finished (${SECONDS} s)"

resumed=$(losses "$root/requeue/version_1/metrics.csv")
reference=$(losses "$root/reference/version_0/metrics.csv")
[ -n "$resumed" ] || fail "the resumed run logged no train/loss"
compared=0
while read -r at value; do
  expected=$(awk -v at="$at" '$1 == at { print $2 }' <<<"$reference")
  [ -n "$expected" ] || fail "step $at: the uninterrupted run logged no train/loss"
  [ "$value" = "$expected" ] ||
    fail "step $at: train/loss $value after the requeue, $expected uninterrupted"
  compared=$((compared + 1))
done <<<"$resumed"
last=$(tail -n 1 <<<"$resumed")
[ "${last% *}" -eq $((steps - 1)) ] || fail "the resumed run's last loss is at step ${last% *}"
echo "train/loss of the requeued job equals the uninterrupted run's at all $compared steps" \
     "it logged after step $step; final (step ${last% *}): ${last#* } and" \
     "$(tail -n 1 <<<"$reference" | cut -d' ' -f2)"
