# tests/watchdog.cmake — collective timeouts (lib/comm/watchdog.h), label mpi. Each case
# runs tests/watchdog/watchdog_probe.c under mpirun with VOLT_COMM_TIMEOUT_S=2 at 2 and 4
# ranks; a job the watchdog must end has to end with exit status 124 and its message well
# within the test's TIMEOUT (the timeout, a grace of 1 s, a second before MPI_Abort).
#   watchdog.absent      the last rank sleeps instead of joining a barrier: every other
#                        rank names it ("not in a collective", the step), and the ranks
#                        that arrived
#   watchdog.stopped     the last rank stops itself (SIGSTOP): the others name it as
#                        silent (no answer within the grace of 1 s)
#   watchdog.mismatch    the last rank calls a barrier where the others call an
#                        all-reduce (operation #0 for all): "the ranks called different
#                        collectives", naming it
#   watchdog.elsewhere   the last rank waits in a broadcast of another group: the others'
#                        all-reduce #0 of 1000 f32 on "dp" names it as waiting in that
#                        broadcast, and its own watchdog names the others
#   watchdog.quiet       300 all-reduces under a 1 s timeout with a rank working 0.5 s
#                        before some, then a 2 s wait with the timeout off: nothing fires
#   volt_train.bad.comm_timeout_negative   comm.timeout_s = -1 is refused (trainer.cmake)
add_executable(watchdog_probe ${CMAKE_CURRENT_SOURCE_DIR}/watchdog/watchdog_probe.c)
target_link_libraries(watchdog_probe PRIVATE volt_static)

set(_wd_env "OPENBLAS_NUM_THREADS=1;OMP_NUM_THREADS=1;VOLT_COMM_TIMEOUT_S=2")
function(watchdog_case name ranks expect expect_ranks)
  add_test(NAME watchdog.${name}.${ranks}ranks
           COMMAND ${CMAKE_COMMAND}
                   "-DCOMMAND=${MPIEXEC_EXECUTABLE};${MPIEXEC_NUMPROC_FLAG};${ranks};${VOLT_MPIEXEC_FLAGS};$<TARGET_FILE:watchdog_probe>;${name}"
                   -DEXIT_CODE=124 "-DEXPECT=${expect}" -DEXPECT_RANKS=${expect_ranks}
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/watchdog_case.cmake)
  set_tests_properties(watchdog.${name}.${ranks}ranks PROPERTIES LABELS mpi TIMEOUT 40
                       ENVIRONMENT "${_wd_env}")
endfunction()

foreach(n 2 4)
  math(EXPR last "${n} - 1")
  math(EXPR others "${n} - 1")
  if(n EQUAL 2)
    set(arrived "0")
  else()
    set(arrived "0, 1, 2")
  endif()
  watchdog_case(absent ${n}
    "error: comm.timeout_s: barrier #[0-9]+ on group \"world\" \\(${n} ranks\\) made no progress for [0-9.]+ s \\(comm.timeout_s = 2\\) at probe step 7. ranks that did not arrive: ${last} \\(not in a collective. at probe step 7\\). arrived: ${arrived}\\. Ending the job \\(exit status 124\\)"
    ${others})
  # a stopped process answers nothing: silent
  watchdog_case(stopped ${n}
    "error: comm.timeout_s: barrier #[0-9]+ on group \"world\" \\(${n} ranks\\) made no progress for [0-9.]+ s \\(comm.timeout_s = 2\\) at probe step 7. ranks that did not arrive: ${last} \\(no answer within 1.0 s: dead, unreachable, or stopped outside MPI\\). arrived: ${arrived}\\. Ending the job"
    ${others})
  # the ranks called different collectives under one number: the others say so
  watchdog_case(mismatch ${n}
    "error: comm.timeout_s: all-reduce #0 of 4 f32 on group \"world\" \\(${n} ranks\\) [^\n]*the ranks called different collectives: ${last} \\(waiting [0-9.]+ s in barrier #0 on group \"world\""
    ${others})
  # the others name the last rank; the last names the others
  watchdog_case(elsewhere ${n}
    "error: comm.timeout_s: (all-reduce #0 of 1000 f32 on group \"dp\" \\(${n} ranks\\)[^\n]*did not arrive: ${last} \\(waiting [0-9.]+ s in broadcast #0 on group \"other\"|broadcast #0 of 10 f32 on group \"other\" \\(${n} ranks\\)[^\n]*did not arrive: 0 \\(waiting [0-9.]+ s in all-reduce #0 on group \"dp\")"
    ${n})
endforeach()
volt_add_mpi_test(watchdog.quiet RANKS 2 4 COMMAND $<TARGET_FILE:watchdog_probe> quiet
                  PASS "300 all-reduces, no timeout")
foreach(n 2 4)
  set_tests_properties(watchdog.quiet.${n}ranks PROPERTIES TIMEOUT 60 ENVIRONMENT "${_wd_env}")
endforeach()
