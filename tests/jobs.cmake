# tests/jobs.cmake — the job script templates of jobs/ and the Spack recipe
# jobs/spack/package.py (included from tests/CMakeLists.txt). No scheduler, no Spack: each
# check reads the files with Debian's python3 and first proves on broken inputs that it
# rejects them (its self-test), so a check that passes everything cannot pass unnoticed.
#   jobs.syntax                      bash -n, and shellcheck where it is installed, on every
#                                    jobs/*.sbatch, *.pbs, *.sh; every #SBATCH / #PBS line
#                                    a known option with a well-formed value, none after
#                                    the first command (tests/jobs/check_job_scripts.py)
#   jobs.spack_package               the recipe compiles, declares its variants,
#                                    dependencies and conflicts, and passes only
#                                    -DVOLT_... options of cmake/VoltOptions.cmake with
#                                    values they take, every VOLT_WITH_* as ON or OFF
#                                    (tests/jobs/check_spack_package.py)
#   jobs.templates_use_real_options  every --section.key= the templates give volt-train
#                                    is one it accepts (tests/jobs/check_template_options.py)
find_program(VOLT_DEBIAN_PYTHON python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(NOT VOLT_DEBIAN_PYTHON)
  message(STATUS "jobs.* tests left out: no python3 in /usr/bin")
  return()
endif()
find_program(VOLT_SHELLCHECK shellcheck)
set(_shellcheck "")
if(VOLT_SHELLCHECK)
  set(_shellcheck --shellcheck ${VOLT_SHELLCHECK})
endif()

add_test(NAME jobs.syntax
         COMMAND ${VOLT_DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/jobs/check_job_scripts.py
                 --jobs-dir ${PROJECT_SOURCE_DIR}/jobs ${_shellcheck})
add_test(NAME jobs.spack_package
         COMMAND ${VOLT_DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/jobs/check_spack_package.py
                 --package ${PROJECT_SOURCE_DIR}/jobs/spack/package.py
                 --options ${PROJECT_SOURCE_DIR}/cmake/VoltOptions.cmake)
add_test(NAME jobs.templates_use_real_options
         COMMAND ${VOLT_DEBIAN_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/jobs/check_template_options.py
                 --volt-train $<TARGET_FILE:volt-train>
                 --config ${PROJECT_SOURCE_DIR}/configs/fashion_mnist_mlp.yaml
                 --jobs-dir ${PROJECT_SOURCE_DIR}/jobs)
set_tests_properties(jobs.syntax jobs.spack_package jobs.templates_use_real_options
                     PROPERTIES LABELS "unit;jobs" TIMEOUT 120)
if(VOLT_SANITIZE)
  # volt-train starts MPI, whose initialisation leaks (see tests/trainer.cmake)
  set_tests_properties(jobs.templates_use_real_options PROPERTIES
                       ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0")
endif()
