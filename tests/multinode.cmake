# tests/multinode.cmake — several "nodes" on one machine (label multinode; included from
# tests/CMakeLists.txt after trainer.cmake and gpt.cmake, whose data fixtures it uses).
#
# tests/cluster/vcluster makes the nodes: network namespaces with host names of their
# own (UTS namespaces) joined by a bridge, mpirun started in node 0 with an rsh agent
# that enters the others (docs/multinode.md). Every test runs on one cluster of 2 nodes
# whose state is in <build>/tests/multinode/cluster, one test at a time (RESOURCE_LOCK);
# as root only, elsewhere every test is skipped (exit 77, the reason in its output).
#   multinode.cluster_up / multinode.cluster_down   fixture volt_vcluster: 2 nodes up
#                               (replacing what a failed run left); everything removed,
#                               processes inside killed, also after failures
#   multinode.banner            volt-train on 2 nodes x 2 ranks says "4 ranks on 2 nodes
#                               (2 per node), launcher: mpirun (Open MPI)"
#   multinode.prepare_data_once_per_node   a data module's prepare_data
#                               (tests/cluster/prepare_data_probe.c) ran exactly twice, on
#                               2 different host names
#   multinode.same_losses_ddp_zero1   the tiny GPT: 1 process, DDP and ZeRO-1 on 2 x 2, the
#                               same per-step losses within 1e-5 (global batch 8, 12 steps;
#                               tests/same_losses_case.cmake with vcluster run as launcher:
#                               the 1-process run is vcluster run -n 1, in node 0); DDP
#                               averages with the hierarchical all-reduce there (auto)
#   multinode.hierarchical_allreduce   tests/mpi/test_hierarchical.c on 2 x 2: the nodes MPI
#                               finds are 2, and the two levels over TCP equal the flat
#                               all-reduce for every dtype, operation and odd count
#   multinode.cut_node          node 1's link cut while the MLP trains with comm.timeout_s
#                               5: every rank ends within 35 s, node 0's ranks each with
#                               the watchdog's message, one at least naming node 1's ranks
#                               as silent; mpirun returns 124 once the link is back
#                               (tests/cluster/cases.sh cut)
#   multinode.resume_<ddp|zero1>_2nodes_on_1   the MLP on Fashion-MNIST, DDP or ZeRO-1 on
#                               2 x 2 (global batch 64) saves every 5 steps; one process
#                               resumes from step 25 with the uninterrupted run's losses
#                               (1e-5) and final weights (1e-4) (tests/resume_case.cmake;
#                               the resumed process, too, runs in node 0;
#                               left out without h5diff)
if(NOT TARGET volt-train OR NOT TEST volt_train.data.fashion_mnist
   OR NOT TEST gpt.data.synthetic)
  return()
endif()
set(_mn_dir ${CMAKE_CURRENT_BINARY_DIR}/multinode)
set(_mn_state ${_mn_dir}/cluster)
set(_vcluster ${CMAKE_CURRENT_SOURCE_DIR}/cluster/vcluster)
# vcluster run as the launcher of the case scripts: MPIEXEC -n R MPIEXEC_FLAGS PROGRAM...
set(_mn_mpiexec ${_vcluster} --state ${_mn_state} run)
set(_mn_mpiexec_flags --per-node 2 --)
set(_mn_fashion_h5 ${CMAKE_CURRENT_BINARY_DIR}/volt_train/fashion_mnist.h5)
set(_mn_gpt_h5 ${CMAKE_CURRENT_BINARY_DIR}/gpt/synthetic.h5)
set(_mn_config ${PROJECT_SOURCE_DIR}/configs/fashion_mnist_mlp.yaml)
set(_mn_env "OPENBLAS_NUM_THREADS=1;OMP_NUM_THREADS=1")
if(VOLT_SANITIZE)
  list(APPEND _mn_env "ASAN_OPTIONS=detect_leaks=0") # Open MPI's own leaks (trainer.cmake)
endif()

add_executable(prepare_data_probe ${CMAKE_CURRENT_SOURCE_DIR}/cluster/prepare_data_probe.c)
target_link_libraries(prepare_data_probe PRIVATE volt_models)

add_test(NAME multinode.cluster_up COMMAND ${_vcluster} --state ${_mn_state} up 2)
set_tests_properties(multinode.cluster_up PROPERTIES FIXTURES_SETUP volt_vcluster)
add_test(NAME multinode.cluster_down COMMAND ${_vcluster} --state ${_mn_state} down)
set_tests_properties(multinode.cluster_down PROPERTIES FIXTURES_CLEANUP volt_vcluster)

