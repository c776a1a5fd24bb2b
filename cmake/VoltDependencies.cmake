# Finds Volt's dependencies the standard way and defines imported targets for them.
#   required: MPI (C), parallel HDF5, a CBLAS, libyaml, zlib
#   optional: CUDA toolkit + cuBLAS + NCCL, PAPI   (VOLT_WITH_CUDA / VOLT_WITH_PAPI)

find_package(MPI REQUIRED COMPONENTS C)
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)

# --- parallel HDF5 -----------------------------------------------------------------------
set(HDF5_PREFER_PARALLEL TRUE)
find_package(HDF5 REQUIRED COMPONENTS C)
if(NOT HDF5_IS_PARALLEL)
  message(FATAL_ERROR
    "Volt needs a parallel (MPI) HDF5, but the HDF5 found (${HDF5_VERSION}, ${HDF5_C_LIBRARIES}) "
    "is serial. On Debian/Ubuntu: apt-get install libhdf5-openmpi-dev; with Spack: "
    "spack install hdf5+mpi; or point HDF5_ROOT at a parallel build.")
endif()
add_library(volt_hdf5 INTERFACE)
target_include_directories(volt_hdf5 INTERFACE ${HDF5_C_INCLUDE_DIRS})
target_link_libraries(volt_hdf5 INTERFACE ${HDF5_C_LIBRARIES})
target_compile_definitions(volt_hdf5 INTERFACE ${HDF5_C_DEFINITIONS} H5_USE_110_API_DEFAULT=0)

# --- CBLAS ----------------------------------------------------------------------------------
if(NOT DEFINED BLA_VENDOR AND NOT DEFINED ENV{BLA_VENDOR})
  set(BLA_VENDOR OpenBLAS)
  find_package(BLAS QUIET)
  if(NOT BLAS_FOUND)
    unset(BLA_VENDOR)
  endif()
endif()
find_package(BLAS REQUIRED)
find_path(VOLT_CBLAS_INCLUDE_DIR cblas.h
  PATH_SUFFIXES openblas openblas-pthread x86_64-linux-gnu/openblas-pthread
                aarch64-linux-gnu/openblas-pthread blis flexiblas)
if(NOT VOLT_CBLAS_INCLUDE_DIR)
  message(FATAL_ERROR "cblas.h not found: install a CBLAS (apt-get install libopenblas-dev) "
                      "or set VOLT_CBLAS_INCLUDE_DIR")
endif()
add_library(volt_blas INTERFACE)
target_include_directories(volt_blas INTERFACE ${VOLT_CBLAS_INCLUDE_DIR})
target_link_libraries(volt_blas INTERFACE ${BLAS_LIBRARIES})

# --- zlib (volt-data reads .gz files) ------------------------------------------------------
find_package(ZLIB REQUIRED)

# --- libyaml --------------------------------------------------------------------------------
pkg_check_modules(YAML REQUIRED IMPORTED_TARGET yaml-0.1)

# --- PAPI (optional) ------------------------------------------------------------------------
set(VOLT_HAVE_PAPI OFF)
if(NOT VOLT_WITH_PAPI STREQUAL "OFF")
  pkg_check_modules(PAPI IMPORTED_TARGET papi)
  if(PAPI_FOUND)
    set(VOLT_HAVE_PAPI ON)
  elseif(VOLT_WITH_PAPI STREQUAL "ON")
    message(FATAL_ERROR "VOLT_WITH_PAPI=ON but PAPI was not found (apt-get install libpapi-dev)")
  endif()
endif()

# --- CUDA, cuBLAS, NCCL (optional) ----------------------------------------------------------
set(VOLT_HAVE_CUDA OFF)
set(VOLT_HAVE_NCCL OFF)
if(NOT VOLT_WITH_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      # Ampere and Hopper; "native" would fail on a machine without a GPU.
      set(CMAKE_CUDA_ARCHITECTURES 80 90)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    find_package(NCCL)
    set(VOLT_HAVE_CUDA ON)
    if(NCCL_FOUND)
      set(VOLT_HAVE_NCCL ON)
    elseif(VOLT_WITH_CUDA STREQUAL "ON")
      message(FATAL_ERROR "VOLT_WITH_CUDA=ON but NCCL was not found (set NCCL_ROOT)")
    endif()
  elseif(VOLT_WITH_CUDA STREQUAL "ON")
    message(FATAL_ERROR "VOLT_WITH_CUDA=ON but no CUDA compiler was found (put nvcc on PATH "
                        "or set CMAKE_CUDA_COMPILER)")
  endif()
endif()
