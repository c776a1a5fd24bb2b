# tests/preemption_case.cmake — a signal stops a fit with a checkpoint, and the requeued
# run resumes exactly (cmake -P; from tests/trainer.cmake).
#
# In a fresh ROOT: (A) a long fit (RANKS ranks under mpirun, or one process when RANKS is
# 1) gets SIGNAL once its run folder exists: with RANKS > 1 only the last rank gets it.
# It must exit with 75 and leave exactly one hpc_ckpt_1.h5 and a last.h5 naming the same
# step S. (B) `fit --ckpt_path=last --trainer.max_steps=S+20` must resume at step S and
# end with exit 0; (C) an uninterrupted fit to step S+20 must end with the same model
# and optimizer state as (B), bit for bit (h5diff), dropout included.
# Variables: MPIEXEC, MPIEXEC_FLAGS (list), TRAIN, CONFIG, DATA, ROOT, RANKS, SIGNAL
# (USR1 or TERM), H5DIFF, H5DUMP.
file(REMOVE_RECURSE ${ROOT})
file(MAKE_DIRECTORY ${ROOT})
set(_common --config ${CONFIG} --data.path=${DATA} --trainer.enable_progress_bar=false
    --trainer.enable_model_summary=false --trainer.default_root_dir=${ROOT}
    --model.dropout=0.2 --data.batch_size=32)
set(_launch "")
if(RANKS GREATER 1)
  set(_launch ${MPIEXEC} -n ${RANKS} ${MPIEXEC_FLAGS})
endif()

# (A) in the background; the shell signals one process and reports the exit status
set(quoted "")
foreach(arg ${_launch} ${TRAIN} fit ${_common} --trainer.name=a --trainer.max_epochs=1000)
  string(APPEND quoted " '${arg}'")
endforeach()
if(RANKS GREATER 1)
  set(_target "$(pgrep -P $launcher | tail -1)") # the last rank only
else()
  set(_target "$launcher")
endif()
set(script "${quoted} > '${ROOT}/a.log' 2>&1 &
launcher=$!
i=0
while [ ! -d '${ROOT}/a/version_0' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
sleep 2
target=${_target}
if [ -z \"$target\" ]; then echo 'nothing to signal'; kill $launcher; exit 3; fi
kill -${SIGNAL} $target
wait $launcher
echo \"EXIT=$?\"
")
execute_process(COMMAND sh -c "${script}" OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 200)
file(READ ${ROOT}/a.log log)
if(NOT out MATCHES "EXIT=75")
  message(FATAL_ERROR "expected exit status 75 after SIG${SIGNAL}:\n${out}${err}\n${log}")
endif()
set(_folder ${ROOT}/a/version_0/checkpoints)
file(GLOB _hpc ${_folder}/hpc_ckpt_*.h5)
if(NOT _hpc STREQUAL "${_folder}/hpc_ckpt_1.h5")
  message(FATAL_ERROR "expected exactly hpc_ckpt_1.h5, found: ${_hpc}\n${log}")
endif()
if(NOT log MATCHES "SIG${SIGNAL} received: saved [^\n]*hpc_ckpt_1.h5 at step ([0-9]+)")
  message(FATAL_ERROR "the run did not say what it saved:\n${log}")
endif()
set(_step ${CMAKE_MATCH_1})
foreach(file hpc_ckpt_1.h5 last.h5)
  execute_process(COMMAND ${H5DUMP} -a /meta/global_step ${_folder}/${file}
                  OUTPUT_VARIABLE dump RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT dump MATCHES "\\(0\\): ${_step}\n")
    message(FATAL_ERROR "${file} does not hold step ${_step} (${rc}):\n${dump}")
  endif()
endforeach()
math(EXPR _end "${_step} + 20")

# (B) the requeued job; (C) the uninterrupted reference
execute_process(COMMAND ${_launch} ${TRAIN} fit ${_common} --trainer.name=a
                        --trainer.max_epochs=1000 --trainer.max_steps=${_end}
                        --ckpt_path=last
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT "${out}${err}" MATCHES "resumed from [^\n]*last.h5: [^\n]*step ${_step}")
  message(FATAL_ERROR "the requeued run failed or did not resume at step ${_step} (${rc}):\n"
                      "${out}${err}")
endif()
execute_process(COMMAND ${_launch} ${TRAIN} fit ${_common} --trainer.name=c
                        --trainer.max_epochs=1000 --trainer.max_steps=${_end}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the uninterrupted run failed (${rc}):\n${out}${err}")
endif()
foreach(group /model /optim)
  execute_process(COMMAND ${H5DIFF} ${ROOT}/a/version_1/checkpoints/last.h5
                          ${ROOT}/c/version_0/checkpoints/last.h5 ${group} ${group}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${group} of the requeued run differs from the uninterrupted one at "
                        "step ${_end}:\n${out}${err}")
  endif()
endforeach()
message(STATUS "SIG${SIGNAL}: checkpoint at step ${_step}, exit 75; the requeued run matches "
               "the uninterrupted one at step ${_end}")
