# tests/tensorboard.cmake — TensorBoard reads what lib/log/tensorboard.c writes (included
# from tests/CMakeLists.txt; the byte-level checks are tests/unit/test_tensorboard.c).
#   tensorboard.read_back  tests/tensorboard/write_events writes a run (two event files:
#                          scalars with NaN, +-Inf, +-0, float overflow, steps that go
#                          back and beyond 2^31, 307 tags; hyperparameters of each kind
#                          and metric tags) and its answer key; then
#                          tests/tensorboard/read_events.py reads the folder with the
#                          tensorboard package from PyPI and checks every point.
# The package lives in the virtual environment VOLT_TEST_VENV, which the test sets up
# first (scripts/setup-test-venv.sh: quick once it exists, shared by every build folder of
# the checkout). Where it cannot be set up (no python3-venv, PyPI unreachable) the test
# is skipped (exit 77) with the reason in its output; where CI=true, it fails instead.
set(VOLT_TEST_VENV ${PROJECT_SOURCE_DIR}/build/test-venv CACHE PATH
    "Python virtual environment of the read-back tests (scripts/setup-test-venv.sh)")

add_executable(tensorboard_write_events ${CMAKE_CURRENT_SOURCE_DIR}/tensorboard/write_events.c)
target_link_libraries(tensorboard_write_events PRIVATE volt_static)

# sh -c: $0 the run folder, $1 the writer, $2 the setup script, $3 the venv, $4 the reader
add_test(NAME tensorboard.read_back
         COMMAND sh -c [=[rm -rf "$0" && "$1" "$0" && { "$2" "$3" || exit $?; } && "$3/bin/python" "$4" "$0"]=]
                 ${CMAKE_CURRENT_BINARY_DIR}/tensorboard_read_back
                 $<TARGET_FILE:tensorboard_write_events>
                 ${PROJECT_SOURCE_DIR}/scripts/setup-test-venv.sh ${VOLT_TEST_VENV}
                 ${CMAKE_CURRENT_SOURCE_DIR}/tensorboard/read_events.py)
set_tests_properties(tensorboard.read_back PROPERTIES LABELS unit TIMEOUT 600
                     SKIP_RETURN_CODE 77)
