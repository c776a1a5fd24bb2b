# tests/grad_scaler_case.cmake — 16-mixed with a planted overflow (cmake -P; from
# tests/trainer.cmake): volt-train fit on 2 ranks starting from a loss scale of 2^40, at
# which every f16 gradient overflows. The scale logged at each step (grad_scaler/scale)
# must halve from 2^40, step after step, for at least 10 steps; each of those steps but
# the last must be reported skipped (VOLT_LOG_LEVEL=debug) and leave the model as it was
# (the loss stays near ln 10, the untrained model's); once the scale fits, training goes
# on and the loss falls.
# Variables: MPIEXEC, MPIEXEC_FLAGS (list), TRAIN, CONFIG, DATA, ROOT.
cmake_minimum_required(VERSION 3.24)
include(${CMAKE_CURRENT_LIST_DIR}/metrics_csv.cmake)
file(REMOVE_RECURSE ${ROOT})
set(ENV{VOLT_LOG_LEVEL} debug)
execute_process(
  COMMAND ${MPIEXEC} -n 2 ${MPIEXEC_FLAGS} ${TRAIN} fit --config ${CONFIG} --data.path=${DATA}
          --trainer.precision=16-mixed --grad_scaler.init_scale=1099511627776
          --trainer.max_steps=80 --trainer.log_every_n_steps=1 --trainer.limit_val_batches=2
          --trainer.num_sanity_val_steps=0 --trainer.enable_progress_bar=false
          --trainer.enable_checkpointing=false --trainer.default_root_dir=${ROOT}
          --trainer.name=planted
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the 16-mixed run failed (${rc}):\n${out}\n${err}")
endif()
set(csv ${ROOT}/planted/version_0/metrics.csv)
metrics_column(${csv} grad_scaler/scale scales)
metrics_column(${csv} train/loss losses)
list(LENGTH scales count)
list(LENGTH losses loss_count)
if(NOT count EQUAL 80 OR NOT loss_count EQUAL 80)
  message(FATAL_ERROR "${count} scales and ${loss_count} losses logged, expected 80 each")
endif()
# the run of halvings from 2^40 (the values are printed with 9 significant digits)
set(expected 1099511627776)
set(halvings 0)
foreach(value IN LISTS scales)
  math(EXPR low "${expected} - ${expected} / 100000000")
  math(EXPR high "${expected} + ${expected} / 100000000")
  if(value MATCHES "e\\+([0-9]+)$" OR value MATCHES "^[0-9.]+$")
    # to an integer: CMake's math has no floating point; mantissa and exponent by hand
    if(value MATCHES "^([0-9])\\.?([0-9]*)e\\+([0-9]+)$")
      set(digits "${CMAKE_MATCH_1}${CMAKE_MATCH_2}")
      string(LENGTH "${CMAKE_MATCH_2}" decimals)
      math(EXPR zeros "${CMAKE_MATCH_3} - ${decimals}")
      string(REPEAT "0" ${zeros} tail)
      set(integer "${digits}${tail}")
    else()
      string(REGEX REPLACE "\\..*$" "" integer "${value}")
    endif()
  else()
    message(FATAL_ERROR "a scale that is not a number: ${value}")
  endif()
  if(integer LESS low OR integer GREATER high)
    break()
  endif()
  math(EXPR halvings "${halvings} + 1")
  math(EXPR expected "${expected} / 2")
endforeach()
string(REGEX MATCHALL "step skipped" skipped "${out}${err}")
list(LENGTH skipped skip_count)
message(STATUS "scales: ${scales}")
message(STATUS "the scale halved ${halvings} times from 2^40; ${skip_count} steps reported skipped")
if(halvings LESS 10)
  message(FATAL_ERROR "the scale halved only ${halvings} times from 2^40: ${scales}")
endif()
# each step of the run of halvings but its last (whose scale fits) was reported skipped
math(EXPR expect_skips "${halvings} - 1")
math(EXPR last_skip "${expect_skips} - 1")
foreach(step RANGE 0 ${last_skip})
  if(NOT "${out}${err}" MATCHES "overflowed at step ${step} [^\n]*step skipped")
    message(FATAL_ERROR "step ${step} (scale halved after it) was not reported skipped:\n"
                        "${out}${err}")
  endif()
endforeach()
# the skipped steps left the untrained model: losses near ln 10 = 2.30; at the end lower
list(SUBLIST losses 0 ${expect_skips} early)
foreach(loss IN LISTS early)
  if(loss LESS 2.1 OR loss GREATER 2.6)
    message(FATAL_ERROR "a skipped step's loss is ${loss}, not near ln 10: the step changed "
                        "the model? ${early}")
  endif()
endforeach()
list(GET losses -1 last)
if(NOT last LESS 1.2)
  message(FATAL_ERROR "the loss did not fall after the scale settled: last ${last}; ${losses}")
endif()
message(STATUS "skipped steps' losses ${early}; last loss ${last}")