add_test(NAME multinode.banner
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/cluster/cases.sh banner ${_vcluster} ${_mn_state}
                 ${_mn_dir}/banner $<TARGET_FILE:volt-train> ${_mn_config} ${_mn_fashion_h5})
add_test(NAME multinode.prepare_data_once_per_node
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/cluster/cases.sh prepare_data ${_vcluster}
                 ${_mn_state} ${_mn_dir}/prepare_data $<TARGET_FILE:prepare_data_probe>
                 ${_mn_config} ${_mn_fashion_h5})
add_test(NAME multinode.cut_node
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/cluster/cases.sh cut ${_vcluster} ${_mn_state}
                 ${_mn_dir}/cut $<TARGET_FILE:volt-train> ${_mn_config} ${_mn_fashion_h5})
set_tests_properties(multinode.banner multinode.prepare_data_once_per_node multinode.cut_node
                     PROPERTIES
                     FIXTURES_REQUIRED "volt_vcluster;volt_train_fashion_mnist")

# vcluster check: exit 77 before the case script, which would turn a skip into a failure
add_test(NAME multinode.same_losses_ddp_zero1
         COMMAND ${_vcluster} --state ${_mn_state} check --
                 ${CMAKE_COMMAND} "-DMPIEXEC=${_mn_mpiexec}" "-DMPIEXEC_FLAGS=${_mn_mpiexec_flags}"
                 -DTRAIN=$<TARGET_FILE:volt-train> -DROOT=${_mn_dir}/same_losses -DBATCH=8
                 -DTOLERANCE=1e-5
                 "-DCOMMON=--model.name=gpt;--model.n_layer=2;--model.n_head=4;--model.n_embd=32;--trainer.num_sanity_val_steps=0;--data.path=${_mn_gpt_h5};--trainer.max_steps=12"
                 "-DRUNS=single 1 auto -;ddp_2x2 4 ddp -;zero1_2x2 4 zero1 -"
                 -P ${CMAKE_CURRENT_SOURCE_DIR}/same_losses_case.cmake)
set_tests_properties(multinode.same_losses_ddp_zero1 PROPERTIES
                     FIXTURES_REQUIRED "volt_vcluster;gpt_synthetic")

# the two-level all-reduce between real (simulated) nodes over TCP equals the flat one
add_test(NAME multinode.hierarchical_allreduce
         COMMAND ${_vcluster} --state ${_mn_state} check --
                 ${_mn_mpiexec} -n 4 ${_mn_mpiexec_flags} $<TARGET_FILE:test_hierarchical>)
set_tests_properties(multinode.hierarchical_allreduce PROPERTIES
                     FIXTURES_REQUIRED volt_vcluster)

find_program(VOLT_H5DIFF h5diff)
set(_mn_resume_strategies ddp zero1)
if(NOT VOLT_H5DIFF)
  set(_mn_resume_strategies "") # resume_case.cmake compares the final states with h5diff
endif()
foreach(strategy ${_mn_resume_strategies})
  add_test(NAME multinode.resume_${strategy}_2nodes_on_1
           COMMAND ${_vcluster} --state ${_mn_state} check --
                   ${CMAKE_COMMAND} "-DMPIEXEC=${_mn_mpiexec}"
                   "-DMPIEXEC_FLAGS=${_mn_mpiexec_flags}" -DTRAIN=$<TARGET_FILE:volt-train>
                   -DCONFIG=${_mn_config} -DDATA=${_mn_fashion_h5}
                   -DROOT=${_mn_dir}/resume_${strategy} -DBATCHES=40 -DRANKS_A=4
                   -DSTRATEGY_A=${strategy} -DBATCH_A=16 -DRANKS_B=1 -DSTRATEGY_B=single
                   -DBATCH_B=64 -DH5DIFF=${VOLT_H5DIFF} -DTOLERANCE=1e-4 -DDROPOUT=0
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/resume_case.cmake)
  set_tests_properties(multinode.resume_${strategy}_2nodes_on_1 PROPERTIES
                       FIXTURES_REQUIRED "volt_vcluster;volt_train_fashion_mnist")
endforeach()

get_property(_mn_tests DIRECTORY PROPERTY TESTS)
list(FILTER _mn_tests INCLUDE REGEX "^multinode\\.")
set_tests_properties(${_mn_tests} PROPERTIES LABELS multinode TIMEOUT 120
                     SKIP_RETURN_CODE 77 RESOURCE_LOCK volt_vcluster ENVIRONMENT "${_mn_env}")
set_tests_properties(multinode.hierarchical_allreduce PROPERTIES
                     ENVIRONMENT "${_mn_env};VOLT_TEST_EXPECT_NODES=2")
