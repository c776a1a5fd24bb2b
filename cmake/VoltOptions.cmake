# Options of the Volt build. Optional dependencies take AUTO (use when found), ON (required)
# or OFF (never).
set(VOLT_WITH_CUDA AUTO CACHE STRING "CUDA toolkit, cuBLAS and NCCL: AUTO, ON or OFF")
set(VOLT_WITH_PAPI AUTO CACHE STRING "PAPI hardware counters: AUTO, ON or OFF")
set_property(CACHE VOLT_WITH_CUDA PROPERTY STRINGS AUTO ON OFF)
set_property(CACHE VOLT_WITH_PAPI PROPERTY STRINGS AUTO ON OFF)
option(VOLT_WARNINGS_AS_ERRORS "Turn compiler warnings into errors (CI does)" OFF)
option(VOLT_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(VOLT_NATIVE "Compile for this machine's CPU (-march=native): wider vectors in the elementwise
  loops, but the binaries may not run on another CPU" OFF)
set(VOLT_MPIEXEC_EXTRA_FLAGS "" CACHE STRING
    "Extra flags for mpiexec in tests (for example --allow-run-as-root --oversubscribe)")

foreach(opt VOLT_WITH_CUDA VOLT_WITH_PAPI)
  if(NOT ${opt} MATCHES "^(AUTO|ON|OFF)$")
    message(FATAL_ERROR "${opt}=${${opt}}: expected AUTO, ON or OFF")
  endif()
endforeach()

# Flags every Volt target gets, through the volt_flags interface target. Strict C11 plus
# POSIX.1-2008 (clock_gettime, open_memstream, setenv), nothing else of glibc's.
add_library(volt_flags INTERFACE)
target_compile_definitions(volt_flags INTERFACE _POSIX_C_SOURCE=200809L)
target_compile_options(volt_flags INTERFACE
  $<$<COMPILE_LANGUAGE:C>:-Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes>
  # sqrt() may then skip setting errno, which nothing reads: it lets gcc vectorise the
  # Adam loops. Results are unchanged (this is not -ffast-math).
  $<$<COMPILE_LANGUAGE:C>:-fno-math-errno>
  $<$<AND:$<COMPILE_LANGUAGE:C>,$<BOOL:${VOLT_WARNINGS_AS_ERRORS}>>:-Werror>)
if(VOLT_NATIVE)
  target_compile_options(volt_flags INTERFACE $<$<COMPILE_LANGUAGE:C>:-march=native>)
endif()
if(VOLT_SANITIZE)
  target_compile_options(volt_flags INTERFACE
    $<$<COMPILE_LANGUAGE:C>:-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined>)
  target_link_options(volt_flags INTERFACE -fsanitize=address,undefined)
endif()
