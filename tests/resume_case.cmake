# tests/resume_case.cmake — resume from a mid-epoch checkpoint and compare with an
# uninterrupted run (cmake -P; from tests/checkpoint.cmake).
#
# In a fresh ROOT: (1) the uninterrupted run: 2 epochs of BATCHES batches on RANKS_A ranks
# with STRATEGY_A, a checkpoint every 5 steps (all kept); (2) a second run from the
# checkpoint at step 25 (mid-epoch 0) on RANKS_B ranks with STRATEGY_B and per-rank batch
# BATCH_B (the same global batch), through --ckpt_path; it saves at the same steps. The
# per-step training losses (metrics.csv, every step) of the resumed run must equal the
# uninterrupted run's, and the models at the last step too (h5diff of /model and /optim)
# with TOLERANCE unset: bit-identical; with it, the losses within 1e-5 relative and the
# weights within TOLERANCE (absolute, on weights of size ~0.05).
# Variables: MPIEXEC, MPIEXEC_FLAGS (list), TRAIN, CONFIG, DATA, ROOT, BATCHES, RANKS_A,
# STRATEGY_A, BATCH_A, RANKS_B, STRATEGY_B, BATCH_B, H5DIFF, [TOLERANCE], [DROPOUT] (0.2;
# across layouts 0: dropout masks are numbered by each rank's local elements), [EXTRA]
# (more options for both runs, a list).
cmake_minimum_required(VERSION 3.24) # lists keep empty elements (CMP0007)
if(NOT DEFINED DROPOUT)
  set(DROPOUT 0.2) # exercises the random streams' restore
endif()
file(REMOVE_RECURSE ${ROOT})
file(MAKE_DIRECTORY ${ROOT})
set(_common --config ${CONFIG} --data.path=${DATA} --trainer.enable_progress_bar=false
    --trainer.enable_model_summary=false --trainer.limit_train_batches=${BATCHES}
    --trainer.limit_val_batches=2 --trainer.num_sanity_val_steps=0 --trainer.max_epochs=2
    --trainer.log_every_n_steps=1
    --trainer.default_root_dir=${ROOT} --model.dropout=${DROPOUT}
    --callbacks.0.name=ModelCheckpoint --callbacks.0.every_n_train_steps=5
    --callbacks.0.save_top_k=-1 ${EXTRA})

function(run name ranks strategy batch)
  execute_process(
    COMMAND ${MPIEXEC} -n ${ranks} ${MPIEXEC_FLAGS} ${TRAIN} fit ${_common}
            --trainer.name=${name} --trainer.strategy=${strategy} --data.batch_size=${batch}
            ${ARGN}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "run ${name} failed (${rc}):\n${out}\n${err}")
  endif()
  set(last_output "${out}${err}" PARENT_SCOPE)
endfunction()

run(full ${RANKS_A} ${STRATEGY_A} ${BATCH_A})
set(_from ${ROOT}/full/version_0/checkpoints/epoch=0-step=25.h5)
if(NOT EXISTS ${_from})
  message(FATAL_ERROR "the uninterrupted run left no ${_from}")
endif()
run(resumed ${RANKS_B} ${STRATEGY_B} ${BATCH_B} --ckpt_path=${_from})
if(NOT last_output MATCHES "resumed from [^\n]*: epoch 0, batch 25, step 25")
  message(FATAL_ERROR "the resumed run did not say where it resumed:\n${last_output}")
endif()
math(EXPR _steps "${BATCHES} * 2")
set(_a ${ROOT}/full/version_0/checkpoints/epoch=1-step=${_steps}.h5)
set(_b ${ROOT}/resumed/version_0/checkpoints/epoch=1-step=${_steps}.h5)
set(_diff ${H5DIFF})
if(DEFINED TOLERANCE)
  list(APPEND _diff --delta=${TOLERANCE})
endif()
execute_process(COMMAND ${_diff} ${_a} ${_b} /model /model
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the resumed model differs from the uninterrupted one:\n${out}${err}")
endif()
# the optimizer state too, when both runs keep it whole (not across strategies' padding)
execute_process(COMMAND ${_diff} ${_a} ${_b} /optim /optim
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the resumed optimizer state differs:\n${out}${err}")
endif()

# train/loss of every step both runs logged
function(losses csv out)
  file(STRINGS ${csv} lines)
  list(POP_FRONT lines header)
  string(REPLACE "," ";" names "${header}")
  list(FIND names "train/loss" column)
  if(column LESS 0)
    message(FATAL_ERROR "${csv} has no train/loss column: ${header}")
  endif()
  set(result "")
  foreach(line IN LISTS lines)
    string(REPLACE "," ";" fields "${line};") # keeps empty fields
    list(GET fields ${column} value)
    list(GET fields 0 step)
    if(NOT value STREQUAL "")
      list(APPEND result "${step}=${value}")
    endif()
  endforeach()
  set(${out} "${result}" PARENT_SCOPE)
endfunction()
# a decimal as an integer count of 1e-9
function(nano text out)
  if(NOT text MATCHES "^([0-9]+)\\.?([0-9]*)$")
    message(FATAL_ERROR "not a plain decimal: '${text}'")
  endif()
  set(whole ${CMAKE_MATCH_1})
  string(SUBSTRING "${CMAKE_MATCH_2}000000000" 0 9 fraction)
  string(REGEX REPLACE "^0+([0-9])" "\\1" fraction "${fraction}")
  math(EXPR value "${whole} * 1000000000 + ${fraction}")
  set(${out} ${value} PARENT_SCOPE)
endfunction()
losses(${ROOT}/full/version_0/metrics.csv _full)
losses(${ROOT}/resumed/version_0/metrics.csv _resumed)
list(LENGTH _resumed _count)
if(_count LESS 40)
  message(FATAL_ERROR "the resumed run logged ${_count} losses: ${_resumed}")
endif()
foreach(entry IN LISTS _resumed)
  string(REGEX MATCH "^([0-9]+)=(.*)$" _ "${entry}")
  set(step ${CMAKE_MATCH_1})
  set(value ${CMAKE_MATCH_2})
  set(reference "")
  foreach(candidate IN LISTS _full)
    if(candidate MATCHES "^${step}=(.*)$")
      set(reference ${CMAKE_MATCH_1})
    endif()
  endforeach()
  if(reference STREQUAL "")
    message(FATAL_ERROR "step ${step}: the uninterrupted run logged no loss")
  endif()
  if(NOT DEFINED TOLERANCE)
    if(NOT value STREQUAL reference)
      message(FATAL_ERROR "step ${step}: loss ${value} resumed, ${reference} uninterrupted")
    endif()
  else()
    nano(${value} a)
    nano(${reference} b)
    math(EXPR diff "${a} - ${b}")
    if(diff LESS 0)
      math(EXPR diff "0 - ${diff}")
    endif()
    math(EXPR scaled "${diff} * 100000") # |a - b| <= 1e-5 |b|
    if(scaled GREATER b)
      message(FATAL_ERROR "step ${step}: loss ${value} resumed, ${reference} uninterrupted "
                          "(more than 1e-5 apart)")
    endif()
  endif()
endforeach()
message(STATUS "resumed run matches the uninterrupted one: ${_count} step losses, and the "
               "state at step ${_steps}")
