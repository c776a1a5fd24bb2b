# tests/install.cmake — the install tree and its users (label install; included from
# tests/CMakeLists.txt after trainer.cmake, whose Fashion-MNIST fixture they train on).
#   install.tree           cmake --install into a fresh prefix in the build tree: layout,
#                          SONAME, programs that run without LD_LIBRARY_PATH, every public
#                          header compiling alone (tests/install/check_tree.sh)
#   install.find_package   apps/examples as a project of its own: find_package(Volt),
#                          Volt::volt; trains at 2 ranks (tests/install/consumer.sh)
#   install.find_package_static   the same with Volt::volt_static
#   install.pkg_config     apps/examples/Makefile with `pkg-config volt`; trains at 2 ranks
#   install.lmod           the installed modulefile, loaded by Debian's Lmod
#                          (tests/install/lmod.sh; 77 without Lmod)
if(VOLT_SANITIZE OR NOT TARGET volt-train)
  return() # the installed library would need the sanitizer runtime in every consumer
endif()
set(_install_dir ${CMAKE_CURRENT_BINARY_DIR}/install)
set(_prefix ${_install_dir}/prefix)
set(_scripts ${CMAKE_CURRENT_SOURCE_DIR}/install)
file(MAKE_DIRECTORY ${_install_dir})

add_test(NAME install.tree
         COMMAND bash ${_scripts}/check_tree.sh ${PROJECT_BINARY_DIR} ${_prefix}
                 ${PROJECT_VERSION} ${CMAKE_C_COMPILER})
set_tests_properties(install.tree PROPERTIES LABELS install TIMEOUT 300
                     FIXTURES_SETUP volt_installed)

foreach(mode cmake cmake-static make)
  set(_name find_package)
  if(mode STREQUAL "cmake-static")
    set(_name find_package_static)
  elseif(mode STREQUAL "make")
    set(_name pkg_config)
  endif()
  add_test(NAME install.${_name}
           COMMAND bash ${_scripts}/consumer.sh ${mode} ${_prefix}
                   ${PROJECT_SOURCE_DIR}/apps/examples ${_install_dir}/${_name}
                   ${CMAKE_CURRENT_BINARY_DIR}/volt_train/fashion_mnist.h5
                   ${MPIEXEC_EXECUTABLE} ${VOLT_MPIEXEC_FLAGS})
  set_tests_properties(install.${_name} PROPERTIES LABELS install TIMEOUT 300
    FIXTURES_REQUIRED "volt_installed;volt_train_fashion_mnist"
    ENVIRONMENT "OPENBLAS_NUM_THREADS=1;OMP_NUM_THREADS=1")
endforeach()

find_file(VOLT_LMOD_INIT bash PATHS /usr/share/lmod/lmod/init NO_DEFAULT_PATH
          DOC "Lmod's bash initialisation (Debian's lmod)")
add_test(NAME install.lmod
         COMMAND bash ${_scripts}/lmod.sh "${VOLT_LMOD_INIT}" ${_prefix} ${PROJECT_VERSION})
set_tests_properties(install.lmod PROPERTIES LABELS install TIMEOUT 120 SKIP_RETURN_CODE 77
                     FIXTURES_REQUIRED volt_installed)
