/* tests/mpi/test_comm.c — volt_comm's collectives, groups and agreement at any rank count.
 *
 * Every rank fills its buffers with values computed from (rank, index), so every rank
 * can compute the exact result it must receive. The values are small integers (plus an
 * offset per dtype that exercises its range: 2^28 for i32, 2^40 for i64, a quarter or a
 * half for the floats): sums over four ranks are exact in every dtype, so results are
 * compared for equality, and an average is the exact sum divided in the dtype, as the
 * implementation does. Every operation runs blocking and non-blocking, at 0, 1, 7, 8 and
 * 1009 (a prime) elements, on the world and again on a world communicator whose MPI
 * calls carry at most 7 elements (VOLT_COMM_PIECE_ELEMENTS), which runs the code that
 * splits counts above INT_MAX / 2 without needing gigabytes. */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef VOLT_HAVE_NCCL
#include <cuda_runtime.h>
#endif

#include "comm/comm.h"
#include "volt_test.h"

static const volt_dtype REDUCE_DTYPES[] = {VOLT_F32, VOLT_F64, VOLT_I32, VOLT_I64};
static const volt_dtype ALL_DTYPES[] = {VOLT_F32, VOLT_F64, VOLT_BF16,
                                        VOLT_F16, VOLT_I32, VOLT_I64};
static const volt_reduce REDUCE_OPS[] = {VOLT_REDUCE_SUM, VOLT_REDUCE_AVG, VOLT_REDUCE_MAX,
                                         VOLT_REDUCE_MIN};
static const size_t COUNTS[] = {0, 1, 7, 8, 1009};
#define LENGTH(a) (sizeof(a) / sizeof((a)[0]))

static const char *const OP_NAMES[] = {"sum", "avg", "max", "min"};
static const double SENTINEL = 77;

/* ---- values ------------------------------------------------------------------------------ */

/* Element i of rank r's data. bf16 and f16 are only moved, never computed on: their
 * values are bit patterns, distinct per rank. */
static double value(volt_dtype dtype, int rank, size_t i) {
    double small = (double)((i * 7 + (size_t)rank * 13) % 31);
    switch (dtype) {
    case VOLT_F32: return small - 15 + rank + 0.25;
    case VOLT_F64: return small - 15 + rank + 0.5;
    case VOLT_I32: return small - 15 + rank + (double)(1 << 28);
    case VOLT_I64: return small - 15 + rank + (double)(1LL << 40);
    default: return small + 1000.0 * rank; /* bf16, f16: a uint16 pattern */
    }
}

static void put(void *buf, volt_dtype dtype, size_t i, double v) {
    switch (dtype) {
    case VOLT_F32: ((float *)buf)[i] = (float)v; break;
    case VOLT_F64: ((double *)buf)[i] = v; break;
    case VOLT_I32: ((int32_t *)buf)[i] = (int32_t)v; break;
    case VOLT_I64: ((int64_t *)buf)[i] = (int64_t)v; break;
    default: ((uint16_t *)buf)[i] = (uint16_t)v; break;
    }
}

static double get(const void *buf, volt_dtype dtype, size_t i) {
    switch (dtype) {
    case VOLT_F32: return ((const float *)buf)[i];
    case VOLT_F64: return ((const double *)buf)[i];
    case VOLT_I32: return ((const int32_t *)buf)[i];
    case VOLT_I64: return (double)((const int64_t *)buf)[i];
    default: return ((const uint16_t *)buf)[i];
    }
}

/* A buffer of count elements (at least one byte, so that count 0 still gives a valid
 * pointer), every element set to SENTINEL. */
static void *sentinel_buffer(volt_dtype dtype, size_t count) {
    void *buf = malloc(count * volt_dtype_size(dtype) + 1);
    for (size_t i = 0; i < count; i++) put(buf, dtype, i, SENTINEL);
    return buf;
}

/* The reduction over ranks 0..size-1 of value(dtype, rank, i). */
static double expected_reduction(volt_dtype dtype, volt_reduce op, int size, size_t i) {
    double result = value(dtype, 0, i);
    for (int r = 1; r < size; r++) {
        double v = value(dtype, r, i);
        if (op == VOLT_REDUCE_MAX) result = v > result ? v : result;
        else if (op == VOLT_REDUCE_MIN) result = v < result ? v : result;
        else result += v;
    }
    if (op == VOLT_REDUCE_AVG) {
        if (dtype == VOLT_F32) return (double)((float)result / (float)size);
        return result / size;
    }
    return result;
}

