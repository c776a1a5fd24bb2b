# tests/same_losses_case.cmake — the same global batch gives the same training under any
# rank layout (cmake -P; from tests/gpt.cmake). In a fresh ROOT, one fit of COMMON (with
# log_every_n_steps=1) per item of RUNS, "name ranks strategy layout" (layout "-": the
# default, dp = ranks); each rank's data.batch_size is BATCH / dp. Every step's train/loss
# of each run must equal the first run's within TOLERANCE (relative, f32: the ranks' sums
# run in another order).
# Variables: MPIEXEC, MPIEXEC_FLAGS (;-list), TRAIN, ROOT, BATCH, TOLERANCE, COMMON (;-list),
# RUNS (;-list).
cmake_minimum_required(VERSION 3.24)
file(REMOVE_RECURSE ${ROOT})
file(MAKE_DIRECTORY ${ROOT})

include(${CMAKE_CURRENT_LIST_DIR}/metrics_csv.cmake)
# the train/loss of every step run <name> logged
function(read_losses name out)
  metrics_column(${ROOT}/${name}/version_0/metrics.csv train/loss losses)
  set(${out} "${losses}" PARENT_SCOPE)
endfunction()

set(names "")
foreach(spec ${RUNS})
  separate_arguments(fields UNIX_COMMAND "${spec}")
  list(GET fields 0 name)
  list(GET fields 1 ranks)
  list(GET fields 2 strategy)
  list(GET fields 3 layout)
  list(APPEND names ${name})
  set(dp ${ranks})
  set(layout_arg "")
  if(NOT layout STREQUAL "-")
    set(layout_arg --trainer.layout=${layout})
    string(REGEX MATCH "tp=([0-9]+)" _ "${layout}")
    if(CMAKE_MATCH_1)
      math(EXPR dp "${ranks} / ${CMAKE_MATCH_1}")
    endif()
  endif()
  math(EXPR batch "${BATCH} / ${dp}")
  execute_process(COMMAND ${MPIEXEC} -n ${ranks} ${MPIEXEC_FLAGS} ${TRAIN} fit ${COMMON}
                          --data.batch_size=${batch} --trainer.strategy=${strategy} ${layout_arg}
                          --trainer.log_every_n_steps=1 --trainer.enable_progress_bar=false
                          --trainer.default_root_dir=${ROOT} --trainer.name=${name}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${name} (${ranks} ranks) failed (${rc}):\n${out}\n${err}")
  endif()
endforeach()

list(POP_FRONT names first)
read_losses(${first} reference)
list(LENGTH reference steps)
if(steps LESS 2)
  message(FATAL_ERROR "${first} logged ${steps} losses")
endif()
foreach(name ${names})
  read_losses(${name} losses)
  list(LENGTH losses count)
  if(NOT count EQUAL steps)
    message(FATAL_ERROR "${name} logged ${count} losses, ${first} ${steps}")
  endif()
  # CMake has no floating point: awk compares, step by step, and says the worst
  string(REPLACE ";" " " a "${reference}")
  string(REPLACE ";" " " b "${losses}")
  execute_process(
    COMMAND awk -v a=${a} -v b=${b} -v tol=${TOLERANCE} "BEGIN {
      n = split(a, x, \" \"); split(b, y, \" \"); worst = 0; bad = 0
      for (i = 1; i <= n; i++) {
        d = x[i] - y[i]; if (d < 0) d = -d; r = d / (x[i] < 0 ? -x[i] : x[i])
        if (r > worst) worst = r
        if (r > tol) { printf \"step %d: %s vs %s (relative %.3g)\\n\", i - 1, x[i], y[i], r; bad = 1 }
      }
      printf \"worst relative difference %.3g over %d steps\\n\", worst, n; exit bad }"
    RESULT_VARIABLE bad OUTPUT_VARIABLE report)
  if(NOT bad EQUAL 0)
    message(FATAL_ERROR "${name} departs from ${first}'s losses (tolerance "
                        "${TOLERANCE}):\n${report}")
  endif()
  message(STATUS "${name}: ${report}")
endforeach()
