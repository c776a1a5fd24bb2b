# tests/gpt.cmake — the built-in GPT (apps/models/gpt.c) end to end (included from
# tests/CMakeLists.txt after trainer.cmake, whose volt_train_case it uses).
#   gpt.data.synthetic       fixture: a generated 40 KB text as byte tokens, windows of 17
#   gpt.data.fortunes        fixture: Debian's fortunes as byte tokens, windows of 65
#                            (skipped, 77, without the fortunes package)
#   gpt.torch_step           one SGD step from the same initial weights: every parameter
#                            moves as PyTorch's autograd says (tests/reference/gpt_step.py;
#                            the tied output layer included)
#   gpt.torch_roundtrip      a trained checkpoint evaluated by tools/volt_to_torch.py:
#                            the same val loss and next-token accuracy
#   gpt.same_losses_1_2_4    per-step losses of 1 rank, DDP on 2 and ZeRO-1 on 4 ranks
#                            agree within 1e-5 (global batch 8)
#   gpt.same_losses_dropout  the same with dropout 0.2, and (dp, tp) = (2, 2): the masks
#                            follow the global batch row
#   gpt.tensor_parallel_same_losses   (dp, tp) = (1,1), (2,1), (1,2), (2,2) with DDP and
#                            with ZeRO-1, (1,4): 30 steps clipped by norm, the same losses
#                            within 1e-5
#   gpt.bad.tp_heads         tp=4 with 2 heads: every rank fails with one message
#   gpt.predict_tensor_parallel   predictions at (dp, tp) = (2, 2) equal tp=1's, in order
#   gpt.learns_fortunes      configs/gpt_char.yaml, smaller and shorter, on 2 ranks:
#                            val/loss <= 3.15 after 200 steps (ln 256 = 5.55 at the start;
#                            byte frequencies alone give about 3.3)
#   gpt.bad.<case>           heads that do not divide the width, a block size the data
#                            does not have (one message, non-zero exit, no run folder),
#                            feature data instead of tokens (found at the first batch)
if(NOT TARGET volt-train OR NOT TARGET volt-data)
  return()
endif()
set(_gpt_dir ${CMAKE_CURRENT_BINARY_DIR}/gpt)
file(MAKE_DIRECTORY ${_gpt_dir})
set(_gpt_config ${PROJECT_SOURCE_DIR}/configs/gpt_char.yaml)

# A text with structure to learn: sentences from small word lists, chosen by a fixed
# sequence of numbers.
set(_subjects "the cat" "a dog" "my robot" "the old wizard" "some students" "our cluster")
set(_verbs "reads" "writes" "trains" "computes" "prints" "checks")
set(_objects "a book." "the model." "many files." "a long poem." "all ranks." "the loss.")
set(_text "")
foreach(i RANGE 1499)
  math(EXPR s "(${i} * 7 + 3) % 6")
  math(EXPR v "(${i} * 5 + ${i} / 6) % 6")
  math(EXPR o "(${i} * 11 + ${i} / 36) % 6")
  list(GET _subjects ${s} subject)
  list(GET _verbs ${v} verb)
  list(GET _objects ${o} object)
  string(APPEND _text "${subject} ${verb} ${object}\n")
endforeach()
file(WRITE ${_gpt_dir}/synthetic.txt "${_text}")
set(_synthetic_h5 ${_gpt_dir}/synthetic.h5)
add_test(NAME gpt.data.synthetic
         COMMAND $<TARGET_FILE:volt-data> text --block-size 16 --val-fraction 0.1 --seed 0
                 --force --output ${_synthetic_h5} ${_gpt_dir}/synthetic.txt)
set_tests_properties(gpt.data.synthetic PROPERTIES LABELS unit TIMEOUT 60
                     FIXTURES_SETUP gpt_synthetic)

# VOLT_FORTUNES_DIR: tests/data_tools.cmake
set(_fortunes_h5 ${_gpt_dir}/fortunes.h5)
add_test(NAME gpt.data.fortunes
         COMMAND sh -c [=[
           [ -f "$1/fortunes" ] || { echo "skipped: no $1/fortunes (apt-get install fortunes)"; exit 77; }
           find "$1" -maxdepth 1 -type f ! -name '*.dat' | sort |
             xargs "$2" text --block-size 64 --force --output "$3"]=]
           gpt-data ${VOLT_FORTUNES_DIR} $<TARGET_FILE:volt-data> ${_fortunes_h5})
set_tests_properties(gpt.data.fortunes PROPERTIES LABELS unit TIMEOUT 60
                     SKIP_RETURN_CODE 77 FIXTURES_SETUP gpt_fortunes)

