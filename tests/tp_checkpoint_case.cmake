# tests/tp_checkpoint_case.cmake — a checkpoint written under one tensor-parallel layout
# resumes under another (cmake -P; from tests/gpt.cmake). Checkpoints hold global tensors
# only: each rank writes and reads its part of the split ones (docs/checkpoint-format.md).
#
# In a fresh ROOT:
#   reference   1 rank, tp=1: FIRST + MORE steps uninterrupted, a checkpoint at step FIRST
#   for each case "name ranks_a layout_a strategy_a ranks_b layout_b strategy_b" of CASES
#   (a layout "-": trainer.layout left out, dp = ranks):
#     <name>_a  ranks_a ranks at layout_a: FIRST steps, a checkpoint at the last one
#     <name>_b  ranks_b ranks at layout_b, resumed from it, on to FIRST + MORE steps
# The losses of <name>_b's steps FIRST .. FIRST + MORE - 1 must equal the reference's
# within TOLERANCE (relative): the first one tests the weights, the later ones the
# optimizer state too. The global batch is always BATCH (data.batch_size = BATCH / dp).
# With H5DIFF and H5DUMP: <name>_a's /model equals the reference's at step FIRST within
# MODEL_DELTA (absolute: every tensor whole, at its global shape; not much less than 1e-3:
# the attention's key bias has no gradient, softmax being shift-invariant, so Adam moves
# it by rounding noise, 7e-5 apart after 6 steps), and /meta/layout is layout_a.
# Last, a model whose global shape differs from the file (vocab_size 258 at tp=2 from the
# first case's file) must fail, naming both shapes.
# Variables: MPIEXEC, MPIEXEC_FLAGS (;-list), TRAIN, ROOT, COMMON (;-list), BATCH, FIRST,
# MORE, TOLERANCE, CASES (;-list), [H5DIFF, H5DUMP, MODEL_DELTA].
cmake_minimum_required(VERSION 3.24)
if(NOT DEFINED MODEL_DELTA)
  set(MODEL_DELTA 1e-3)
endif()
file(REMOVE_RECURSE ${ROOT})
file(MAKE_DIRECTORY ${ROOT})
math(EXPR _total "${FIRST} + ${MORE}")
set(_checkpoint_every --callbacks.0.name=ModelCheckpoint
    --callbacks.0.every_n_train_steps=${FIRST} --callbacks.0.save_top_k=-1)

