/* lib/runtime/runtime.c — volt_init / volt_finalize. */
#include "runtime/runtime.h"

#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

#include "comm/watchdog.h"
#include "core/log.h"
#include "ops/blas_info.h"
#include "volt/version.h"
#ifdef VOLT_HAVE_CUDA
#include "cuda_info.h"
#endif

/* Written once, by volt_init, before any thread exists; read-only afterwards. */
static int runtime_owns_mpi = 0; /* volt_init started MPI, volt_finalize ends it */
static volt_runtime_info runtime_info;

const volt_runtime_info *volt_runtime(void) { return &runtime_info; }

/* Who started this process, from the variables each launcher sets. */
static const char *detect_launcher(void) {
    if (getenv("OMPI_COMM_WORLD_SIZE")) return "mpirun (Open MPI)";
    if (getenv("SLURM_STEP_ID") && getenv("SLURM_PROCID")) return "srun (Slurm)";
    if (getenv("PMI_RANK") || getenv("HYDRA_CONTROL_FD")) return "mpiexec (Hydra)";
    if (getenv("PMIX_RANK")) return "a PMIx launcher";
    return "none";
}

/* Node-local rank and size, the node count and the spread of ranks per node. */
static int find_nodes(volt_runtime_info *info) {
    MPI_Comm node;
    VOLT_CHECK_MPI(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, info->rank,
                                       MPI_INFO_NULL, &node));
    MPI_Comm_rank(node, &info->local_rank);
    MPI_Comm_size(node, &info->local_size);
    MPI_Comm_free(&node);
    int leader = info->local_rank == 0;
    VOLT_CHECK_MPI(MPI_Allreduce(&leader, &info->nodes, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD));
    VOLT_CHECK_MPI(MPI_Allreduce(&info->local_size, &info->min_ranks_per_node, 1, MPI_INT,
                                 MPI_MIN, MPI_COMM_WORLD));
    VOLT_CHECK_MPI(MPI_Allreduce(&info->local_size, &info->max_ranks_per_node, 1, MPI_INT,
                                 MPI_MAX, MPI_COMM_WORLD));
    return VOLT_OK;
}

static void print_banner(const volt_runtime_info *info) {
    char per_node[32];
    if (info->min_ranks_per_node == info->max_ranks_per_node)
        snprintf(per_node, sizeof per_node, "%d", info->min_ranks_per_node);
    else
        snprintf(per_node, sizeof per_node, "%d-%d", info->min_ranks_per_node,
                 info->max_ranks_per_node);
    VOLT_INFO("Volt %s: %d rank%s on %d node%s (%s per node), launcher: %s", VOLT_VERSION_STRING,
              info->world_size, info->world_size == 1 ? "" : "s", info->nodes,
              info->nodes == 1 ? "" : "s", per_node, info->launcher);
    unsigned major = 0, minor = 0, release = 0;
    H5get_libversion(&major, &minor, &release);
    VOLT_INFO("MPI: %s; HDF5 %u.%u.%u", info->mpi_library, major, minor, release);
#ifdef VOLT_HAVE_CUDA
    char versions[256];
    volt_cuda_versions(versions, sizeof versions);
    int devices = volt_cuda_device_count();
    VOLT_INFO("%s; %d device%s visible", versions, devices, devices == 1 ? "" : "s");
#endif
}

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
    /* before MPI_Init: a singleton Open MPI sets PMIx variables of its own */
    const char *launcher = detect_launcher();
    int initialized = 0;
    VOLT_CHECK_MPI(MPI_Initialized(&initialized));
    int provided = MPI_THREAD_SINGLE;
    if (!initialized) {
        /* MULTIPLE lets the watchdog ask the other ranks who is missing (comm/watchdog.h);
         * the rest needs FUNNELED */
        VOLT_CHECK_MPI(MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided));
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
    memset(&runtime_info, 0, sizeof runtime_info);
    runtime_info.rank = rank;
    runtime_info.world_size = size;
    runtime_info.launcher = launcher;
    char library[MPI_MAX_LIBRARY_VERSION_STRING];
    int length = 0;
    VOLT_CHECK_MPI(MPI_Get_library_version(library, &length));
    library[strcspn(library, "\n,")] = '\0'; /* the first line, up to the first comma */
    snprintf(runtime_info.mpi_library, sizeof runtime_info.mpi_library, "%.127s", library);
    VOLT_CHECK(find_nodes(&runtime_info));
    VOLT_CHECK(volt_watchdog_start());
    print_banner(&runtime_info);
    report_blas();
    return VOLT_OK;
}

const char *volt_version(void) { return VOLT_VERSION_STRING; }

void volt_print_version(FILE *out, const char *program) {
    fprintf(out, "%s (Volt) %s\n", program, VOLT_VERSION_STRING);
#ifdef VOLT_HAVE_CUDA
    char cuda[256];
    volt_cuda_versions(cuda, sizeof cuda);
    fprintf(out, "built with CUDA: %s\n", cuda);
#else
    fprintf(out, "built without CUDA\n");
#endif
#ifdef VOLT_HAVE_PAPI
    fprintf(out, "built with PAPI (hardware counters where the kernel exposes them)\n");
#else
    fprintf(out, "built without PAPI (the profiler uses timers)\n");
#endif
    /* MPI_Get_library_version may be called before MPI_Init (MPI 3.0) */
    char library[MPI_MAX_LIBRARY_VERSION_STRING] = "";
    int length = 0;
    if (MPI_Get_library_version(library, &length) == MPI_SUCCESS) {
        library[strcspn(library, "\n,")] = '\0';
        fprintf(out, "MPI: %s\n", library);
    }
    unsigned major = 0, minor = 0, release = 0;
    H5get_libversion(&major, &minor, &release);
    fprintf(out, "HDF5 %u.%u.%u\n", major, minor, release);
    volt_blas_info blas;
    volt_blas_query(&blas);
    char line[512], advice[512];
    volt_blas_describe(&blas, line, sizeof line, advice, sizeof advice);
    fprintf(out, "%s\n", line);
}

int volt_finalize(void) {
    volt_watchdog_stop();
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
