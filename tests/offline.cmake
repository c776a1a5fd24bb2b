# tests/offline.cmake — jobs/offline-deps.sh, the dependencies for compute nodes without
# network (label offline; included from tests/CMakeLists.txt).
#   offline.deps   bundle the Debian packages (kept in the build tree between runs), unpack
#                  them into a fresh prefix, and with only PREFIX/env.sh: Volt's CMake
#                  dependency search, the libraries loaded and mpirun at 2 ranks writing a
#                  parallel HDF5 file all use the prefix, not the system's copies; a damaged
#                  .deb and foreign folders are refused (tests/offline/offline_deps.sh;
#                  77 when apt cannot give the packages)
find_program(VOLT_APT_GET apt-get)
if(NOT VOLT_APT_GET)
  message(STATUS "offline.* tests left out: no apt-get")
  return()
endif()
add_test(NAME offline.deps
         COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/offline/offline_deps.sh ${PROJECT_SOURCE_DIR}
                 ${CMAKE_CURRENT_BINARY_DIR}/offline)
# Open MPI refuses root without these (test machines only, like VOLT_MPIEXEC_FLAGS)
set_tests_properties(offline.deps PROPERTIES LABELS offline TIMEOUT 400 SKIP_RETURN_CODE 77
  ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OPENBLAS_NUM_THREADS=1;OMP_NUM_THREADS=1")