# run(<name> <ranks> <layout> <strategy> <max_steps> args...): a fit into ROOT/<name>
function(run name ranks layout strategy steps)
  set(dp ${ranks}) # "-": the default layout, dp = ranks
  if(layout MATCHES "dp=([0-9]+)")
    set(dp ${CMAKE_MATCH_1})
  elseif(NOT layout STREQUAL "-")
    set(dp 1) # tp only
  endif()
  math(EXPR batch "${BATCH} / ${dp}")
  set(layout_arg "")
  if(NOT layout STREQUAL "-")
    set(layout_arg --trainer.layout=${layout})
  endif()
  execute_process(COMMAND ${MPIEXEC} -n ${ranks} ${MPIEXEC_FLAGS} ${TRAIN} fit ${COMMON}
                          ${layout_arg} --trainer.strategy=${strategy}
                          --data.batch_size=${batch} --trainer.max_steps=${steps}
                          --trainer.log_every_n_steps=1 --trainer.enable_progress_bar=false
                          --trainer.default_root_dir=${ROOT} --trainer.name=${name} ${ARGN}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(last_rc ${rc} PARENT_SCOPE)
  set(last_output "${out}${err}" PARENT_SCOPE)
endfunction()

include(${CMAKE_CURRENT_LIST_DIR}/metrics_csv.cmake)
# The train/loss of every step a run logged, as "step=loss" entries.
function(read_losses name out)
  metrics_column(${ROOT}/${name}/version_0/metrics.csv train/loss losses WITH_STEP)
  set(${out} "${losses}" PARENT_SCOPE)
endfunction()

run(reference 1 - auto ${_total} ${_checkpoint_every})
if(NOT last_rc EQUAL 0)
  message(FATAL_ERROR "the uninterrupted run failed (${last_rc}):\n${last_output}")
endif()
read_losses(reference _reference)
set(_reference_file ${ROOT}/reference/version_0/checkpoints/epoch=0-step=${FIRST}.h5)

set(_first_file "")
foreach(spec IN LISTS CASES)
  separate_arguments(fields UNIX_COMMAND "${spec}")
  list(GET fields 0 name)
  list(GET fields 1 ranks_a)
  list(GET fields 2 layout_a)
  list(GET fields 3 strategy_a)
  list(GET fields 4 ranks_b)
  list(GET fields 5 layout_b)
  list(GET fields 6 strategy_b)
  # the layouts as /meta/layout writes them ("-": the default, dp = ranks)
  set(label_a "${layout_a}")
  if(label_a STREQUAL "-")
    set(label_a "dp=${ranks_a},tp=1")
  endif()
  set(label_b "${layout_b}")
  if(label_b STREQUAL "-")
    set(label_b "dp=${ranks_b},tp=1")
  endif()

  run(${name}_a ${ranks_a} ${layout_a} ${strategy_a} ${FIRST} ${_checkpoint_every})
  if(NOT last_rc EQUAL 0)
    message(FATAL_ERROR "${name}_a (${ranks_a} ranks, ${label_a}) failed (${last_rc}):\n"
                        "${last_output}")
  endif()
  set(file ${ROOT}/${name}_a/version_0/checkpoints/epoch=0-step=${FIRST}.h5)
  if(NOT EXISTS ${file})
    message(FATAL_ERROR "${name}_a left no ${file}")
  endif()
  if(_first_file STREQUAL "")
    set(_first_file ${file})
  endif()

  if(H5DIFF AND H5DUMP)
    execute_process(COMMAND ${H5DIFF} --delta=${MODEL_DELTA} ${_reference_file} ${file} /model /model
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "${name}_a's /model (${label_a}) is not the tp=1 run's at step "
                          "${FIRST}:\n${out}${err}")
    endif()
    execute_process(COMMAND ${H5DUMP} -a /meta/layout ${file}
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT rc EQUAL 0 OR NOT out MATCHES "\"${label_a}\"")
      message(FATAL_ERROR "${name}_a's /meta/layout is not \"${label_a}\":\n${out}${err}")
    endif()
  endif()

  run(${name}_b ${ranks_b} ${layout_b} ${strategy_b} ${_total} --ckpt_path=${file})
  if(NOT last_rc EQUAL 0)
    message(FATAL_ERROR "${name}_b (${ranks_b} ranks, ${label_b}) did not resume from the "
                        "${label_a} checkpoint (${last_rc}):\n${last_output}")
  endif()
  if(NOT last_output MATCHES "resumed from [^\n]*: epoch 0, batch ${FIRST}, step ${FIRST}")
    message(FATAL_ERROR "${name}_b did not say where it resumed:\n${last_output}")
  endif()

  read_losses(${name}_b resumed)
  list(LENGTH resumed count)
  if(NOT count EQUAL MORE)
    message(FATAL_ERROR "${name}_b logged ${count} losses (${resumed}), expected ${MORE}")
  endif()
  set(a "")
  set(b "")
  set(steps "")
  foreach(entry IN LISTS resumed)
    string(REGEX MATCH "^([0-9]+)=(.*)$" _ "${entry}")
    set(step ${CMAKE_MATCH_1})
    set(value ${CMAKE_MATCH_2})
    set(reference "")
    foreach(candidate IN LISTS _reference)
      if(candidate MATCHES "^${step}=(.*)$")
        set(reference ${CMAKE_MATCH_1})
      endif()
    endforeach()
    if(reference STREQUAL "" OR step LESS FIRST)
      message(FATAL_ERROR "${name}_b logged step ${step}: not one the reference logged after "
                          "step ${FIRST}")
    endif()
    string(APPEND a " ${reference}")
    string(APPEND b " ${value}")
    string(APPEND steps " ${step}")
  endforeach()
  # CMake has no floating point: awk compares, step by step, and says the worst
  execute_process(
    COMMAND awk -v a=${a} -v b=${b} -v s=${steps} -v tol=${TOLERANCE} "BEGIN {
      n = split(a, x, \" \"); split(b, y, \" \"); split(s, k, \" \"); worst = 0; bad = 0
      for (i = 1; i <= n; i++) {
        d = x[i] - y[i]; if (d < 0) d = -d; r = d / (x[i] < 0 ? -x[i] : x[i])
        if (r > worst) worst = r
        if (r > tol) { printf \"step %d: %s uninterrupted, %s resumed (relative %.3g)\\n\", k[i], x[i], y[i], r; bad = 1 }
      }
      printf \"worst relative difference %.3g over %d resumed steps\\n\", worst, n; exit bad }"
    RESULT_VARIABLE bad OUTPUT_VARIABLE report)
  if(NOT bad EQUAL 0)
    message(FATAL_ERROR "${name}: ${label_a} (${strategy_a}) resumed at ${label_b} "
                        "(${strategy_b}) departs from the uninterrupted tp=1 run (tolerance "
                        "${TOLERANCE}):\n${report}")
  endif()
  message(STATUS "${name}: ${label_a} (${strategy_a}) -> ${label_b} (${strategy_b}): ${report}")
endforeach()

# a model whose global shape the file does not have: both shapes named, non-zero exit
run(bad_vocab 2 dp=1,tp=2 auto ${_total} --ckpt_path=${_first_file} --model.vocab_size=258)
set(_expected "/model/transformer.wte.weight has shape \\[256, 32\\], the model's "
              "transformer.wte.weight has \\[258, 32\\] \\(split 2 ways along dimension 0\\)")
string(CONCAT _expected ${_expected})
if(last_rc EQUAL 0 OR NOT last_output MATCHES "${_expected}")
  message(FATAL_ERROR "resuming vocab_size 258 from a 256 checkpoint at tp=2 did not fail "
                      "naming both shapes (${last_rc}):\n${last_output}")
endif()
message(STATUS "vocab_size 258 at tp=2 from a 256 checkpoint: refused, naming both shapes")
