/* lib/runtime/runtime.h — start-up and shut-down of a Volt process.
 *
 * volt_init initialises MPI (unless the program already did; then Volt leaves it to
 * the program to finalise), records the rank for message prefixes, reads the logging
 * environment (VOLT_LOG_LEVEL, VOLT_LOG_ALL_RANKS) and checks the BLAS: rank 0 reports
 * the library, kernel and threads, and warns when OpenBLAS runs kernels far weaker than
 * the CPU supports (a milder mismatch is noted at debug level). volt_finalize undoes it. Both are called
 * by every rank. */
#ifndef VOLT_RUNTIME_RUNTIME_H
#define VOLT_RUNTIME_RUNTIME_H

#include <mpi.h>

#include "comm/comm.h" /* VOLT_CHECK_MPI */
#include "core/error.h"

/* MPI_Init_thread with MPI_THREAD_FUNNELED; fails if the library provides less. */
VOLT_NODISCARD int volt_init(int *argc, char ***argv);
VOLT_NODISCARD int volt_finalize(void);

/* Prints the error stack on this rank (stderr, rank-prefixed), then aborts the whole
 * job with MPI_Abort so that no peer waits forever. For the top of a program. */
_Noreturn void volt_abort_with_errors(int status);

#endif