/* Compares count elements with want(i); reports the first difference. */
typedef double (*expectation)(const void *context, size_t i);

static int check_buffer(const char *what, const void *buf, volt_dtype dtype, size_t count,
                        expectation want, const void *context, const char *file, int line) {
    for (size_t i = 0; i < count; i++) {
        double got = get(buf, dtype, i), expected = want(context, i);
        if (got != expected) {
            volt_test_fail(file, line, "%s: element %zu of %zu is %.17g, expected %.17g", what,
                           i, count, got, expected);
            return 0;
        }
    }
    return 1;
}
#define CHECK_BUFFER(what, buf, dtype, count, want, context)                               \
    check_buffer((what), (buf), (dtype), (count), (want), (context), __FILE__, __LINE__)

/* Finishes a non-blocking call: half the time by polling volt_comm_test first. */
static void finish(volt_request *request, int poll, const char *what) {
    if (!request) {
        volt_test_fail(__FILE__, __LINE__, "%s: no request returned", what);
        return;
    }
    if (poll) {
        int done = 0;
        for (long spins = 0; !done; spins++) {
            if (volt_comm_test(request, &done) != VOLT_OK) {
                volt_test_fail(__FILE__, __LINE__, "%s: volt_comm_test failed", what);
                volt_error_print(stderr);
                volt_error_clear();
                break;
            }
        }
    }
    VOLT_EXPECT_OK(volt_comm_wait(request));
}

/* ---- the suite of every collective, on any communicator ---------------------------------- */

typedef struct {
    volt_dtype dtype;
    volt_reduce op;
    int reduces; /* whether op applies */
    int rank, size;
    size_t count;
    int root;
} suite_case;

static double want_allreduce(const void *context, size_t i) {
    const suite_case *c = context;
    return expected_reduction(c->dtype, c->op, c->size, i);
}

/* Block `rank` of the reduce-scatter input. */
static double want_reduce_scatter(const void *context, size_t i) {
    const suite_case *c = context;
    return expected_reduction(c->dtype, c->op, c->size, (size_t)c->rank * c->count + i);
}

static double want_allgather(const void *context, size_t i) {
    const suite_case *c = context;
    return c->count ? value(c->dtype, (int)(i / c->count), i % c->count) : 0;
}

static double want_broadcast(const void *context, size_t i) {
    const suite_case *c = context;
    return value(c->dtype, c->root, i);
}

static void describe(char *what, size_t size, const char *operation, const suite_case *c,
                     int nonblocking) {
    snprintf(what, size, "%s %s%s%s count %zu (%s, %d ranks)", operation,
             volt_dtype_name(c->dtype), c->reduces ? " " : "", c->reduces ? OP_NAMES[c->op] : "",
             c->count, nonblocking ? "non-blocking" : "blocking", c->size);
}

static void suite_allreduce(volt_comm *comm, suite_case c, int nonblocking) {
    char what[160];
    describe(what, sizeof what, "allreduce", &c, nonblocking);
    void *buf = sentinel_buffer(c.dtype, c.count);
    for (size_t i = 0; i < c.count; i++) put(buf, c.dtype, i, value(c.dtype, c.rank, i));
    volt_request *request = NULL;
    int status = volt_comm_allreduce(comm, buf, c.count, c.dtype, c.op,
                                     nonblocking ? &request : NULL);
    VOLT_EXPECT_OK(status);
    if (status == VOLT_OK) {
        if (nonblocking) finish(request, (int)(c.count % 2), what);
        CHECK_BUFFER(what, buf, c.dtype, c.count, want_allreduce, &c);
    }
    free(buf);
}

static void suite_reduce_scatter(volt_comm *comm, suite_case c, int nonblocking) {
    char what[160];
    describe(what, sizeof what, "reduce_scatter", &c, nonblocking);
    size_t total = (size_t)c.size * c.count;
    void *send = sentinel_buffer(c.dtype, total);
    void *recv = sentinel_buffer(c.dtype, c.count);
    for (size_t j = 0; j < total; j++) put(send, c.dtype, j, value(c.dtype, c.rank, j));
    volt_request *request = NULL;
    int status = volt_comm_reduce_scatter(comm, send, recv, c.count, c.dtype, c.op,
                                          nonblocking ? &request : NULL);
    VOLT_EXPECT_OK(status);
    if (status == VOLT_OK) {
        if (nonblocking) finish(request, (int)(c.count % 2), what);
        CHECK_BUFFER(what, recv, c.dtype, c.count, want_reduce_scatter, &c);
        /* the input is left alone */
        for (size_t j = 0; j < total; j++)
            if (get(send, c.dtype, j) != value(c.dtype, c.rank, j)) {
                volt_test_fail(__FILE__, __LINE__, "%s: send element %zu changed", what, j);
                break;
            }
    }
    free(send);
    free(recv);
}

