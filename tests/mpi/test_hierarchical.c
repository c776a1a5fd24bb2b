/* tests/mpi/test_hierarchical.c — the two-level all-reduce against the flat one, at 1, 2
 * and 4 ranks.
 *
 * "Nodes" are made by splitting the world (the test machine is one node): pairs of ranks
 * (at 4 ranks: 2 nodes of 2, the hierarchical path), one rank per node and an uneven
 * split (both inactive: the flat path), and the real split by shared memory. Values are
 * small integers, so sums are exact in every dtype and the results must equal the flat
 * all-reduce's exactly, for every operation (an average of integers is refused by both),
 * at counts that the ranks per node do not divide (1, 7, 1009) and 0. */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/params.h"
#include "comm/comm.h"
#include "dist/ddp.h"
#include "dist/hierarchical.h"
#include "volt_test.h"

static const volt_dtype DTYPES[] = {VOLT_F32, VOLT_F64, VOLT_I32, VOLT_I64};
static const volt_reduce OPS[] = {VOLT_REDUCE_SUM, VOLT_REDUCE_AVG, VOLT_REDUCE_MAX,
                                  VOLT_REDUCE_MIN};
static const size_t COUNTS[] = {0, 1, 7, 8, 1009};
#define LENGTH(a) (sizeof(a) / sizeof((a)[0]))

static volt_comm *world(void) {
    static volt_comm *comm;
    if (!comm && volt_comm_create(MPI_COMM_WORLD, &comm) != VOLT_OK) abort();
    return comm;
}

static void put(void *buf, volt_dtype dtype, size_t i, long v) {
    switch (dtype) {
    case VOLT_F32:
        ((float *)buf)[i] = (float)v;
        break;
    case VOLT_F64:
        ((double *)buf)[i] = (double)v;
        break;
    case VOLT_I32:
        ((int32_t *)buf)[i] = (int32_t)v;
        break;
    default:
        ((int64_t *)buf)[i] = (int64_t)v;
        break;
    }
}

/* Every dtype, operation and count through hier and through the flat all-reduce. */
static void expect_same_as_flat(volt_hier *hier, const char *what) {
    const int rank = volt_comm_rank(world());
    for (size_t d = 0; d < LENGTH(DTYPES); d++)
        for (size_t o = 0; o < LENGTH(OPS); o++)
            for (size_t c = 0; c < LENGTH(COUNTS); c++) {
                const size_t count = COUNTS[c], bytes = (count ? count : 1) * 8;
                char *a = malloc(bytes), *b = malloc(bytes);
                for (size_t i = 0; i < count; i++) {
                    /* averages of 1, 2 or 4 ranks stay exact: multiples of 4 */
                    long v = 4 * (long)((i * 7 + (size_t)rank * 13) % 31) - 60;
                    put(a, DTYPES[d], i, v);
                    put(b, DTYPES[d], i, v);
                }
                int sa = volt_hier_allreduce(hier, a, count, DTYPES[d], OPS[o]);
                int sb = volt_comm_allreduce(world(), b, count, DTYPES[d], OPS[o], NULL);
                VOLT_EXPECT_EQ_INT(sa, sb); /* an average of integers: refused by both */
                if (sa != VOLT_OK) {
                    char errors[512];
                    volt_test_take_errors(errors, sizeof errors);
                    VOLT_EXPECT_STR_CONTAINS(errors, "average of i");
                }
                if (memcmp(a, b, count * volt_dtype_size(DTYPES[d])) != 0)
                    volt_test_fail(__FILE__, __LINE__,
                                   "%s: %s, op %zu, %zu elements: not the flat result", what,
                                   volt_dtype_name(DTYPES[d]), o, count);
                free(a);
                free(b);
            }
}

/* A hierarchical object over nodes given by color. */
static volt_hier *with_nodes(int color) {
    volt_comm *node;
    VOLT_EXPECT_OK(volt_comm_split(world(), color, volt_comm_rank(world()), &node));
    volt_hier *hier = NULL;
    VOLT_EXPECT_OK(volt_hier_create(world(), node, &hier));
    volt_comm_destroy(node);
    return hier;
}

