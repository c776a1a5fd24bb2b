# tests/crash_case.cmake — kill -9 of every rank in the middle of a checkpoint write
# leaves the previous checkpoint intact and no partial file under a final name (cmake -P;
# from tests/trainer.cmake).
#
# A 2-rank fit of a large MLP (a checkpoint of about 70 MB, so that a write takes a
# while) saves every 2 steps. Once last.h5 exists and a new write is under way (a
# .<name>.tmp file in the folder), every rank and mpirun get SIGKILL. Then: the temporary
# file is still there (the kill did land mid-write; else the case is tried again, up to 5
# times), every file with a final name is a whole checkpoint (h5dump reads all of it), and
# a fit resumes from last.h5.
# Variables: MPIEXEC, MPIEXEC_FLAGS (list), TRAIN, CONFIG, DATA, ROOT, H5DUMP.
set(_common --config ${CONFIG} --data.path=${DATA} --trainer.enable_progress_bar=false
    --trainer.enable_model_summary=false --trainer.default_root_dir=${ROOT}
    --model.hidden=2048,2048 --data.batch_size=16 --trainer.name=crash
    --callbacks.0.name=ModelCheckpoint --callbacks.0.every_n_train_steps=2)
set(_folder ${ROOT}/crash/version_0/checkpoints)
set(quoted "")
foreach(arg ${MPIEXEC} -n 2 ${MPIEXEC_FLAGS} ${TRAIN} fit ${_common} --trainer.max_steps=400)
  string(APPEND quoted " '${arg}'")
endforeach()
set(script "${quoted} > '${ROOT}/run.log' 2>&1 &
launcher=$!
i=0
while [ ! -e '${_folder}/last.h5' ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done
i=0
while [ $i -lt 200000 ]; do
  for f in '${_folder}'/.*.tmp; do
    if [ -e \"$f\" ]; then
      kill -9 $(pgrep -P $launcher) $launcher
      wait $launcher 2>/dev/null
      echo \"KILLED while writing $f\"
      exit 0
    fi
  done
  i=$((i+1))
done
kill -9 $(pgrep -P $launcher) $launcher
echo 'NO WRITE SEEN'
")
foreach(attempt RANGE 1 5)
  file(REMOVE_RECURSE ${ROOT})
  file(MAKE_DIRECTORY ${ROOT})
  execute_process(COMMAND sh -c "${script}" OUTPUT_VARIABLE out ERROR_VARIABLE err
                  TIMEOUT 250)
  file(GLOB _temps ${_folder}/.*.tmp)
  if(out MATCHES "KILLED while writing" AND _temps)
    break()
  endif()
  message(STATUS "attempt ${attempt}: the kill did not land mid-write (${out}); again")
  set(_temps "")
endforeach()
if(NOT _temps)
  file(READ ${ROOT}/run.log log)
  message(FATAL_ERROR "could not kill the ranks in the middle of a write:\n${out}${err}\n${log}")
endif()
message(STATUS "killed mid-write: ${_temps} left behind")

file(GLOB _finals ${_folder}/*.h5)
list(LENGTH _finals _count)
if(_count LESS 2) # last.h5 and the file it links
  message(FATAL_ERROR "expected the previous checkpoint and last.h5, found: ${_finals}")
endif()
foreach(file ${_finals})
  execute_process(COMMAND ${H5DUMP} -o /dev/null ${file} RESULT_VARIABLE rc
                  OUTPUT_QUIET ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${file} has a final name but is not a whole HDF5 file:\n${err}")
  endif()
endforeach()
execute_process(COMMAND ${H5DUMP} -a /meta/global_step ${_folder}/last.h5
                OUTPUT_VARIABLE dump)
if(NOT dump MATCHES "\\(0\\): ([0-9]+)\n")
  message(FATAL_ERROR "last.h5 has no step:\n${dump}")
endif()
set(_step ${CMAKE_MATCH_1})
math(EXPR _end "${_step} + 2")
execute_process(COMMAND ${MPIEXEC} -n 2 ${MPIEXEC_FLAGS} ${TRAIN} fit ${_common}
                        --trainer.max_steps=${_end} --ckpt_path=${_folder}/last.h5
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT "${out}${err}" MATCHES "resumed from")
  message(FATAL_ERROR "resuming from last.h5 after the crash failed (${rc}):\n${out}${err}")
endif()
message(STATUS "after the crash: ${_count} whole checkpoints, resumed from step "
               "${_step} to ${_end}")