static void suite_allgather(volt_comm *comm, suite_case c, int nonblocking, int in_place) {
    char what[160];
    describe(what, sizeof what, in_place ? "allgather in place" : "allgather", &c, nonblocking);
    size_t total = (size_t)c.size * c.count;
    void *recv = sentinel_buffer(c.dtype, total);
    void *own = sentinel_buffer(c.dtype, c.count);
    const void *send = own;
    if (in_place) send = (char *)recv + (size_t)c.rank * c.count * volt_dtype_size(c.dtype);
    for (size_t i = 0; i < c.count; i++)
        put((void *)(uintptr_t)send, c.dtype, i, value(c.dtype, c.rank, i));
    volt_request *request = NULL;
    int status = volt_comm_allgather(comm, send, recv, c.count, c.dtype,
                                     nonblocking ? &request : NULL);
    VOLT_EXPECT_OK(status);
    if (status == VOLT_OK) {
        if (nonblocking) finish(request, (int)(c.count % 2), what);
        CHECK_BUFFER(what, recv, c.dtype, total, want_allgather, &c);
    }
    free(recv);
    free(own);
}

static void suite_broadcast(volt_comm *comm, suite_case c, int nonblocking) {
    char what[160];
    for (c.root = 0; c.root < c.size; c.root++) {
        describe(what, sizeof what, "broadcast", &c, nonblocking);
        void *buf = sentinel_buffer(c.dtype, c.count);
        for (size_t i = 0; i < c.count; i++) put(buf, c.dtype, i, value(c.dtype, c.rank, i));
        volt_request *request = NULL;
        int status = volt_comm_broadcast(comm, buf, c.count, c.dtype, c.root,
                                         nonblocking ? &request : NULL);
        VOLT_EXPECT_OK(status);
        if (status == VOLT_OK) {
            if (nonblocking) finish(request, (int)(c.count % 2), what);
            CHECK_BUFFER(what, buf, c.dtype, c.count, want_broadcast, &c);
        }
        free(buf);
    }
}

/* Every collective, blocking and non-blocking, on every count of COUNTS. */
static void run_suite(volt_comm *comm) {
    suite_case c = {.rank = volt_comm_rank(comm), .size = volt_comm_size(comm)};
    for (int nonblocking = 0; nonblocking <= 1; nonblocking++) {
        for (size_t k = 0; k < LENGTH(COUNTS); k++) {
            c.count = COUNTS[k];
            for (size_t t = 0; t < LENGTH(REDUCE_DTYPES); t++) {
                c.dtype = REDUCE_DTYPES[t];
                for (size_t o = 0; o < LENGTH(REDUCE_OPS); o++) {
                    c.op = REDUCE_OPS[o];
                    c.reduces = 1;
                    if (c.op == VOLT_REDUCE_AVG && !volt_dtype_is_float(c.dtype)) continue;
                    suite_allreduce(comm, c, nonblocking);
                    suite_reduce_scatter(comm, c, nonblocking);
                }
            }
            c.reduces = 0;
            for (size_t t = 0; t < LENGTH(ALL_DTYPES); t++) {
                c.dtype = ALL_DTYPES[t];
                suite_allgather(comm, c, nonblocking, 0);
                suite_allgather(comm, c, nonblocking, 1);
                suite_broadcast(comm, c, nonblocking);
            }
        }
    }
}

static volt_comm *world_comm(void) {
    volt_comm *world = NULL;
    VOLT_EXPECT_OK(volt_comm_create(MPI_COMM_WORLD, &world));
    return world;
}

/* ---- tests ------------------------------------------------------------------------------- */

