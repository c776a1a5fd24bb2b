/* tests/volt_test_mpi_main.c — main() for MPI test binaries (tests/mpi/test_*.c): starts
 * Volt (and MPI), runs every registered test on every rank, and agrees on the outcome:
 * the binary fails on every rank if any test failed on any rank. Rank 0 prints the
 * closing "N passed, N failed" line of the whole job. */
#include <mpi.h>

#include "runtime/runtime.h"
#include "volt_test.h"

int main(int argc, char **argv) {
    if (volt_init(&argc, &argv) != VOLT_OK) volt_abort_with_errors(1);
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int failed_here = volt_test_run_all(argc, argv) != 0;
    int failed_anywhere = 0;
    MPI_Allreduce(&failed_here, &failed_anywhere, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0 && failed_anywhere && !failed_here)
        printf("another rank failed a test\n");
    if (volt_finalize() != VOLT_OK) volt_abort_with_errors(1);
    return failed_anywhere ? 1 : 0;
}
