# tests/slurm.cmake — volt-train on a real one-machine Slurm (label slurm; included from
# tests/CMakeLists.txt after trainer.cmake, whose Fashion-MNIST fixture it uses).
#
# tests/slurm/cluster.sh starts munged, slurmctld and slurmd with everything in
# <build>/tests/slurm/cluster (configuration from tests/slurm/slurm.conf.in, ports
# VOLT_SLURMCTLD_PORT and the next one) and stops them again; the cases run under
# SLURM_CONF pointing there. As root only, with Debian's slurm-wlm and munge
# (scripts/install-deps.sh); elsewhere every test is skipped (exit 77).
#   slurm.cluster_up / slurm.cluster_down   fixture volt_slurm_cluster: start from a clean
#                               state folder, node idle; stop by PID, even after a failure
#   slurm.srun_2ranks           srun --mpi=pmix -n 2 volt-train fit: exit 0, the banner says
#                               2 ranks and srun, train/loss logged, val/acc >= 0.75
#   slurm.sbatch_requeue        jobs/train_requeue.sbatch at 2 tasks: USR1 to its tasks,
#                               checkpoint, requeue, resume, COMPLETED 0:0, and the same
#                               train/loss at every step as an uninterrupted srun
# From trainer.cmake: _config (configs/fashion_mnist_mlp.yaml), _fashion_h5 (the file that
# fixture volt_train_fashion_mnist converts), _fashion (the IDX files it reads), _env.
if(NOT TARGET volt-train OR NOT TEST volt_train.data.fashion_mnist)
  return()
endif()

set(VOLT_SLURMCTLD_PORT 16817 CACHE STRING
    "Port of the tests' slurmctld (slurmd gets the next one); not Slurm's 6817")
set(_slurm ${CMAKE_CURRENT_SOURCE_DIR}/slurm)
set(_slurm_dir ${CMAKE_CURRENT_BINARY_DIR}/slurm)
set(_slurm_cluster ${_slurm_dir}/cluster)
# Open MPI 4.1 started by srun through Slurm's PMIx plugin needs nothing for root
# (--allow-run-as-root is mpirun's check, not MPI_Init's). But unlike under mpirun
# --oversubscribe it does not know that the test machine's cores are shared: its waiting
# ranks spin. Yielding instead, 500 steps at 2 ranks took 3.8 and 2.6 s rather than 5.7 and
# 4.5 s on the 2-core machine at a load of 8.
set(_slurm_env ${_env} "SLURM_CONF=${_slurm_cluster}/slurm.conf"
    "OMPI_MCA_mpi_yield_when_idle=1")

add_test(NAME slurm.cluster_up COMMAND ${_slurm}/cluster.sh up ${_slurm_cluster})
set_tests_properties(slurm.cluster_up PROPERTIES LABELS slurm TIMEOUT 60
  SKIP_RETURN_CODE 77 FIXTURES_SETUP volt_slurm_cluster
  ENVIRONMENT "VOLT_SLURMCTLD_PORT=${VOLT_SLURMCTLD_PORT}")
add_test(NAME slurm.cluster_down COMMAND ${_slurm}/cluster.sh down ${_slurm_cluster})
set_tests_properties(slurm.cluster_down PROPERTIES LABELS slurm TIMEOUT 60
  SKIP_RETURN_CODE 77 FIXTURES_CLEANUP volt_slurm_cluster)

# volt-train at 2 ranks launched by srun itself
add_test(NAME slurm.srun_2ranks
         COMMAND ${_slurm}/srun_case.sh ${_slurm_dir}/srun_2ranks $<TARGET_FILE:volt-train>
                 ${_config} ${_fashion_h5})
# the real job template, requeued by a USR1 as before a time limit
add_test(NAME slurm.sbatch_requeue
         COMMAND ${_slurm}/requeue_case.sh ${_slurm_dir}/sbatch_requeue
                 $<TARGET_FILE:volt-train> ${_config} ${_fashion_h5}
                 ${PROJECT_SOURCE_DIR}/jobs/train_requeue.sbatch)
# One at a time: the cluster has this machine's CPUs only, and a job waiting for them
# would spend the cases' bounded waits.
set_tests_properties(slurm.srun_2ranks slurm.sbatch_requeue PROPERTIES LABELS slurm
  TIMEOUT 300 SKIP_RETURN_CODE 77 ENVIRONMENT "${_slurm_env}"
  FIXTURES_REQUIRED "volt_slurm_cluster;volt_train_fashion_mnist"
  RESOURCE_LOCK volt_slurm_cluster)
if(NOT EXISTS ${_fashion}/train-images-idx3-ubyte.gz)
  set_tests_properties(slurm.srun_2ranks slurm.sbatch_requeue PROPERTIES DISABLED TRUE)
endif()