VOLT_TEST(comm_create_rank_size) {
    volt_comm *world = world_comm();
    if (!world) return;
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    VOLT_EXPECT_EQ_INT(volt_comm_rank(world), rank);
    VOLT_EXPECT_EQ_INT(volt_comm_size(world), size);
    /* a private communicator: congruent with the world, not the world itself */
    int relation = MPI_UNEQUAL;
    MPI_Comm_compare(volt_comm_mpi(world), MPI_COMM_WORLD, &relation);
    VOLT_EXPECT_EQ_INT(relation, MPI_CONGRUENT);
    volt_comm_destroy(world);
    volt_comm_destroy(NULL);
}

VOLT_TEST(comm_collectives_every_dtype_op_and_count) {
    volt_comm *world = world_comm();
    if (!world) return;
    run_suite(world);
    volt_comm_destroy(world);
}

/* The same suite with no MPI call carrying more than 7 elements in all: 1009 elements go
 * in 145 pieces (all-reduce, broadcast), reduce-scatter of 7 * size elements and more
 * goes rank by rank, all-gather in pieces of 7 / size elements of every block. This is
 * the code that serves counts above INT_MAX / 2. */
VOLT_TEST(comm_collectives_in_pieces) {
    VOLT_EXPECT_EQ_INT(setenv("VOLT_COMM_PIECE_ELEMENTS", "7", 1), 0);
    volt_comm *world = world_comm();
    unsetenv("VOLT_COMM_PIECE_ELEMENTS");
    if (!world) return;
    run_suite(world);
    volt_comm_destroy(world);
}

VOLT_TEST(comm_piece_size_must_be_valid) {
    const char *bad[] = {"0", "-3", "seven", "4294967296"};
    for (size_t k = 0; k < LENGTH(bad); k++) {
        VOLT_EXPECT_EQ_INT(setenv("VOLT_COMM_PIECE_ELEMENTS", bad[k], 1), 0);
        volt_comm *world = NULL;
        int status = volt_comm_create(MPI_COMM_WORLD, &world);
        VOLT_EXPECT_EQ_INT(status, VOLT_ERR_CONFIG);
        VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "VOLT_COMM_PIECE_ELEMENTS");
        VOLT_EXPECT(world == NULL);
        volt_error_clear();
    }
    unsetenv("VOLT_COMM_PIECE_ELEMENTS");
}

/* count 0 needs no buffer at all, and a non-blocking call still returns a request. */
VOLT_TEST(comm_count_zero_without_buffers) {
    volt_comm *world = world_comm();
    if (!world) return;
    volt_request *request = NULL;
    VOLT_EXPECT_OK(volt_comm_allreduce(world, NULL, 0, VOLT_F32, VOLT_REDUCE_AVG, NULL));
    VOLT_EXPECT_OK(volt_comm_reduce_scatter(world, NULL, NULL, 0, VOLT_F64, VOLT_REDUCE_SUM,
                                            NULL));
    VOLT_EXPECT_OK(volt_comm_allgather(world, NULL, NULL, 0, VOLT_I64, NULL));
    VOLT_EXPECT_OK(volt_comm_broadcast(world, NULL, 0, VOLT_I32, 0, NULL));
    VOLT_EXPECT_OK(volt_comm_allreduce(world, NULL, 0, VOLT_I32, VOLT_REDUCE_MAX, &request));
    VOLT_EXPECT(request != NULL);
    VOLT_EXPECT_OK(volt_comm_wait(request));
    VOLT_EXPECT_OK(volt_comm_allgather(world, NULL, NULL, 0, VOLT_F32, &request));
    VOLT_EXPECT(request != NULL);
    int done = 0;
    VOLT_EXPECT_OK(volt_comm_test(request, &done));
    VOLT_EXPECT_EQ_INT(done, 1);
    VOLT_EXPECT_OK(volt_comm_wait(request));
    volt_comm_destroy(world);
}

/* Several requests in flight at once, waited for in another order (DDP's buckets). */
VOLT_TEST(comm_requests_in_flight_together) {
    volt_comm *world = world_comm();
    if (!world) return;
    enum { BUCKETS = 4, COUNT = 301 };
    suite_case c = {.dtype = VOLT_F32, .op = VOLT_REDUCE_AVG, .reduces = 1, .rank = volt_comm_rank(world),
                    .size = volt_comm_size(world), .count = COUNT};
    float *bucket[BUCKETS];
    volt_request *request[BUCKETS] = {NULL};
    for (int b = 0; b < BUCKETS; b++) {
        bucket[b] = malloc(COUNT * sizeof(float));
        for (size_t i = 0; i < COUNT; i++) bucket[b][i] = (float)value(VOLT_F32, c.rank, i);
        VOLT_EXPECT_OK(volt_comm_allreduce(world, bucket[b], COUNT, VOLT_F32, VOLT_REDUCE_AVG,
                                           &request[b]));
    }
    for (int b = BUCKETS - 1; b >= 0; b--) {
        VOLT_EXPECT_OK(volt_comm_wait(request[b]));
        CHECK_BUFFER("bucket", bucket[b], VOLT_F32, COUNT, want_allreduce, &c);
        free(bucket[b]);
    }
    volt_comm_destroy(world);
}