set(_tiny_gpt --model.name=gpt --model.n_layer=2 --model.n_head=4 --model.n_embd=32
    --trainer.enable_progress_bar=false --trainer.num_sanity_val_steps=0)

if(VOLT_DEBIAN_PYTHON)
  # one plain SGD step from the initial weights (a run with lr 0 saves them)
  set(_step_root ${_gpt_dir}/torch_step)
  set(_sgd ${_tiny_gpt} --data.path=${_synthetic_h5} --data.batch_size=4 --data.shuffle=false
      --trainer.max_steps=1 --optimizer.name=sgd --optimizer.momentum=0
      --optimizer.weight_decay=0 --trainer.default_root_dir=${_step_root})
  add_test(NAME gpt.torch_step
           COMMAND sh -c [=[
             "$1" -c "import torch, h5py" 2>/dev/null || { echo "skipped: $1 lacks torch or h5py"; exit 77; }
             rm -rf "$2" && shift 2 && "$@"]=]
           gpt-step ${VOLT_DEBIAN_PYTHON} ${_step_root} sh -c [=[
             set -e
             train=$1; root=$2; python=$3; data=$4; shift 4
             "$train" fit "$@" --optimizer.lr=0 --trainer.name=before
             "$train" fit "$@" --optimizer.lr=0.5 --trainer.name=after
             "$python" "$0" "$root/before/version_0/checkpoints/last.h5" \
               "$root/after/version_0/checkpoints/last.h5" "$data" --lr 0.5 --batch 4]=]
           ${CMAKE_CURRENT_SOURCE_DIR}/reference/gpt_step.py $<TARGET_FILE:volt-train>
           ${_step_root} ${VOLT_DEBIAN_PYTHON} ${_synthetic_h5} ${_sgd})
  set_tests_properties(gpt.torch_step PROPERTIES LABELS unit TIMEOUT 300 SKIP_RETURN_CODE 77
                       ENVIRONMENT "${_env}" FIXTURES_REQUIRED gpt_synthetic
                       PASS_REGULAR_EXPRESSION "every parameter took PyTorch's SGD step")

  add_test(NAME gpt.torch_roundtrip
           COMMAND ${CMAKE_COMMAND} -DTRAIN=$<TARGET_FILE:volt-train> -DCONFIG=${_gpt_config}
                   -DDATA=${_synthetic_h5} -DROOT=${_gpt_dir}/torch_roundtrip
                   -DPYTHON=${VOLT_DEBIAN_PYTHON}
                   -DTOOL=${PROJECT_SOURCE_DIR}/tools/volt_to_torch.py "-DSAMPLES=[0-9]+"
                   "-DARGS=${_tiny_gpt};--trainer.limit_train_batches=40;--trainer.limit_val_batches=1.0"
                   -DTOLERANCE=20
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/torch_roundtrip.cmake)
  set_tests_properties(gpt.torch_roundtrip PROPERTIES LABELS unit TIMEOUT 300
                       ENVIRONMENT "${_env}" FIXTURES_REQUIRED gpt_synthetic
                       SKIP_REGULAR_EXPRESSION "VOLT_TEST_SKIPPED")
endif()

# gpt_same_losses(<name> <folder> <runs> <args...>): tests/same_losses_case.cmake on the
# tiny GPT and the synthetic tokens, global batch 8; runs as that script takes them
function(gpt_same_losses name folder runs)
  add_test(NAME ${name}
           COMMAND ${CMAKE_COMMAND} -DMPIEXEC=${MPIEXEC_EXECUTABLE}
                   "-DMPIEXEC_FLAGS=${VOLT_MPIEXEC_FLAGS}" -DTRAIN=$<TARGET_FILE:volt-train>
                   -DROOT=${_gpt_dir}/${folder} -DBATCH=8 -DTOLERANCE=1e-5
                   "-DCOMMON=${_tiny_gpt};--data.path=${_synthetic_h5};${ARGN}"
                   "-DRUNS=${runs}" -P ${CMAKE_CURRENT_SOURCE_DIR}/same_losses_case.cmake)
  set_tests_properties(${name} PROPERTIES LABELS mpi TIMEOUT 600 ENVIRONMENT "${_env}"
                       FIXTURES_REQUIRED gpt_synthetic)
endfunction()

gpt_same_losses(gpt.same_losses_1_2_4 same_losses
  "single 1 auto -;ddp_2 2 ddp -;zero1_4 4 zero1 -" --trainer.max_steps=12)
