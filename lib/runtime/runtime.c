/* lib/runtime/runtime.c — volt_init / volt_finalize. */
#include "runtime/runtime.h"

#include <stdlib.h>

#include "core/log.h"
#include "ops/blas_info.h"

/* Whether volt_init started MPI (and volt_finalize must end it). Written once, by
 * volt_init, before any thread exists. */
static int runtime_owns_mpi = 0;

static void report_blas(void) {
    volt_blas_info info;
    volt_blas_query(&info);
    char line[512], advice[512];
    int warn = volt_blas_describe(&info, line, sizeof line, advice, sizeof advice);
    VOLT_INFO("%s", line);
    if (warn) VOLT_WARN("%s", advice);
    else if (advice[0]) VOLT_DEBUG("%s", advice);
}

int volt_init(int *argc, char ***argv) {
    int initialized = 0;
    VOLT_CHECK_MPI(MPI_Initialized(&initialized));
    int provided = MPI_THREAD_SINGLE;
    if (!initialized) {
        VOLT_CHECK_MPI(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
        runtime_owns_mpi = 1;
    } else {
        VOLT_CHECK_MPI(MPI_Query_thread(&provided)); /* the program started MPI itself */
    }
    if (provided < MPI_THREAD_FUNNELED)
        return VOLT_ERROR(VOLT_ERR_MPI,
                          "MPI was initialised with thread level %d; Volt needs "
                          "MPI_THREAD_FUNNELED (%d) or higher (use MPI_Init_thread)",
                          provided, MPI_THREAD_FUNNELED);
    int rank = 0, size = 1;
    VOLT_CHECK_MPI(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
    VOLT_CHECK_MPI(MPI_Comm_size(MPI_COMM_WORLD, &size));
    volt_core_set_rank(rank, size);
    VOLT_CHECK(volt_log_setup());
    report_blas();
    return VOLT_OK;
}

int volt_finalize(void) {
    if (runtime_owns_mpi) {
        int finalized = 0;
        VOLT_CHECK_MPI(MPI_Finalized(&finalized));
        if (!finalized) VOLT_CHECK_MPI(MPI_Finalize());
        runtime_owns_mpi = 0;
    }
    return VOLT_OK;
}

_Noreturn void volt_abort_with_errors(int status) {
    volt_error_print(stderr);
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, status ? status : 1);
    exit(status ? status : 1);
}