VOLT_TEST(comm_barrier) {
    volt_comm *world = world_comm();
    if (!world) return;
    VOLT_EXPECT_OK(volt_comm_barrier(world, NULL));
    volt_request *request = NULL;
    VOLT_EXPECT_OK(volt_comm_barrier(world, &request));
    finish(request, 1, "barrier");
    VOLT_EXPECT_OK(volt_comm_barrier(world, &request));
    finish(request, 0, "barrier");
    /* a NULL request is done */
    int done = 0;
    VOLT_EXPECT_OK(volt_comm_test(NULL, &done));
    VOLT_EXPECT_EQ_INT(done, 1);
    VOLT_EXPECT_OK(volt_comm_wait(NULL));
    volt_comm_destroy(world);
}

/* Even and odd ranks form two groups; key -rank reverses the order inside a group. */
VOLT_TEST(comm_split_even_odd) {
    volt_comm *world = world_comm();
    if (!world) return;
    const int rank = volt_comm_rank(world), size = volt_comm_size(world);
    const int parity = rank % 2, group_size = (size + 1 - parity) / 2;
    for (int reversed = 0; reversed <= 1; reversed++) {
        volt_comm *group = NULL;
        VOLT_EXPECT_OK(volt_comm_split(world, parity, reversed ? -rank : rank, &group));
        if (!group) continue;
        VOLT_EXPECT_EQ_INT(volt_comm_size(group), group_size);
        const int group_rank = reversed ? group_size - 1 - rank / 2 : rank / 2;
        VOLT_EXPECT_EQ_INT(volt_comm_rank(group), group_rank);
        /* the sum of the world ranks in the group */
        int64_t sum = rank, want = 0;
        for (int r = parity; r < size; r += 2) want += r;
        VOLT_EXPECT_OK(volt_comm_allreduce(group, &sum, 1, VOLT_I64, VOLT_REDUCE_SUM, NULL));
        VOLT_EXPECT_EQ_INT(sum, want);
        /* who is where: group rank g holds world rank parity + 2 * g (or reversed) */
        int32_t *ranks = malloc((size_t)group_size * sizeof *ranks);
        int32_t mine = rank;
        volt_request *request = NULL;
        VOLT_EXPECT_OK(volt_comm_allgather(group, &mine, ranks, 1, VOLT_I32, &request));
        VOLT_EXPECT_OK(volt_comm_wait(request));
        for (int g = 0; g < group_size; g++) {
            int world_rank = parity + 2 * (reversed ? group_size - 1 - g : g);
            VOLT_EXPECT_EQ_INT(ranks[g], world_rank);
        }
        free(ranks);
        /* the whole suite inside the group, on a prime count */
        suite_case c = {.dtype = VOLT_F64, .op = VOLT_REDUCE_MAX, .reduces = 1, .rank = group_rank,
                        .size = group_size, .count = 1009};
        suite_allreduce(group, c, 1);
        suite_reduce_scatter(group, c, 0);
        c.op = VOLT_REDUCE_AVG;
        suite_reduce_scatter(group, c, 1);
        suite_allgather(group, c, 0, 1);
        suite_broadcast(group, c, 1);
        VOLT_EXPECT_OK(volt_comm_barrier(group, NULL));
        volt_comm_destroy(group);
    }
    volt_comm_destroy(world);
}

/* MPI_UNDEFINED leaves a rank out: it gets no group. */
VOLT_TEST(comm_split_undefined_color) {
    volt_comm *world = world_comm();
    if (!world) return;
    const int rank = volt_comm_rank(world), size = volt_comm_size(world);
    volt_comm *group = NULL;
    VOLT_EXPECT_OK(volt_comm_split(world, rank == 0 ? MPI_UNDEFINED : 1, rank, &group));
    if (rank == 0) {
        VOLT_EXPECT(group == NULL);
    } else if (group) {
        VOLT_EXPECT_EQ_INT(volt_comm_size(group), size - 1);
        VOLT_EXPECT_EQ_INT(volt_comm_rank(group), rank - 1);
        volt_comm_destroy(group);
    }
    VOLT_EXPECT_FAIL(volt_comm_split(world, -5, 0, &group), VOLT_ERR_ARG);
    volt_comm_destroy(world);
}