# Dropout draws its masks by the global batch row: with dropout the layouts agree too
gpt_same_losses(gpt.same_losses_dropout same_losses_dropout
  "single 1 auto -;ddp_2 2 ddp -;zero1_4 4 zero1 -;dp2_tp2 4 ddp dp=2,tp=2"
  --model.dropout=0.2 --trainer.max_steps=12)
# Tensor parallelism changes nothing but speed and memory: 30 steps of every layout of
# the issue's list, with clipping by norm (the whole model's norm over the tp group)
gpt_same_losses(gpt.tensor_parallel_same_losses tp_same_losses
  "dp1_tp1 1 auto -;dp2_tp1 2 ddp dp=2,tp=1;dp1_tp2 2 auto dp=1,tp=2;dp2_tp2 4 ddp dp=2,tp=2;dp2_tp2_zero1 4 zero1 dp=2,tp=2;dp1_tp4 4 auto dp=1,tp=4"
  --trainer.max_steps=30 --trainer.gradient_clip_val=0.5)

# 16-bit mixed precision under tensor parallelism (split linear layers, the vocabulary-
# parallel loss, attention on 16-bit operands, the loss scale agreed over the world): the
# tiny GPT learns the synthetic tokens as in 32-true (train/loss 2.82 after 60 steps)
foreach(_precision bf16 16)
  volt_train_case(gpt.${_precision}_mixed_tensor_parallel_learns MODE learns
    FIXTURES gpt_synthetic LABEL mpi TIMEOUT 300
    COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 ${VOLT_MPIEXEC_FLAGS}
            $<TARGET_FILE:volt-train> fit --config ${_gpt_config} --data.path=${_synthetic_h5}
            --trainer.layout=dp=1,tp=2 --trainer.precision=${_precision}-mixed
            --trainer.max_steps=60 --trainer.log_every_n_steps=20 --trainer.limit_val_batches=2
            --trainer.enable_progress_bar=false
            --trainer.default_root_dir=${_gpt_dir}/mixed_${_precision}
    VARS -DRUN_ROOT=${_gpt_dir}/mixed_${_precision} -DNAME=gpt_char -DMETRIC=train/loss
         -DMAX=2.9)
endforeach()

volt_train_case(gpt.learns_fortunes MODE learns FIXTURES gpt_fortunes LABEL mpi TIMEOUT 600
  COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2 ${VOLT_MPIEXEC_FLAGS}
          $<TARGET_FILE:volt-train> fit --config ${_gpt_config} --data.path=${_fortunes_h5}
          --model.n_layer=2 --model.n_embd=64 --trainer.limit_train_batches=200
          --trainer.limit_val_batches=10 --trainer.enable_progress_bar=false
          --trainer.default_root_dir=${_gpt_dir}/learns
  VARS -DRUN_ROOT=${_gpt_dir}/learns -DNAME=gpt_char -DMETRIC=val/loss -DMAX=3.15)
set_tests_properties(gpt.learns_fortunes PROPERTIES SKIP_REGULAR_EXPRESSION "skipped:")

# predict under tensor parallelism: the logits gathered over the vocabulary, rows in sample
# order from one rank of each tp group, as one rank writes them (the val split copied as
# /test, which predict reads when the file has no /predict)
if(VOLT_H5COPY AND VOLT_DEBIAN_PYTHON)
  string(REPLACE ";" " " _mpi4 "${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 4 ${VOLT_MPIEXEC_FLAGS}")
  set(_predict_h5 ${_gpt_dir}/predict.h5)
  set(_predict_root ${_gpt_dir}/predict)
  add_test(NAME gpt.predict_tensor_parallel
           COMMAND sh -c [=[
             set -e
             data=$1 root=$2 copy=$3 python=$4 mpi=$5 source=$6; shift 6
             rm -rf "$root" "$data" && cp "$source" "$data"
             "$copy" -i "$source" -o "$data" -s /val -d /test
             set -- "$@" --data.path="$data" --trainer.default_root_dir="$root"
             train=$1; shift
             "$train" predict "$@" --trainer.name=tp1
             $mpi "$train" predict "$@" --trainer.name=dp2_tp2 --trainer.layout=dp=2,tp=2
             "$python" - "$root" <<'PY'
import csv, sys
read = lambda name: list(csv.reader(open(f"{sys.argv[1]}/{name}/version_0/predictions.csv")))
a, b = read("tp1"), read("dp2_tp2")
assert a[0] == b[0] and len(a[0]) == 256, "headers differ or are not 256 logits"
assert len(a) == len(b) > 100, f"{len(a) - 1} and {len(b) - 1} rows"
worst = max(abs(float(x) - float(y)) for ra, rb in zip(a[1:], b[1:]) for x, y in zip(ra, rb))
print(f"{len(a) - 1} rows of 256 logits, largest difference {worst:.3g}")
assert worst < 1e-5, "tp=2 predictions differ from tp=1's"
PY]=]
             predict ${_predict_h5} ${_predict_root} ${VOLT_H5COPY} ${VOLT_DEBIAN_PYTHON}
             "${_mpi4}" ${_synthetic_h5} $<TARGET_FILE:volt-train> ${_tiny_gpt} --data.val_batch_size=16)
  set_tests_properties(gpt.predict_tensor_parallel PROPERTIES LABELS mpi TIMEOUT 300
                       ENVIRONMENT "${_env}" FIXTURES_REQUIRED gpt_synthetic)
