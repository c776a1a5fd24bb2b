# tests/volt_train_cases.cmake — one end-to-end check of volt-train (or a program built like
# it), run as `cmake -DMODE=... -DCOMMAND=prog;arg;... [...] -P volt_train_cases.cmake`.
#
#   MODE=fail       COMMAND must exit non-zero (EXIT_CODE, when given, exactly), print
#                   EXPECT (a regex) on stdout or stderr, print the error stack once (one
#                   "error:" line), and leave under RUN_ROOT no run folder (version_*),
#                   or, with RUN_FOLDER_ALLOWED (a failure mid-run), no half-written file
#                   (*.tmp) and no predictions.csv.
#   MODE=learns     COMMAND must succeed; the last value of the column METRIC of
#                   RUN_ROOT/<NAME>/version_0/metrics.csv must be >= MIN, or <= MAX when
#                   MAX is given instead (a loss); that file and its config.yaml must exist.
#   MODE=kill       COMMAND (an mpirun of a long run) starts in the background; once the run
#                   folder RUN_ROOT/<NAME>/version_0 exists, one rank (a child of mpirun)
#                   is killed with SIGKILL; mpirun must then return, non-zero, within
#                   MAX_SECONDS.
#   MODE=roundtrip  COMMAND (ending in --print-config) prints the configuration; saved to
#                   WORK/printed.yaml and fed back as `PROGRAM fit --config printed.yaml
#                   --print-config`, it must print the same text again.
# RUN_ROOT is removed first, so each case starts from nothing.
cmake_minimum_required(VERSION 3.24)

foreach(var MODE COMMAND)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "volt_train_cases.cmake: ${var} is not set")
  endif()
endforeach()
if(DEFINED RUN_ROOT)
  file(REMOVE_RECURSE ${RUN_ROOT})
endif()

function(run_command out_code out_stdout out_stderr)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE code OUTPUT_VARIABLE stdout
                  ERROR_VARIABLE stderr)
  set(${out_code} "${code}" PARENT_SCOPE)
  set(${out_stdout} "${stdout}" PARENT_SCOPE)
  set(${out_stderr} "${stderr}" PARENT_SCOPE)
endfunction()

