# tests/torch_roundtrip.cmake — a Volt checkpoint evaluated by PyTorch (cmake -P; from
# tests/trainer.cmake and tests/gpt.cmake). In a fresh ROOT: fit a built-in model briefly
# (its last.h5), evaluate that checkpoint with `volt-train validate --ckpt_path` and with
# tools/volt_to_torch.py (the torch model, h5py); accuracy and loss on the SAMPLES
# validation samples must agree within TOLERANCE millionths (2 unless given; Volt prints
# 6 significant digits, the tool 6 decimals).
# Variables: TRAIN, CONFIG, DATA, ROOT, PYTHON, TOOL, SAMPLES, [ARGS (;-list), TOLERANCE].
execute_process(COMMAND ${PYTHON} -c "import torch, h5py" RESULT_VARIABLE rc
                ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(STATUS "skipped: ${PYTHON} cannot import torch and h5py (Debian's python3-torch "
                 "and python3-h5py; scripts/install-deps.sh installs them): ${err}")
  # ctest reads the skip from the output (SKIP_REGULAR_EXPRESSION)
  message(STATUS "VOLT_TEST_SKIPPED")
  return()
endif()
file(REMOVE_RECURSE ${ROOT})
file(MAKE_DIRECTORY ${ROOT})
if(NOT DEFINED TOLERANCE)
  set(TOLERANCE 2)
endif()
set(_common --config ${CONFIG} --data.path=${DATA} --trainer.enable_progress_bar=false
    --trainer.default_root_dir=${ROOT} ${ARGS})
execute_process(COMMAND ${TRAIN} fit ${_common} --trainer.max_epochs=1
                        --trainer.limit_train_batches=100 --trainer.name=fit
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(_ckpt ${ROOT}/fit/version_0/checkpoints/last.h5)
if(NOT rc EQUAL 0 OR NOT EXISTS ${_ckpt})
  message(FATAL_ERROR "fit failed or left no ${_ckpt} (${rc}):\n${out}\n${err}")
endif()
execute_process(COMMAND ${TRAIN} validate ${_common} --trainer.name=validate
                        --ckpt_path=${_ckpt}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(volt "${out}${err}")
if(NOT rc EQUAL 0 OR NOT volt MATCHES "val/loss +([0-9.]+)")
  message(FATAL_ERROR "volt-train validate failed (${rc}):\n${volt}")
endif()
set(volt_loss ${CMAKE_MATCH_1})
string(REGEX MATCH "val/acc +([0-9.]+)" _ "${volt}")
set(volt_acc ${CMAKE_MATCH_1})
execute_process(COMMAND ${PYTHON} ${TOOL} ${_ckpt} --data ${DATA} --split val
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "accuracy=([0-9.]+) loss=([0-9.]+) samples=${SAMPLES}")
  message(FATAL_ERROR "volt_to_torch.py failed (${rc}):\n${out}\n${err}")
endif()
set(torch_acc ${CMAKE_MATCH_1})
set(torch_loss ${CMAKE_MATCH_2})

# a decimal with 6 places as an integer count of millionths
function(micro text out)
  if(NOT text MATCHES "^([0-9]+)\\.([0-9]*)$")
    message(FATAL_ERROR "not a decimal: '${text}'")
  endif()
  set(whole ${CMAKE_MATCH_1})
  string(SUBSTRING "${CMAKE_MATCH_2}000000" 0 6 fraction)
  string(REGEX REPLACE "^0+([0-9])" "\\1" fraction "${fraction}")
  math(EXPR value "${whole} * 1000000 + ${fraction}")
  set(${out} ${value} PARENT_SCOPE)
endfunction()
foreach(what acc loss)
  micro(${volt_${what}} a)
  micro(${torch_${what}} b)
  math(EXPR diff "${a} - ${b}")
  if(diff GREATER TOLERANCE OR diff LESS -${TOLERANCE})
    message(FATAL_ERROR "val ${what}: Volt ${volt_${what}}, PyTorch ${torch_${what}}")
  endif()
endforeach()
message(STATUS "Volt and PyTorch agree: accuracy ${volt_acc} / ${torch_acc}, "
               "loss ${volt_loss} / ${torch_loss}")
