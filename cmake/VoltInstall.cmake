# The install tree (`cmake --install build --prefix PREFIX`):
#   bin/                        volt-train, volt-data (RPATH to ../lib: no LD_LIBRARY_PATH)
#   lib/                        libvolt.so.<version> with its SONAME link, libvolt.a
#   include/volt/               volt.h, version.h and the public headers by module
#   lib/cmake/Volt/             VoltConfig.cmake, its version file, the exported targets
#                               Volt::volt and Volt::volt_static, FindNCCL.cmake
#   lib/pkgconfig/volt.pc       for `pkg-config --cflags --libs volt`
#   share/volt/configs, jobs    the example configurations and job script templates
#   share/modulefiles/volt/<version>.lua   an Lmod modulefile
# volt.pc and the modulefile are written at install time, so that they name the prefix
# given to `cmake --install --prefix` (and not DESTDIR, which packagers strip).
include(CMakePackageConfigHelpers)

set(VOLT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/Volt)
set(VOLT_MODULE_DEPENDS "" CACHE STRING
    "Modules the Lmod modulefile loads first, ;-separated (e.g. openmpi/4.1;hdf5/1.14)")

# Installed programs find libvolt through $ORIGIN, and the dependencies outside the
# system folders (a Spack or module MPI, HDF5, CUDA) through the paths they linked with.
file(RELATIVE_PATH _bin_to_lib ${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}
     ${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR})
set_target_properties(volt-train volt-data PROPERTIES INSTALL_RPATH "$ORIGIN/${_bin_to_lib}")
set_target_properties(volt-train volt-data volt PROPERTIES INSTALL_RPATH_USE_LINK_PATH ON)

install(TARGETS volt volt_static EXPORT VoltTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS volt-train volt-data RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Public headers: every lib/<module>/*.h but the internal ones
install(DIRECTORY ${PROJECT_SOURCE_DIR}/lib/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/volt
        FILES_MATCHING PATTERN "*.h"
        PATTERN "trainer_internal.h" EXCLUDE PATTERN "nccl_backend.h" EXCLUDE
        PATTERN "hdf5_util.h" EXCLUDE PATTERN "op_util.h" EXCLUDE)
install(FILES ${PROJECT_SOURCE_DIR}/include/volt/volt.h
              ${PROJECT_BINARY_DIR}/include/volt/version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/volt)

# The CMake package
install(EXPORT VoltTargets NAMESPACE Volt:: DESTINATION ${VOLT_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/VoltConfig.cmake.in
  ${PROJECT_BINARY_DIR}/VoltConfig.cmake INSTALL_DESTINATION ${VOLT_CMAKE_DIR})
# 0.x releases promise nothing across minor versions; from 1.0 on, the same major does
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(_compat SameMinorVersion)
else()
  set(_compat SameMajorVersion)
endif()
write_basic_package_version_file(${PROJECT_BINARY_DIR}/VoltConfigVersion.cmake
  COMPATIBILITY ${_compat})
install(FILES ${PROJECT_BINARY_DIR}/VoltConfig.cmake
              ${PROJECT_BINARY_DIR}/VoltConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/FindNCCL.cmake
        DESTINATION ${VOLT_CMAKE_DIR})

# Data for users
install(DIRECTORY ${PROJECT_SOURCE_DIR}/configs/ DESTINATION ${CMAKE_INSTALL_DATADIR}/volt/configs)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/jobs/ DESTINATION ${CMAKE_INSTALL_DATADIR}/volt/jobs
        USE_SOURCE_PERMISSIONS)

# volt.pc and the modulefile: the templates get their @VARS@ now, and the prefix
# (@VOLT_PREFIX@) at install time.
set(VOLT_PC_MPI_CFLAGS "")
foreach(dir ${MPI_C_INCLUDE_DIRS})
  string(APPEND VOLT_PC_MPI_CFLAGS " -I${dir}")
endforeach()
string(JOIN " " VOLT_PC_MPI_LIBS ${MPI_C_LIBRARIES})
set(VOLT_PC_PRIVATE_LIBS "")
foreach(lib ${HDF5_C_LIBRARIES} ${BLAS_LIBRARIES} ${YAML_LINK_LIBRARIES} ${PAPI_LINK_LIBRARIES})
  string(APPEND VOLT_PC_PRIVATE_LIBS " ${lib}")
endforeach()
if(VOLT_HAVE_CUDA)
  string(APPEND VOLT_PC_PRIVATE_LIBS " -L${CUDAToolkit_LIBRARY_DIR} -lcudart -lcublas -lstdc++")
  if(VOLT_HAVE_NCCL)
    string(APPEND VOLT_PC_PRIVATE_LIBS " ${NCCL_LIBRARY}")
  endif()
endif()
string(APPEND VOLT_PC_PRIVATE_LIBS " -lpthread -lm")
set(VOLT_MODULE_DEPENDS_LUA "")
foreach(m ${VOLT_MODULE_DEPENDS})
  string(APPEND VOLT_MODULE_DEPENDS_LUA "depends_on(\"${m}\")\n")
endforeach()
set(VOLT_PREFIX "@VOLT_PREFIX@") # kept for the install step
foreach(template volt.pc volt.lua)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/${template}.in
                 ${PROJECT_BINARY_DIR}/install/${template}.in @ONLY)
endforeach()
install(CODE "
  set(VOLT_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${PROJECT_BINARY_DIR}/install/volt.pc.in\"
                 \"${PROJECT_BINARY_DIR}/install/volt.pc\" @ONLY)
  configure_file(\"${PROJECT_BINARY_DIR}/install/volt.lua.in\"
                 \"${PROJECT_BINARY_DIR}/install/${PROJECT_VERSION}.lua\" @ONLY)")
install(FILES ${PROJECT_BINARY_DIR}/install/volt.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
install(FILES ${PROJECT_BINARY_DIR}/install/${PROJECT_VERSION}.lua
        DESTINATION ${CMAKE_INSTALL_DATADIR}/modulefiles/volt)
