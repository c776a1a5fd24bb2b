/* lib/dist/hierarchical.c — the two-level all-reduce (contract in the header). */
#include "dist/hierarchical.h"

#include <float.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct volt_hier {
    volt_comm *comm;  /* the whole group (not owned) */
    volt_comm *node;  /* this rank's node (owned) */
    volt_comm *cross; /* the ranks of the same local rank on every node (owned) */
    int active, nodes, per_node;
    void *scratch; /* per_node * chunk elements, grown as needed */
    size_t scratch_bytes;
};

int volt_hier_create(volt_comm *comm, volt_comm *node, volt_hier **out) {
    VOLT_CHECK_ARG(comm && out);
    *out = NULL;
    volt_hier *h = calloc(1, sizeof *h);
    VOLT_CHECK_ALLOC(h, sizeof *h);
    h->comm = comm;
    int status = node ? volt_comm_split(node, 0, volt_comm_rank(node), &h->node)
                      : volt_comm_split_node(comm, &h->node);
    int local = 0, per_node[2] = {0, 0};
    if (status == VOLT_OK) {
        local = volt_comm_rank(h->node);
        per_node[0] = per_node[1] = volt_comm_size(h->node);
        /* the same number of ranks on every node: min == max */
        per_node[1] = -per_node[1];
        status = volt_comm_allreduce(comm, per_node, 2, VOLT_I32, VOLT_REDUCE_MIN, NULL);
    }
    if (status == VOLT_OK) status = volt_comm_split(comm, local, volt_comm_rank(comm), &h->cross);
    if (status != VOLT_OK) {
        volt_hier_destroy(h);
        return VOLT_ERROR(status, "hierarchical all-reduce: cannot build the node groups");
    }
    volt_comm_set_name(h->node, "hier.node");
    volt_comm_set_name(h->cross, "hier.cross");
    int uniform = per_node[0] == -per_node[1];
    h->per_node = uniform ? per_node[0] : 0;
    h->nodes =
        uniform && h->per_node > 0 ? volt_comm_size(comm) / h->per_node : volt_comm_size(h->cross);
    h->active = uniform && h->nodes > 1 && h->per_node > 1;
    *out = h;
    return VOLT_OK;
}

void volt_hier_destroy(volt_hier *hier) {
    if (!hier) return;
    volt_comm_destroy(hier->cross);
    volt_comm_destroy(hier->node);
    free(hier->scratch);
    free(hier);
}

int volt_hier_active(const volt_hier *hier) { return hier && hier->active; }

void volt_hier_disable(volt_hier *hier) {
    if (hier) hier->active = 0;
}

void volt_hier_layout(const volt_hier *hier, int *nodes, int *ranks_per_node) {
    if (nodes) *nodes = hier ? hier->nodes : 0;
    if (ranks_per_node) *ranks_per_node = hier ? hier->per_node : 0;
}

/* count elements of the identity of op (sum: 0, max: lowest, min: highest) */
static void fill_identity(void *buf, size_t count, volt_dtype dtype, volt_reduce op) {
    for (size_t i = 0; i < count; i++) {
        switch (dtype) {
        case VOLT_F32:
            ((float *)buf)[i] = op == VOLT_REDUCE_MAX   ? -FLT_MAX
                                : op == VOLT_REDUCE_MIN ? FLT_MAX
                                                        : 0;
            break;
        case VOLT_F64:
            ((double *)buf)[i] = op == VOLT_REDUCE_MAX   ? -DBL_MAX
                                 : op == VOLT_REDUCE_MIN ? DBL_MAX
                                                         : 0;
            break;
        case VOLT_I32:
            ((int32_t *)buf)[i] = op == VOLT_REDUCE_MAX   ? INT32_MIN
                                  : op == VOLT_REDUCE_MIN ? INT32_MAX
                                                          : 0;
            break;
        case VOLT_I64:
            ((int64_t *)buf)[i] = op == VOLT_REDUCE_MAX   ? INT64_MIN
                                  : op == VOLT_REDUCE_MIN ? INT64_MAX
                                                          : 0;
            break;
        default:
            break;
        }
    }
}

/* buf /= size, for the average */
static void divide(void *buf, size_t count, volt_dtype dtype, int size) {
    for (size_t i = 0; i < count; i++) {
        switch (dtype) {
        case VOLT_F32:
            ((float *)buf)[i] /= (float)size;
            break;
        case VOLT_F64:
            ((double *)buf)[i] /= (double)size;
            break;
        case VOLT_I32:
            ((int32_t *)buf)[i] /= size;
            break;
        case VOLT_I64:
            ((int64_t *)buf)[i] /= size;
            break;
        default:
            break;
        }
    }
}

int volt_hier_allreduce(volt_hier *hier, void *buf, size_t count, volt_dtype dtype,
                        volt_reduce op) {
    VOLT_CHECK_ARG(hier && (buf || count == 0));
    /* inactive, or an average of integers, which the communicator refuses with its reason */
    if (!hier->active || (op == VOLT_REDUCE_AVG && dtype != VOLT_F32 && dtype != VOLT_F64))
        return volt_comm_allreduce(hier->comm, buf, count, dtype, op, NULL);
    if (dtype != VOLT_F32 && dtype != VOLT_F64 && dtype != VOLT_I32 && dtype != VOLT_I64)
        return VOLT_ERROR(VOLT_ERR_ARG, "hierarchical all-reduce: %s is not reduced",
                          volt_dtype_name(dtype));
    const size_t element = volt_dtype_size(dtype), parts = (size_t)hier->per_node;
    const size_t chunk = (count + parts - 1) / parts;
    const volt_reduce level_op = op == VOLT_REDUCE_AVG ? VOLT_REDUCE_SUM : op;
    /* scratch: the padded buffer (parts * chunk), then this rank's part (chunk) */
    size_t needed = (parts + 1) * chunk * element;
    if (needed > hier->scratch_bytes) {
        void *grown = realloc(hier->scratch, needed);
        VOLT_CHECK_ALLOC(grown, needed);
        hier->scratch = grown;
        hier->scratch_bytes = needed;
    }
    char *padded = hier->scratch, *part = padded + parts * chunk * element;
    if (count) memcpy(padded, buf, count * element);
    fill_identity(padded + count * element, parts * chunk - count, dtype, level_op);
    VOLT_CHECK(volt_comm_reduce_scatter(hier->node, padded, part, chunk, dtype, level_op, NULL));
    VOLT_CHECK(volt_comm_allreduce(hier->cross, part, chunk, dtype, level_op, NULL));
    VOLT_CHECK(volt_comm_allgather(hier->node, part, padded, chunk, dtype, NULL));
    if (count) memcpy(buf, padded, count * element);
    if (op == VOLT_REDUCE_AVG) divide(buf, count, dtype, volt_comm_size(hier->comm));
    return VOLT_OK;
}
