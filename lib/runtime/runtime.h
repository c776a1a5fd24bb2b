/* lib/runtime/runtime.h — start-up and shut-down of a Volt process.
 *
 * volt_init initialises MPI (unless the program already did; then Volt leaves it to
 * the program to finalise), records the rank for message prefixes, reads the logging
 * environment (VOLT_LOG_LEVEL, VOLT_LOG_ALL_RANKS), finds the node-local rank
 * (MPI_Comm_split_type with MPI_COMM_TYPE_SHARED) and the launcher (mpirun/mpiexec,
 * srun, or none: a singleton), and prints a banner on rank 0: ranks, nodes, ranks per
 * node, launcher, MPI library, HDF5, CUDA and NCCL when built in, then the BLAS check
 * (library, kernel, threads; a warning when OpenBLAS runs kernels far weaker than the
 * CPU supports). volt_finalize undoes it. Both are called by every rank. */
#ifndef VOLT_RUNTIME_RUNTIME_H
#define VOLT_RUNTIME_RUNTIME_H

#include <mpi.h>
#include <stdio.h>

#include "comm/comm.h" /* VOLT_CHECK_MPI */
#include "core/error.h"

typedef struct volt_runtime_info {
    int rank, world_size;
    int local_rank, local_size; /* among the ranks of this node */
    int nodes;
    int min_ranks_per_node, max_ranks_per_node;
    const char *launcher; /* "mpirun (Open MPI)", "mpiexec (Hydra)", "srun (Slurm)", "none" */
    char mpi_library[128]; /* first line of MPI_Get_library_version */
} volt_runtime_info;

/* MPI_Init_thread asking for MPI_THREAD_MULTIPLE (the watchdog uses it), failing below
 * MPI_THREAD_FUNNELED; starts the collective watchdog (comm/watchdog.h). volt_finalize
 * stops it: a program calls it rather than MPI_Finalize. */
VOLT_NODISCARD int volt_init(int *argc, char ***argv);
VOLT_NODISCARD int volt_finalize(void);
/* What volt_init found; zeros before it. */
const volt_runtime_info *volt_runtime(void);

/* The library's release ("0.1.0"; volt/version.h has the headers'). */
const char *volt_version(void);
/* Writes what `<program> --version` shows: the release, what this build has (CUDA, NCCL,
 * PAPI), and the MPI, HDF5 and BLAS libraries it runs with. Needs no volt_init and starts
 * no MPI (for login nodes and module checks). */
void volt_print_version(FILE *out, const char *program);

/* Prints the error stack on this rank (stderr, rank-prefixed), then aborts the whole
 * job with MPI_Abort so that no peer waits forever. For the top of a program. */
_Noreturn void volt_abort_with_errors(int status);

#endif