string(REPLACE ";" " " shown "${COMMAND}")
message(STATUS "running: ${shown}")
if(MODE STREQUAL "kill")
  # a shell runs it in the background and does the killing and the timing
  set(quoted "")
  foreach(arg ${COMMAND})
    string(APPEND quoted " '${arg}'")
  endforeach()
  set(script "${quoted} > '${RUN_ROOT}.log' 2>&1 &
launcher=$!
i=0
while [ ! -d '${RUN_ROOT}/${NAME}/version_0' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
sleep 2
victim=$(pgrep -P $launcher | head -1)
if [ -z \"$victim\" ]; then echo 'no rank to kill'; kill $launcher; exit 3; fi
echo \"killing rank pid $victim\"
start=$(date +%s)
kill -9 $victim
wait $launcher
code=$?
end=$(date +%s)
echo \"MPIRUN_EXIT=$code ELAPSED=$((end-start))\"
")
  file(MAKE_DIRECTORY ${RUN_ROOT})
  execute_process(COMMAND sh -c "${script}" RESULT_VARIABLE code OUTPUT_VARIABLE stdout
                  ERROR_VARIABLE stderr TIMEOUT 110)
  if(NOT stdout MATCHES "MPIRUN_EXIT=([0-9]+) ELAPSED=([0-9]+)")
    file(READ ${RUN_ROOT}.log log)
    message(FATAL_ERROR "no timing (exit ${code}):\n${stdout}${stderr}\n${log}")
  endif()
  set(exit_code ${CMAKE_MATCH_1})
  set(elapsed ${CMAKE_MATCH_2})
  if(exit_code EQUAL 0)
    message(FATAL_ERROR "mpirun returned 0 after a rank was killed:\n${stdout}")
  endif()
  if(elapsed GREATER MAX_SECONDS)
    message(FATAL_ERROR "mpirun took ${elapsed} s (> ${MAX_SECONDS}) to return after a rank died")
  endif()
  message(STATUS "mpirun returned ${exit_code} ${elapsed} s after a rank was killed")
  return()
endif()
run_command(code stdout stderr ${COMMAND})
set(output "${stdout}${stderr}")

if(MODE STREQUAL "fail")
  if(code EQUAL 0)
    message(FATAL_ERROR "expected a failure, but the command succeeded:\n${output}")
  endif()
  if(DEFINED EXIT_CODE AND NOT code STREQUAL EXIT_CODE)
    message(FATAL_ERROR "expected exit status ${EXIT_CODE}, got ${code}:\n${output}")
  endif()
  if(NOT output MATCHES "${EXPECT}")
    message(FATAL_ERROR "expected the output to match '${EXPECT}', got (exit ${code}):\n${output}")
  endif()
  string(REGEX MATCHALL "(^|\n)(\\[rank [0-9]+\\] )?error:" error_lines "${stderr}")
  list(LENGTH error_lines error_count)
  if(NOT error_count EQUAL 1)
    message(FATAL_ERROR "expected the error stack once (one 'error:' line), found "
                        "${error_count}:\n${stderr}")
  endif()
  if(DEFINED RUN_ROOT AND EXISTS ${RUN_ROOT})
    file(GLOB_RECURSE leftovers LIST_DIRECTORIES true RELATIVE ${RUN_ROOT} ${RUN_ROOT}/*)
    foreach(entry ${leftovers})
      if(RUN_FOLDER_ALLOWED)
        if(entry MATCHES "\\.tmp$|predictions\\.csv$")
          message(FATAL_ERROR "the failed run left ${RUN_ROOT}/${entry}")
        endif()
      elseif(entry MATCHES "version_")
        message(FATAL_ERROR "the failed run left a run folder: ${RUN_ROOT}/${entry}")
      endif()
    endforeach()
  endif()
  message(STATUS "failed as expected (exit ${code}): ${stderr}")

elseif(MODE STREQUAL "learns")
  if(NOT code EQUAL 0)
    message(FATAL_ERROR "the run failed (exit ${code}):\n${output}")
  endif()
  set(run ${RUN_ROOT}/${NAME}/version_0)
  foreach(file config.yaml metrics.csv)
    if(NOT EXISTS ${run}/${file})
      message(FATAL_ERROR "the run wrote no ${run}/${file}:\n${output}")
    endif()
  endforeach()
  file(STRINGS ${run}/metrics.csv rows)
  list(POP_FRONT rows header)
  string(REPLACE "," ";" columns "${header}")
  list(FIND columns "${METRIC}" column)
  if(column LESS 0)
    message(FATAL_ERROR "metrics.csv has no column ${METRIC}; its columns: ${header}")
  endif()
  set(last "")
  foreach(row ${rows})
    # keep empty cells as list items: "a,,b" -> "a; ;b"
    string(REPLACE ",," ", ," row "${row}")
    string(REPLACE ",," ", ," row "${row}")
    string(REPLACE "," ";" cells "${row}")
    list(LENGTH cells count)
    if(column LESS count)
      list(GET cells ${column} cell)
      string(STRIP "${cell}" cell)
      if(NOT cell STREQUAL "")
        set(last "${cell}")
      endif()
    endif()
  endforeach()
  if(last STREQUAL "")
    message(FATAL_ERROR "metrics.csv never logged ${METRIC}:\n${header}")
  endif()
  # CMake compares numbers as doubles: "0.8612" >= "0.85"
  if(DEFINED MAX)
    if(last GREATER MAX)
      message(FATAL_ERROR "${METRIC} = ${last}, above the required ${MAX}")
    endif()
    message(STATUS "${METRIC} = ${last} (required <= ${MAX})")
  else()
    if(last LESS MIN)
      message(FATAL_ERROR "${METRIC} = ${last}, below the required ${MIN}")
    endif()
    message(STATUS "${METRIC} = ${last} (required >= ${MIN})")
  endif()

elseif(MODE STREQUAL "roundtrip")
  if(NOT code EQUAL 0)
    message(FATAL_ERROR "--print-config failed (exit ${code}):\n${output}")
  endif()
  if(NOT stdout MATCHES "model:\n" OR NOT stdout MATCHES "trainer:\n")
    message(FATAL_ERROR "--print-config printed no model or trainer section:\n${stdout}")
  endif()
  file(MAKE_DIRECTORY ${WORK})
  file(WRITE ${WORK}/printed.yaml "${stdout}")
  run_command(code2 stdout2 stderr2 ${PROGRAM} fit --config ${WORK}/printed.yaml --print-config)
  if(NOT code2 EQUAL 0)
    message(FATAL_ERROR "feeding the printed configuration back failed (exit ${code2}):\n"
                        "${stdout2}${stderr2}")
  endif()
  if(NOT stdout2 STREQUAL stdout)
    file(WRITE ${WORK}/printed_again.yaml "${stdout2}")
    execute_process(COMMAND diff -u ${WORK}/printed.yaml ${WORK}/printed_again.yaml
                    OUTPUT_VARIABLE difference)
    message(FATAL_ERROR "the configuration printed from printed.yaml differs:\n${difference}")
  endif()
  string(LENGTH "${stdout}" bytes)
  message(STATUS "printed, saved and printed again: identical (${bytes} bytes)")

else()
  message(FATAL_ERROR "volt_train_cases.cmake: unknown MODE '${MODE}'")
endif()
