# tests/profile_case.cmake — volt-train with the profiler on 2 ranks (cmake -P; from
# tests/trainer.cmake): profile.txt in the run folder with the loop's regions, the PAPI
# line (counters, or why not), self times adding up to the total within 1%, bytes
# communicated by the gradient all-reduce; and one trace per rank that parses as JSON and
# holds that rank's events.
# Variables: MPIEXEC, MPIEXEC_FLAGS (list), TRAIN, CONFIG, DATA, ROOT.
cmake_minimum_required(VERSION 3.24)
file(REMOVE_RECURSE ${ROOT})
execute_process(COMMAND ${MPIEXEC} -n 2 ${MPIEXEC_FLAGS} ${TRAIN} fit --config ${CONFIG}
                        --data.path=${DATA} --trainer.enable_progress_bar=false
                        --trainer.limit_train_batches=40 --trainer.max_epochs=2
                        --trainer.default_root_dir=${ROOT} --trainer.name=p
                        --trainer.profiler=papi --profiler.trace=true
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(run ${ROOT}/p/version_0)
if(NOT rc EQUAL 0 OR NOT EXISTS ${run}/profile.txt)
  message(FATAL_ERROR "the profiled run failed or wrote no profile.txt (${rc}):\n${out}\n${err}")
endif()
file(READ ${run}/profile.txt profile)
if(NOT out MATCHES "Profile: 2 ranks")
  message(FATAL_ERROR "rank 0 did not print the profile:\n${out}")
endif()
foreach(pattern "Profile: 2 ranks, [0-9.]+ s"
                "(PAPI counters on|timers only)"
                "\n  train_batch +80 " "\n    forward +80 " "\n    backward +80 "
                "\n    grad_allreduce_wait +80 " "\n    optimizer +80 " "\n  validation +2 "
                "\n  checkpoint +2 " "\n  data +80 " "peak resident memory per rank"
                "DDP on rank 0: 0\\.00 MB of gradients all-reduced while backward ran")
  if(NOT profile MATCHES "${pattern}")
    message(FATAL_ERROR "profile.txt does not match '${pattern}':\n${profile}")
  endif()
endforeach()
# 80 all-reduces of the 203530-element f32 gradient buffer (814120 B) on each of 2 ranks
if(NOT profile MATCHES "\n    grad_allreduce_wait +80 [^\n]* 130\\.26\n")
  message(FATAL_ERROR "the all-reduce's MB (80 x 814120 B x 2 ranks = 130.26) are not in:\n${profile}")
endif()
if(NOT profile MATCHES "self times add up to ([0-9.]+) s \\(mean over ranks; the total's mean is ([0-9.]+) s\\)")
  message(FATAL_ERROR "no self-time check line:\n${profile}")
endif()
if(NOT CMAKE_MATCH_1 STREQUAL CMAKE_MATCH_2)
  message(FATAL_ERROR "self times (${CMAKE_MATCH_1} s) do not add up to the total (${CMAKE_MATCH_2} s)")
endif()
foreach(rank 0 1)
  set(trace ${run}/trace_rank${rank}.json)
  if(NOT EXISTS ${trace})
    message(FATAL_ERROR "no ${trace}")
  endif()
  file(READ ${trace} json)
  string(JSON events ERROR_VARIABLE json_error LENGTH "${json}" traceEvents)
  if(json_error)
    message(FATAL_ERROR "${trace} is not valid JSON: ${json_error}")
  endif()
  if(events LESS 400)
    message(FATAL_ERROR "${trace} holds only ${events} events")
  endif()
  string(JSON pid GET "${json}" traceEvents 1 pid)
  string(JSON name GET "${json}" traceEvents 1 name)
  if(NOT pid EQUAL rank)
    message(FATAL_ERROR "${trace}: events of pid ${pid}, expected ${rank}")
  endif()
  message(STATUS "rank ${rank}: ${events} trace events (first: ${name})")
endforeach()
message(STATUS "profile.txt:\n${profile}")