endif()

set(_bad_root ${_gpt_dir}/bad)
volt_train_case(gpt.bad.tp_heads MODE fail FIXTURES gpt_synthetic LABEL mpi
  COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 4 ${VOLT_MPIEXEC_FLAGS}
          $<TARGET_FILE:volt-train> fit ${_tiny_gpt} --data.path=${_synthetic_h5}
          --model.n_head=2 --trainer.layout=tp=4 --trainer.max_steps=2
          --trainer.default_root_dir=${_bad_root}/tp_heads
  VARS "-DEXPECT=model.n_head=2 heads do not split over tp=4 ranks"
       -DRUN_ROOT=${_bad_root}/tp_heads)
foreach(_case
    "heads|--model.n_head=3|model.n_embd=32 must be a positive multiple of model.n_head=3"
    "block_size|--model.block_size=8|samples of 17 tokens, but model.block_size=8 needs 9"
    "features|--data.path=${_fashion_h5}|needs \\[B, 784\\] token samples")
  string(REPLACE "|" ";" _fields "${_case}")
  list(GET _fields 0 _name)
  list(GET _fields 1 _arg)
  list(GET _fields 2 _expect)
  set(_data --data.path=${_synthetic_h5})
  set(_fixtures gpt_synthetic)
  set(_mid_run "")
  if(_name STREQUAL "features") # found at the first batch, in a run folder
    set(_data "")
    set(_fixtures volt_train_fashion_mnist)
    set(_mid_run -DRUN_FOLDER_ALLOWED=1)
  endif()
  volt_train_case(gpt.bad.${_name} MODE fail FIXTURES ${_fixtures}
    COMMAND $<TARGET_FILE:volt-train> fit ${_tiny_gpt} ${_data} ${_arg}
            --trainer.max_steps=2 --trainer.default_root_dir=${_bad_root}/${_name}
    VARS "-DEXPECT=${_expect}" -DRUN_ROOT=${_bad_root}/${_name} ${_mid_run})
endforeach()

# Checkpoints across tensor-parallel layouts (tests/tp_checkpoint_case.cmake): 6 steps at
# layout A with a checkpoint, 6 more resumed at layout B; the resumed losses must equal an
# uninterrupted tp=1 run's within 1e-5 (relative), the files' /model the tp=1 run's
# (h5diff), and a model of another global shape is refused naming both shapes
add_test(NAME gpt.tp_checkpoint_resume
         COMMAND ${CMAKE_COMMAND} -DMPIEXEC=${MPIEXEC_EXECUTABLE}
                 "-DMPIEXEC_FLAGS=${VOLT_MPIEXEC_FLAGS}" -DTRAIN=$<TARGET_FILE:volt-train>
                 -DROOT=${_gpt_dir}/tp_checkpoint -DBATCH=8 -DFIRST=6 -DMORE=6 -DTOLERANCE=1e-5
                 "-DCOMMON=${_tiny_gpt};--data.path=${_synthetic_h5}"
                 "-DCASES=tp2_to_tp1 2 dp=1,tp=2 auto 1 - auto;tp1_to_tp4 1 - auto 4 dp=1,tp=4 auto;dp2_tp2_zero1_to_tp1 4 dp=2,tp=2 zero1 1 - auto;tp1_to_dp2_tp2_zero1 1 - auto 4 dp=2,tp=2 zero1"
                 -DH5DIFF=${VOLT_H5DIFF} -DH5DUMP=${VOLT_H5DUMP} -DMODEL_DELTA=1e-3
                 -P ${CMAKE_CURRENT_SOURCE_DIR}/tp_checkpoint_case.cmake)
set_tests_properties(gpt.tp_checkpoint_resume PROPERTIES LABELS mpi TIMEOUT 600
                     ENVIRONMENT "${_env}" FIXTURES_REQUIRED gpt_synthetic)