VOLT_TEST(pairs_of_ranks_as_nodes) {
    const int size = volt_comm_size(world()), rank = volt_comm_rank(world());
    volt_hier *hier = with_nodes(rank / 2);
    int nodes = 0, per_node = 0;
    volt_hier_layout(hier, &nodes, &per_node);
    VOLT_EXPECT_EQ_INT(volt_hier_active(hier), size == 4);
    if (size >= 2) VOLT_EXPECT_EQ_INT(per_node, 2);
    VOLT_EXPECT_EQ_INT(nodes, (size + 1) / 2);
    expect_same_as_flat(hier, "2 ranks per node");
    volt_hier_destroy(hier);
}

VOLT_TEST(one_rank_per_node_is_the_flat_all_reduce) {
    volt_hier *hier = with_nodes(volt_comm_rank(world()));
    VOLT_EXPECT_EQ_INT(volt_hier_active(hier), 0);
    expect_same_as_flat(hier, "1 rank per node");
    volt_hier_destroy(hier);
}

VOLT_TEST(uneven_nodes_are_the_flat_all_reduce) {
    if (volt_comm_size(world()) < 4) return;
    volt_hier *hier = with_nodes(volt_comm_rank(world()) == 0 ? 0 : 1); /* 1 and 3 ranks */
    int per_node = -1;
    volt_hier_layout(hier, NULL, &per_node);
    VOLT_EXPECT_EQ_INT(volt_hier_active(hier), 0);
    VOLT_EXPECT_EQ_INT(per_node, 0);
    expect_same_as_flat(hier, "uneven nodes");
    volt_hier_destroy(hier);
}

/* The nodes MPI finds (shared memory): one here; under tests/cluster/vcluster,
 * VOLT_TEST_EXPECT_NODES says how many, and the two levels run over TCP between them. */
VOLT_TEST(nodes_found_by_shared_memory) {
    volt_hier *hier = NULL;
    VOLT_EXPECT_OK(volt_hier_create(world(), NULL, &hier));
    const char *expect = getenv("VOLT_TEST_EXPECT_NODES");
    int nodes = 0;
    volt_hier_layout(hier, &nodes, NULL);
    VOLT_EXPECT_EQ_INT(nodes, expect ? atoi(expect) : 1);
    VOLT_EXPECT_EQ_INT(volt_hier_active(hier),
                       expect && atoi(expect) > 1 && volt_comm_size(world()) > atoi(expect));
    expect_same_as_flat(hier, "the nodes MPI finds");
    volt_hier_destroy(hier);
}

/* DDP's buckets averaged through the two levels: the gradients every rank ends with are
 * the exact average (values whose sums are exact), with several buckets and a prime
 * count, whether or not the layout makes the hierarchical path active. */
VOLT_TEST(ddp_averages_through_the_two_levels) {
    const int size = volt_comm_size(world()), rank = volt_comm_rank(world());
    volt_params *params;
    VOLT_EXPECT_OK(volt_params_create(VOLT_F32, 5, &params));
    const long shapes[3][2] = {{13, 7}, {1009, 1}, {5, 3}};
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        VOLT_EXPECT_OK(volt_params_add(params, name, 2, shapes[i], NULL));
    }
    volt_ddp *ddp;
    VOLT_EXPECT_OK(volt_ddp_create(world(), params, 4096, &ddp)); /* several buckets */
    VOLT_EXPECT(volt_ddp_bucket_count(ddp) > 1);
    volt_hier *hier = with_nodes(rank / 2);
    volt_ddp_set_hierarchical(ddp, hier);
    float *grad = volt_params_grad(params);
    const size_t n = volt_params_flat_size(params);
    for (size_t i = 0; i < n; i++) grad[i] = (float)(4 * (long)((i * 5 + (size_t)rank * 3) % 17));
    VOLT_EXPECT_OK(volt_ddp_finish(ddp));
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++) {
        long sum = 0;
        for (int r = 0; r < size; r++) sum += 4 * (long)((i * 5 + (size_t)r * 3) % 17);
        wrong += grad[i] != (float)sum / (float)size;
    }
    VOLT_EXPECT_EQ_INT((long)wrong, 0);
    volt_ddp_destroy(ddp);
    volt_hier_destroy(hier);
    volt_params_destroy(params);
}