/* FNV-1a of the host name: ranks on one node share it. */
static int64_t node_hash(void) {
    char name[MPI_MAX_PROCESSOR_NAME] = "";
    int length = 0;
    MPI_Get_processor_name(name, &length);
    uint64_t hash = 14695981039346656037ull;
    for (int i = 0; i < length; i++) hash = (hash ^ (unsigned char)name[i]) * 1099511628211ull;
    return (int64_t)(hash >> 1);
}

VOLT_TEST(comm_split_node) {
    volt_comm *world = world_comm();
    if (!world) return;
    const int size = volt_comm_size(world);
    volt_comm *node = NULL;
    VOLT_EXPECT_OK(volt_comm_split_node(world, &node));
    if (!node) {
        volt_comm_destroy(world);
        return;
    }
    /* the node group holds exactly the world ranks with this host name */
    int64_t mine = node_hash();
    int64_t *hashes = malloc((size_t)size * sizeof *hashes);
    VOLT_EXPECT_OK(volt_comm_allgather(world, &mine, hashes, 1, VOLT_I64, NULL));
    int same_host = 0;
    for (int r = 0; r < size; r++) same_host += hashes[r] == mine;
    free(hashes);
    VOLT_EXPECT_EQ_INT(volt_comm_size(node), same_host);
    int32_t one = 1;
    VOLT_EXPECT_OK(volt_comm_allreduce(node, &one, 1, VOLT_I32, VOLT_REDUCE_SUM, NULL));
    VOLT_EXPECT_EQ_INT(one, same_host);
    volt_comm_destroy(node);
    volt_comm_destroy(world);
}

/* The whole stack of this rank, as volt_error_print writes it. */
static char *stack_text(void) {
    char *text = NULL;
    size_t length = 0;
    FILE *out = open_memstream(&text, &length);
    if (!out) return NULL;
    volt_error_print(out);
    fclose(out);
    return text;
}

VOLT_TEST(comm_agree_all_ok) {
    volt_comm *world = world_comm();
    if (!world) return;
    VOLT_EXPECT_OK(volt_comm_agree(world, VOLT_OK));
    VOLT_EXPECT_EQ_INT(volt_error_depth(), 0);
    volt_comm_destroy(world);
}

/* The last rank fails with a message: every rank returns its status and message. */
VOLT_TEST(comm_agree_one_rank_fails) {
    volt_comm *world = world_comm();
    if (!world) return;
    const int rank = volt_comm_rank(world), size = volt_comm_size(world);
    int local = VOLT_OK;
    if (rank == size - 1)
        local = VOLT_ERROR(VOLT_ERR_IO, "cannot open /data/missing.h5: No such file");
    int status = volt_comm_agree(world, local);
    VOLT_EXPECT_EQ_INT(status, VOLT_ERR_IO);
    char want[128];
    snprintf(want, sizeof want, "rank %d: cannot open /data/missing.h5: No such file",
             size - 1);
    if (rank != size - 1) {
        VOLT_EXPECT_EQ_INT(volt_error_status(), VOLT_ERR_IO);
        VOLT_EXPECT(strcmp(volt_error_message(), want) == 0);
        if (strcmp(volt_error_message(), want) != 0)
            fprintf(stderr, "  message \"%s\", expected \"%s\"\n", volt_error_message(), want);
    } else {
        /* the failing rank keeps its own frame underneath */
        VOLT_EXPECT(strcmp(volt_error_message(), "cannot open /data/missing.h5: No such file")
                    == 0);
    }
    char *text = stack_text();
    VOLT_EXPECT_STR_CONTAINS(text, want);
    free(text);
    volt_error_clear();
    /* the communicator still works after a failed agreement */
    VOLT_EXPECT_OK(volt_comm_agree(world, VOLT_OK));
    volt_comm_destroy(world);
}

/* Ranks size/2 .. size-1 fail, with different statuses: every rank reports the lowest
 * failing rank's status and message. */
