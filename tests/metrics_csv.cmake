# tests/metrics_csv.cmake — reading a run's metrics.csv (Lightning's CSVLogger layout: a
# header row, then one row per logged step or epoch with empty cells for what that row did
# not log), for the cmake -P case scripts that include it.
#
# metrics_column(<csv> <column> <out> [WITH_STEP]): the non-empty cells of <column>, in
# row order; WITH_STEP: as "<step>=<value>" entries. A missing file or column is fatal.
function(metrics_column csv column out)
  cmake_parse_arguments(arg "WITH_STEP" "" "" ${ARGN})
  if(NOT EXISTS ${csv})
    message(FATAL_ERROR "no ${csv}")
  endif()
  file(STRINGS ${csv} rows)
  list(POP_FRONT rows header)
  string(REPLACE "," ";" columns "${header}")
  list(FIND columns "${column}" index)
  list(FIND columns "step" step_index)
  if(index LESS 0 OR (arg_WITH_STEP AND step_index LESS 0))
    message(FATAL_ERROR "${csv} has no ${column} or step column: ${header}")
  endif()
  set(values "")
  foreach(row IN LISTS rows)
    string(REPLACE "," ";" cells "${row};") # the trailing ; keeps a last empty cell
    list(GET cells ${index} value)
    string(STRIP "${value}" value)
    if(value STREQUAL "")
      continue()
    endif()
    if(arg_WITH_STEP)
      list(GET cells ${step_index} step)
      set(value "${step}=${value}")
    endif()
    list(APPEND values "${value}")
  endforeach()
  set(${out} "${values}" PARENT_SCOPE)
endfunction()
