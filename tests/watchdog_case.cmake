# tests/watchdog_case.cmake — a job the watchdog must end (lib/comm/watchdog.h), run as
# `cmake -DCOMMAND=mpirun;...;prog;args [-DEXIT_CODE=n] -DEXPECT=<regex> [-DEXPECT_RANKS=k]
#  [-DNOT_EXPECT=<regex>] -P watchdog_case.cmake`.
# COMMAND must exit with EXIT_CODE (when given) or non-zero; its output must match EXPECT,
# on at least EXPECT_RANKS different ranks' lines ("[rank R] error: comm.timeout_s: ..."),
# and must not match NOT_EXPECT. The test's own TIMEOUT bounds how long it may take: no
# hang.
cmake_minimum_required(VERSION 3.24)
foreach(var COMMAND EXPECT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "watchdog_case.cmake: ${var} is not set")
  endif()
endforeach()
string(REPLACE ";" " " shown "${COMMAND}")
message(STATUS "running: ${shown}")
execute_process(COMMAND ${COMMAND} RESULT_VARIABLE code OUTPUT_VARIABLE out
                ERROR_VARIABLE err)
set(all "${out}${err}")
message(STATUS "exit status ${code}; output:\n${all}")
if(DEFINED EXIT_CODE AND NOT code STREQUAL "${EXIT_CODE}")
  message(FATAL_ERROR "exit status ${code}, expected ${EXIT_CODE}")
elseif(code STREQUAL "0")
  message(FATAL_ERROR "the job succeeded; the watchdog should have ended it")
endif()
# ";" separates CMake list items: the lines are searched with "," in its place (EXPECT
# cannot hold a ";" either, passed as one argument: it writes "." there)
string(REPLACE ";" "," flat "${all}")
string(REGEX MATCHALL "\\[rank [0-9]+\\] [^\n]*" lines "${flat}")
set(ranks "")
foreach(line IN LISTS lines)
  if(line MATCHES "${EXPECT}" AND line MATCHES "^\\[rank ([0-9]+)\\]")
    list(APPEND ranks ${CMAKE_MATCH_1})
  endif()
endforeach()
list(REMOVE_DUPLICATES ranks)
list(LENGTH ranks found)
if(NOT DEFINED EXPECT_RANKS)
  set(EXPECT_RANKS 1)
endif()
if(found LESS EXPECT_RANKS)
  message(FATAL_ERROR "${found} rank(s) (${ranks}) printed a line matching\n  ${EXPECT}\n"
                      "expected at least ${EXPECT_RANKS}")
endif()
if(DEFINED NOT_EXPECT AND all MATCHES "${NOT_EXPECT}")
  message(FATAL_ERROR "the output matches ${NOT_EXPECT}: ${CMAKE_MATCH_0}")
endif()
message(STATUS "ranks ${ranks} reported: ${EXPECT}")