VOLT_TEST(comm_agree_lowest_failing_rank_wins) {
    volt_comm *world = world_comm();
    if (!world) return;
    const int rank = volt_comm_rank(world), size = volt_comm_size(world);
    const int lowest = size / 2;
    const int lowest_status = lowest % 2 == 0 ? VOLT_ERR_CONFIG : VOLT_ERR_SHAPE;
    int local = VOLT_OK;
    if (rank >= lowest)
        local = VOLT_ERROR(rank % 2 == 0 ? VOLT_ERR_CONFIG : VOLT_ERR_SHAPE,
                           "failure number %d", rank);
    VOLT_EXPECT_EQ_INT(volt_comm_agree(world, local), lowest_status);
    char want[64];
    snprintf(want, sizeof want, "rank %d: failure number %d", lowest, lowest);
    char *text = stack_text();
    VOLT_EXPECT_STR_CONTAINS(text, want);
    free(text);
    if (rank < lowest) VOLT_EXPECT_STR_CONTAINS(volt_error_message(), want);
    volt_error_clear();
    volt_comm_destroy(world);
}

/* A failure with nothing on the stack still travels, with its status named. */
VOLT_TEST(comm_agree_failure_without_message) {
    volt_comm *world = world_comm();
    if (!world) return;
    const int rank = volt_comm_rank(world);
    VOLT_EXPECT_EQ_INT(volt_comm_agree(world, rank == 0 ? VOLT_ERR_NUMERIC : VOLT_OK),
                       VOLT_ERR_NUMERIC);
    char *text = stack_text();
    VOLT_EXPECT_STR_CONTAINS(text, "rank 0: failed with VOLT_ERR_NUMERIC (no message)");
    free(text);
    volt_error_clear();
    volt_comm_destroy(world);
}

VOLT_TEST(comm_average_of_integers_is_an_error) {
    volt_comm *world = world_comm();
    if (!world) return;
    const size_t size = (size_t)volt_comm_size(world);
    int64_t buf[4] = {1, 2, 3, 4}, send[16] = {0}, recv[4];
    const volt_dtype types[] = {VOLT_I32, VOLT_I64};
    for (size_t t = 0; t < 2; t++) {
        volt_request *request = (volt_request *)buf; /* must come back NULL */
        VOLT_EXPECT_FAIL(volt_comm_allreduce(world, buf, 2, types[t], VOLT_REDUCE_AVG, NULL),
                         VOLT_ERR_ARG);
        int status = volt_comm_allreduce(world, buf, 2, types[t], VOLT_REDUCE_AVG, &request);
        VOLT_EXPECT_EQ_INT(status, VOLT_ERR_ARG);
        VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "average");
        volt_error_clear();
        VOLT_EXPECT(request == NULL);
        VOLT_EXPECT_FAIL(volt_comm_reduce_scatter(world, send, recv, 4 / size ? 4 / size : 1,
                                                  types[t], VOLT_REDUCE_AVG, NULL),
                         VOLT_ERR_ARG);
    }
    VOLT_EXPECT(buf[0] == 1 && buf[3] == 4);
    volt_comm_destroy(world);
}

VOLT_TEST(comm_half_precision_reductions_on_host_are_unsupported) {
    volt_comm *world = world_comm();
    if (!world) return;
    uint16_t buf[8] = {0}, recv[8];
    const volt_dtype types[] = {VOLT_BF16, VOLT_F16};
    for (size_t t = 0; t < 2; t++) {
        int status = volt_comm_allreduce(world, buf, 8, types[t], VOLT_REDUCE_SUM, NULL);
        VOLT_EXPECT_EQ_INT(status, VOLT_ERR_UNSUPPORTED);
        VOLT_EXPECT_STR_CONTAINS(volt_error_message(), volt_dtype_name(types[t]));
        volt_error_clear();
        volt_request *request = NULL;
        VOLT_EXPECT_FAIL(volt_comm_allreduce(world, buf, 8, types[t], VOLT_REDUCE_MAX, &request),
                         VOLT_ERR_UNSUPPORTED);
        VOLT_EXPECT(request == NULL);
        if (volt_comm_size(world) <= 8)
            VOLT_EXPECT_FAIL(volt_comm_reduce_scatter(world, buf, recv, 1, types[t],
                                                      VOLT_REDUCE_SUM, NULL),
                             VOLT_ERR_UNSUPPORTED);
    }
    volt_comm_destroy(world);
}

