/* lib/ops/reduce.c — sums and means.
 *
 *   sum:     y = sum_i x_i                (scalar)   dx_i = dy
 *   mean:    y = (1/n) sum_i x_i          (scalar)   dx_i = dy / n   (n = 0: y = NaN)
 *   sum_dim: x seen as [outer, D, inner] around dimension dim,
 *            y[o, i] = sum_d x[o, d, i]              dx[o, d, i] = dy[o, i]
 *            (dim removed, or kept with size 1 if keepdim).
 * Sums accumulate in double. */
#include "ops/op_util.h"

#define REDUCE_KERNELS(T, S)                                                           \
    static double sum_all_##S(const T *restrict x, size_t n) {                         \
        double s = 0;                                                                  \
        for (size_t i = 0; i < n; i++) s += (double)x[i];                              \
        return s;                                                                      \
    }                                                                                  \
    static void add_constant_##S(T value, T *restrict dx, size_t n) {                  \
        for (size_t i = 0; i < n; i++) dx[i] += value;                                 \
    }                                                                                  \
    /* acc: inner doubles of scratch */                                                \
    static void sum_dim_forward_##S(const T *restrict x, T *restrict y,                \
                                    double *restrict acc, size_t outer, size_t len,    \
                                    size_t inner) {                                    \
        for (size_t o = 0; o < outer; o++, x += len * inner, y += inner) {             \
            if (inner == 1) {                                                          \
                y[0] = (T)sum_all_##S(x, len);                                         \
                continue;                                                              \
            }                                                                          \
            for (size_t i = 0; i < inner; i++) acc[i] = 0;                             \
            for (size_t d = 0; d < len; d++)                                           \
                for (size_t i = 0; i < inner; i++) acc[i] += (double)x[d * inner + i]; \
            for (size_t i = 0; i < inner; i++) y[i] = (T)acc[i];                       \
        }                                                                              \
    }                                                                                  \
    static void sum_dim_backward_##S(const T *restrict dy, T *restrict dx, size_t outer, \
                                     size_t len, size_t inner) {                       \
        for (size_t o = 0; o < outer; o++, dy += inner)                                \
            for (size_t d = 0; d < len; d++, dx += inner)                              \
                for (size_t i = 0; i < inner; i++) dx[i] += dy[i];                     \
    }
REDUCE_KERNELS(float, f32)
REDUCE_KERNELS(double, f64)

/* --- sum, mean ---------------------------------------------------------------------------- */

static int sum_backward(volt_graph *graph, volt_node *node) {
    volt_tensor *x = node->inputs[0], *y = node->output;
    volt_tensor *dx = volt_grad_of(graph, x);
    VOLT_CHECK_PTR(dx);
    double value = volt_tensor_get_flat(y->grad, 0) * node->scalars[0];
    size_t n = volt_tensor_numel(x);
    if (x->dtype == VOLT_F64) add_constant_f64(value, dx->data, n);
    else add_constant_f32((float)value, dx->data, n);
    return VOLT_OK;
}

/* y = scale * sum(x): scale 1 (sum) or 1/n (mean) */
static volt_tensor *sum_op(const char *op, volt_tensor *x, int mean) {
    VOLT_OP_INPUTS(x);
    if (!volt_op_check_float(op, x)) return NULL;
    volt_graph *graph = volt_op_graph(op, &x, 1);
    if (!graph) return NULL;
    x = volt_contiguous(x);
    if (!x) return NULL;
    volt_tensor *y = volt_graph_tensor(graph, x->dtype, 0, NULL);
    VOLT_OP_REQUIRE(y, VOLT_ERR_NOMEM, "%s: out of memory for the output", op);
    size_t n = volt_tensor_numel(x);
    double scale = mean ? 1.0 / (double)n : 1.0;
    double total = x->dtype == VOLT_F64 ? sum_all_f64(x->data, n) : sum_all_f32(x->data, n);
    volt_tensor_set_flat(y, 0, mean ? total / (double)n : total);
    if (volt_graph_needs_grad(graph, &x, 1)) {
        volt_node *node = volt_graph_record(graph, op, sum_backward, y, &x, 1);
        if (!node) return NULL;
        node->scalars[0] = scale;
        node->flops = (double)n;
    }
    return y;
}

volt_tensor *volt_sum(volt_tensor *x) { return sum_op("sum", x, 0); }
volt_tensor *volt_mean(volt_tensor *x) { return sum_op("mean", x, 1); }

/* --- sum_dim ------------------------------------------------------------------------------ */

static void split_around(const volt_tensor *x, int dim, size_t *outer, size_t *len,
                         size_t *inner) {
    *outer = 1, *inner = 1;
    for (int d = 0; d < dim; d++) *outer *= (size_t)x->shape[d];
    for (int d = dim + 1; d < x->ndim; d++) *inner *= (size_t)x->shape[d];
    *len = (size_t)x->shape[dim];
}

static int sum_dim_backward(volt_graph *graph, volt_node *node) {
    volt_tensor *x = node->inputs[0], *y = node->output;
    volt_tensor *dx = volt_grad_of(graph, x);
    VOLT_CHECK_PTR(dx);
    size_t outer, len, inner;
    split_around(x, (int)node->integers[0], &outer, &len, &inner);
    if (x->dtype == VOLT_F64) sum_dim_backward_f64(y->grad->data, dx->data, outer, len, inner);
    else sum_dim_backward_f32(y->grad->data, dx->data, outer, len, inner);
    return VOLT_OK;
}

volt_tensor *volt_sum_dim(volt_tensor *x, int dim, int keepdim) {
    VOLT_OP_INPUTS(x);
    if (!volt_op_check_float("sum_dim", x)) return NULL;
    char d[96];
    int given = dim;
    if (dim < 0) dim += x->ndim;
    VOLT_OP_REQUIRE(dim >= 0 && dim < x->ndim, VOLT_ERR_SHAPE,
                    "sum_dim: dimension %d out of range for %s", given,
                    volt_tensor_describe(x, d, sizeof d));
    volt_graph *graph = volt_op_graph("sum_dim", &x, 1);
    if (!graph) return NULL;
    x = volt_contiguous(x);
    if (!x) return NULL;
    long shape[VOLT_MAX_DIMS];
    int ndim = 0;
    for (int k = 0; k < x->ndim; k++) {
        if (k != dim) shape[ndim++] = x->shape[k];
        else if (keepdim) shape[ndim++] = 1;
    }
    volt_tensor *y = volt_graph_tensor(graph, x->dtype, ndim, shape);
    size_t outer, len, inner;
    split_around(x, dim, &outer, &len, &inner);
    double *acc = volt_graph_alloc(graph, (inner ? inner : 1) * sizeof *acc);
    VOLT_OP_REQUIRE(y && acc, VOLT_ERR_NOMEM, "sum_dim: out of memory for the output");
    if (x->dtype == VOLT_F64) sum_dim_forward_f64(x->data, y->data, acc, outer, len, inner);
    else sum_dim_forward_f32(x->data, y->data, acc, outer, len, inner);
    if (volt_graph_needs_grad(graph, &x, 1)) {
        volt_node *node = volt_graph_record(graph, "sum_dim", sum_dim_backward, y, &x, 1);
        if (!node) return NULL;
        node->integers[0] = dim;
        node->flops = (double)(outer * len * inner);
    }
    return y;
}
