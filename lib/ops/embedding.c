/* lib/ops/embedding.c — row lookup: y[s, :] = weight[indices[s], :] for every position s
 * of the indices; dweight[indices[s], :] += dy[s, :] (a scatter-add: a row used twice
 * gets both gradients). The indices get no gradient. */
#include <string.h>

#include "ops/op_util.h"

#define EMBEDDING_KERNELS(T, S)                                                        \
    static void embedding_forward_##S(const T *restrict weight, const int64_t *restrict rows, \
                                      T *restrict y, size_t n, long C) {               \
        for (size_t i = 0; i < n; i++) {                                               \
            const T *restrict src = weight + rows[i] * C;                              \
            T *restrict dst = y + (long)i * C;                                         \
            for (long c = 0; c < C; c++) dst[c] = src[c];                              \
        }                                                                              \
    }                                                                                  \
    static void embedding_backward_##S(const int64_t *restrict rows, const T *restrict dy, \
                                       T *restrict dweight, size_t n, long C) {        \
        for (size_t i = 0; i < n; i++) {                                               \
            T *restrict dst = dweight + rows[i] * C;                                   \
            const T *restrict src = dy + (long)i * C;                                  \
            for (long c = 0; c < C; c++) dst[c] += src[c];                             \
        }                                                                              \
    }
EMBEDDING_KERNELS(float, f32)
EMBEDDING_KERNELS(double, f64)

/* Writes "[1, 0]", the position of flat element i in row-major order of t's shape. */
static const char *position_string(const volt_tensor *t, size_t i, char *buf, size_t size) {
    long pos[VOLT_MAX_DIMS];
    for (int d = t->ndim - 1; d >= 0; d--) {
        pos[d] = (long)(i % (size_t)t->shape[d]);
        i /= (size_t)t->shape[d];
    }
    size_t n = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < t->ndim && n < size; d++)
        n += (size_t)snprintf(buf + n, size - n, d ? ", %ld" : "%ld", pos[d]);
    if (n < size) snprintf(buf + n, size - n, "]");
    return buf;
}

/* Reads the indices (i32 or i64, any strides) into rows[], in row-major order of their
 * shape. Returns the first position whose value is outside [0, V) (that value in *bad),
 * or n if none. */
static size_t gather_rows(const volt_tensor *indices, long V, int64_t *rows, size_t n,
                          int64_t *bad) {
    long pos[VOLT_MAX_DIMS] = {0};
    long offset = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t v = indices->dtype == VOLT_I32 ? ((const int32_t *)indices->data)[offset]
                                               : ((const int64_t *)indices->data)[offset];
        if (v < 0 || v >= V) {
            *bad = v;
            return i;
        }
        rows[i] = v;
        for (int d = indices->ndim - 1; d >= 0; d--) { /* next position, odometer style */
            offset += indices->strides[d];
            if (++pos[d] < indices->shape[d]) break;
            offset -= pos[d] * indices->strides[d];
            pos[d] = 0;
        }
    }
    return n;
}

static int embedding_backward(volt_graph *graph, volt_node *node) {
    volt_tensor *weight = node->inputs[0];
    volt_tensor *dweight = volt_grad_of(graph, weight);
    VOLT_CHECK_PTR(dweight);
    const int64_t *rows = node->extra;
    size_t n = (size_t)node->integers[0];
    long C = weight->shape[1];
    if (weight->dtype == VOLT_F64)
        embedding_backward_f64(rows, node->output->grad->data, dweight->data, n, C);
    else
        embedding_backward_f32(rows, node->output->grad->data, dweight->data, n, C);
    return VOLT_OK;
}

volt_tensor *volt_embedding_fn(volt_tensor *weight, volt_tensor *indices) {
    VOLT_OP_INPUTS(weight, indices);
    if (!volt_op_check_float("embedding", weight)) return NULL;
    char dw[96], di[96];
    VOLT_OP_REQUIRE((indices->dtype == VOLT_I32 || indices->dtype == VOLT_I64) &&
                        indices->device.type == VOLT_DEVICE_CPU,
                    VOLT_ERR_SHAPE, "embedding: indices must be i32 or i64 on the cpu, not %s",
                    volt_tensor_describe(indices, di, sizeof di));
    VOLT_OP_REQUIRE(weight->ndim == 2 && indices->ndim + 1 <= VOLT_MAX_DIMS, VOLT_ERR_SHAPE,
                    "embedding: weight %s, indices %s do not fit (expected weight [V, C] and "
                    "indices of at most %d dimensions)",
                    volt_tensor_describe(weight, dw, sizeof dw),
                    volt_tensor_describe(indices, di, sizeof di), VOLT_MAX_DIMS - 1);
    volt_tensor *inputs[2] = {weight, indices};
    volt_graph *graph = volt_op_graph("embedding", inputs, 2);
    if (!graph) return NULL;
    weight = volt_contiguous(weight);
    if (!weight) return NULL;
    long V = weight->shape[0], C = weight->shape[1];
    size_t n = volt_tensor_numel(indices);
    int64_t *rows = volt_graph_alloc(graph, (n ? n : 1) * sizeof *rows);
    VOLT_OP_REQUIRE(rows, VOLT_ERR_NOMEM, "embedding: out of memory for %zu indices", n);
    int64_t bad_value = 0;
    size_t bad = gather_rows(indices, V, rows, n, &bad_value);
    if (bad < n) {
        char where[64];
        VOLT_ERROR(VOLT_ERR_ARG,
                   "embedding: index %lld at position %s of indices %s is out of range "
                   "[0, %ld) for weight %s",
                   (long long)bad_value, position_string(indices, bad, where, sizeof where),
                   volt_tensor_describe(indices, di, sizeof di), V,
                   volt_tensor_describe(weight, dw, sizeof dw));
        return NULL;
    }
    long shape[VOLT_MAX_DIMS];
    memcpy(shape, indices->shape, sizeof shape);
    shape[indices->ndim] = C;
    volt_tensor *y = volt_graph_tensor(graph, weight->dtype, indices->ndim + 1, shape);
    VOLT_OP_REQUIRE(y, VOLT_ERR_NOMEM, "embedding: out of memory for the output");
    if (weight->dtype == VOLT_F64) embedding_forward_f64(weight->data, rows, y->data, n, C);
    else embedding_forward_f32(weight->data, rows, y->data, n, C);
    if (volt_graph_needs_grad(graph, &weight, 1)) {
        inputs[0] = weight;
        volt_node *node = volt_graph_record(graph, "embedding", embedding_backward, y, inputs, 2);
        if (!node) return NULL;
        node->extra = rows;
        node->integers[0] = (long)n;
        node->flops = 0; /* a copy */
    }
    return y;
}