VOLT_TEST(comm_rejects_bad_arguments) {
    volt_comm *world = world_comm();
    if (!world) return;
    const int size = volt_comm_size(world);
    float buf[16] = {0};
    float *gathered = calloc((size_t)size * 4, sizeof *gathered);
    VOLT_EXPECT_FAIL(volt_comm_broadcast(world, buf, 4, VOLT_F32, size, NULL), VOLT_ERR_ARG);
    VOLT_EXPECT_FAIL(volt_comm_broadcast(world, buf, 4, VOLT_F32, -1, NULL), VOLT_ERR_ARG);
    VOLT_EXPECT_FAIL(volt_comm_allreduce(world, NULL, 4, VOLT_F32, VOLT_REDUCE_SUM, NULL),
                     VOLT_ERR_ARG);
    VOLT_EXPECT_FAIL(volt_comm_allreduce(world, buf, 4, VOLT_DTYPE_COUNT, VOLT_REDUCE_SUM, NULL),
                     VOLT_ERR_ARG);
    VOLT_EXPECT_FAIL(volt_comm_allreduce(world, buf, 4, VOLT_F32, (volt_reduce)9, NULL),
                     VOLT_ERR_ARG);
    /* all-gather: overlapping, but not at recv + rank * count */
    const float *off_by_one = gathered + 1;
    VOLT_EXPECT_FAIL(volt_comm_allgather(world, off_by_one, gathered, 2, VOLT_F32, NULL),
                     VOLT_ERR_ARG);
    /* reduce-scatter: recv inside send */
    VOLT_EXPECT_FAIL(volt_comm_reduce_scatter(world, gathered, gathered, 1, VOLT_F32,
                                              VOLT_REDUCE_SUM, NULL),
                     VOLT_ERR_ARG);
    VOLT_EXPECT_FAIL(volt_comm_create(MPI_COMM_NULL, NULL), VOLT_ERR_ARG);
    free(gathered);
    volt_comm_destroy(world);
}

/* Without NCCL in the build: unsupported. With it: every rank succeeds, or every rank
 * fails with the same status (no GPU, or fewer GPUs than ranks) — none waits. With a GPU
 * per rank the collectives run on device buffers. */
VOLT_TEST(comm_enable_nccl) {
    volt_comm *world = world_comm();
    if (!world) return;
    const int rank = volt_comm_rank(world), size = volt_comm_size(world);
#ifndef VOLT_HAVE_NCCL
    VOLT_EXPECT_FAIL(volt_comm_enable_nccl(world, 0), VOLT_ERR_UNSUPPORTED);
    (void)rank;
    (void)size;
#else
    int status = volt_comm_enable_nccl(world, rank);
    int statuses[2] = {status, -status};
    MPI_Allreduce(MPI_IN_PLACE, statuses, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    VOLT_EXPECT_EQ_INT(statuses[0], -statuses[1]); /* the same status everywhere */
    volt_error_clear();
    if (status == VOLT_OK) {
        enum { COUNT = 1009 };
        suite_case c = {.dtype = VOLT_F32, .op = VOLT_REDUCE_AVG, .reduces = 1, .rank = rank, .size = size,
                        .count = COUNT};
        float host[COUNT], *device_buf = NULL;
        for (size_t i = 0; i < COUNT; i++) host[i] = (float)value(VOLT_F32, rank, i);
        VOLT_EXPECT(cudaMalloc((void **)&device_buf, sizeof host) == cudaSuccess);
        VOLT_EXPECT(cudaMemcpy(device_buf, host, sizeof host, cudaMemcpyHostToDevice) ==
                    cudaSuccess);
        volt_request *request = NULL;
        VOLT_EXPECT_OK(volt_comm_allreduce(world, device_buf, COUNT, VOLT_F32, VOLT_REDUCE_AVG,
                                           &request));
        finish(request, 1, "nccl allreduce");
        VOLT_EXPECT(cudaMemcpy(host, device_buf, sizeof host, cudaMemcpyDeviceToHost) ==
                    cudaSuccess);
        /* NCCL's average may divide before summing: compare to a rounding */
        for (size_t i = 0; i < COUNT; i++)
            if (fabs(host[i] - want_allreduce(&c, i)) > 1e-5 * (1 + fabs(host[i]))) {
                volt_test_fail(__FILE__, __LINE__, "nccl allreduce: element %zu is %g, "
                               "expected %g", i, host[i], want_allreduce(&c, i));
                break;
            }
        cudaFree(device_buf);
    }
#endif
    volt_comm_destroy(world);
}
