/* lib/ops/shape.c — views and copies: reshape, transpose, contiguous.
 * A view shares its input's data; its gradient is the input's gradient seen through the
 * same view, so backward of reshape adds dy (same element order) into dx, backward of
 * transpose adds dy with the two dimensions swapped back, and backward of contiguous
 * adds the dense dy into the strided positions it was copied from. */
#include <string.h>

#include "ops/op_util.h"

/* Copies a strided tensor's elements into a dense row-major buffer: one loop nest over
 * the shape padded to 4 dimensions, the innermost strided. */
#define STRIDED_KERNELS(T, S)                                                          \
    static void gather_##S(const volt_tensor *src, T *restrict dense) {                \
        long shape[VOLT_MAX_DIMS] = {1, 1, 1, 1}, stride[VOLT_MAX_DIMS] = {0, 0, 0, 0}; \
        int pad = VOLT_MAX_DIMS - src->ndim;                                           \
        for (int d = 0; d < src->ndim; d++) {                                          \
            shape[pad + d] = src->shape[d];                                            \
            stride[pad + d] = src->strides[d];                                         \
        }                                                                              \
        const T *base = src->data;                                                     \
        size_t k = 0;                                                                  \
        for (long a = 0; a < shape[0]; a++)                                            \
            for (long b = 0; b < shape[1]; b++)                                        \
                for (long c = 0; c < shape[2]; c++) {                                  \
                    const T *row = base + a * stride[0] + b * stride[1] + c * stride[2]; \
                    for (long e = 0; e < shape[3]; e++) dense[k++] = row[e * stride[3]]; \
                }                                                                      \
    }
STRIDED_KERNELS(float, f32)
STRIDED_KERNELS(double, f64)

/* dx += dy_view, element by element in row-major order of their common logical shape.
 * (Gradients are always dense in their tensor's logical shape.) */
static int add_into(volt_tensor *dx, const volt_tensor *dy_view) {
    size_t n = volt_tensor_numel(dx);
    if (dx->dtype == VOLT_F64) {
        double *out = dx->data;
        for (size_t i = 0; i < n; i++) out[i] += volt_tensor_get_flat(dy_view, i);
    } else {
        float *out = dx->data;
        for (size_t i = 0; i < n; i++) out[i] += (float)volt_tensor_get_flat(dy_view, i);
    }
    return VOLT_OK;
}

/* --- reshape ------------------------------------------------------------------------- */

static int reshape_backward(volt_graph *graph, volt_node *node) {
    volt_tensor *x = node->inputs[0];
    volt_tensor *dx = volt_grad_of(graph, x);
    VOLT_CHECK_PTR(dx);
    size_t n = volt_tensor_numel(x);
    const volt_tensor *dy = node->output->grad;
    if (x->dtype == VOLT_F64) {
        double *out = dx->data;
        const double *in = dy->data;
        for (size_t i = 0; i < n; i++) out[i] += in[i];
    } else {
        float *out = dx->data;
        const float *in = dy->data;
        for (size_t i = 0; i < n; i++) out[i] += in[i];
    }
    return VOLT_OK;
}

volt_tensor *volt_reshape(volt_tensor *x, int ndim, const long *shape) {
    VOLT_OP_INPUTS(x);
    char d[96];
    VOLT_OP_REQUIRE(ndim >= 0 && ndim <= VOLT_MAX_DIMS && (shape || ndim == 0), VOLT_ERR_SHAPE,
                    "reshape: %d dimensions requested (0 to %d allowed)", ndim, VOLT_MAX_DIMS);
    VOLT_OP_REQUIRE(volt_tensor_is_contiguous(x), VOLT_ERR_SHAPE,
                    "reshape: %s is not contiguous (call volt_contiguous first)",
                    volt_tensor_describe(x, d, sizeof d));
    volt_graph *graph = volt_op_graph("reshape", &x, 1);
    if (!graph) return NULL;
    long resolved[VOLT_MAX_DIMS];
    size_t known = 1;
    int free_dim = -1;
    for (int i = 0; i < ndim; i++) {
        resolved[i] = shape[i];
        if (shape[i] == -1) {
            VOLT_OP_REQUIRE(free_dim < 0, VOLT_ERR_SHAPE, "reshape: more than one -1 in the shape");
            free_dim = i;
        } else {
            VOLT_OP_REQUIRE(shape[i] >= 0, VOLT_ERR_SHAPE, "reshape: negative size %ld", shape[i]);
            known *= (size_t)shape[i];
        }
    }
    size_t n = volt_tensor_numel(x);
    if (free_dim >= 0) {
        VOLT_OP_REQUIRE(known > 0 && n % known == 0, VOLT_ERR_SHAPE,
                        "reshape: cannot infer -1 for %zu elements of %s", n,
                        volt_tensor_describe(x, d, sizeof d));
        resolved[free_dim] = (long)(n / known);
        known *= (size_t)resolved[free_dim];
    }
    VOLT_OP_REQUIRE(known == n, VOLT_ERR_SHAPE, "reshape: %s has %zu elements, the new shape %zu",
                    volt_tensor_describe(x, d, sizeof d), n, known);
    volt_tensor *y = volt_graph_header(graph, x);
    VOLT_OP_REQUIRE(y, VOLT_ERR_NOMEM, "reshape: out of memory");
    y->ndim = ndim;
    for (int i = 0; i < ndim; i++) y->shape[i] = resolved[i];
    volt_tensor_set_contiguous_strides(y);
    y->data = x->data;
    if (volt_graph_needs_grad(graph, &x, 1) &&
        !volt_graph_record(graph, "reshape", reshape_backward, y, &x, 1))
        return NULL;
    return y;
}

/* --- transpose ----------------------------------------------------------------------- */

static int transpose_backward(volt_graph *graph, volt_node *node) {
    volt_tensor *x = node->inputs[0];
    volt_tensor *dx = volt_grad_of(graph, x);
    VOLT_CHECK_PTR(dx);
    /* dy is dense in the output's shape; view it with the two dimensions swapped back */
    volt_tensor dy_view = *node->output->grad;
    int d0 = (int)node->integers[0], d1 = (int)node->integers[1];
    long s = dy_view.shape[d0];
    dy_view.shape[d0] = dy_view.shape[d1], dy_view.shape[d1] = s;
    s = dy_view.strides[d0];
    dy_view.strides[d0] = dy_view.strides[d1], dy_view.strides[d1] = s;
    return add_into(dx, &dy_view);
}

volt_tensor *volt_transpose(volt_tensor *x, int d0, int d1) {
    VOLT_OP_INPUTS(x);
    char d[96];
    if (d0 < 0) d0 += x->ndim;
    if (d1 < 0) d1 += x->ndim;
    VOLT_OP_REQUIRE(d0 >= 0 && d0 < x->ndim && d1 >= 0 && d1 < x->ndim, VOLT_ERR_SHAPE,
                    "transpose: dimensions %d and %d out of range for %s", d0, d1,
                    volt_tensor_describe(x, d, sizeof d));
    volt_graph *graph = volt_op_graph("transpose", &x, 1);
    if (!graph) return NULL;
    volt_tensor *y = volt_graph_header(graph, x);
    VOLT_OP_REQUIRE(y, VOLT_ERR_NOMEM, "transpose: out of memory");
    y->data = x->data;
    y->shape[d0] = x->shape[d1], y->shape[d1] = x->shape[d0];
    y->strides[d0] = x->strides[d1], y->strides[d1] = x->strides[d0];
    if (volt_graph_needs_grad(graph, &x, 1)) {
        volt_node *node = volt_graph_record(graph, "transpose", transpose_backward, y, &x, 1);
        if (!node) return NULL;
        node->integers[0] = d0, node->integers[1] = d1;
    }
    return y;
}

/* --- contiguous ---------------------------------------------------------------------- */

static int contiguous_backward(volt_graph *graph, volt_node *node) {
    volt_tensor *x = node->inputs[0];
    volt_tensor *dx = volt_grad_of(graph, x);
    VOLT_CHECK_PTR(dx);
    /* gradients are dense in the logical shape, and y is x's elements in that order */
    if (x->dtype == VOLT_F64) {
        const double *dy = node->output->grad->data;
        double *out = dx->data;
        size_t n = volt_tensor_numel(x);
        for (size_t i = 0; i < n; i++) out[i] += dy[i];
    } else {
        const float *dy = node->output->grad->data;
        float *out = dx->data;
        size_t n = volt_tensor_numel(x);
        for (size_t i = 0; i < n; i++) out[i] += dy[i];
    }
    return VOLT_OK;
}

volt_tensor *volt_contiguous(volt_tensor *x) {
    VOLT_OP_INPUTS(x);
    if (volt_tensor_is_contiguous(x)) return x;
    if (!volt_op_check_float("contiguous", x)) return NULL;
    volt_graph *graph = volt_op_graph("contiguous", &x, 1);
    if (!graph) return NULL;
    volt_tensor *y = volt_graph_tensor(graph, x->dtype, x->ndim, x->shape);
    VOLT_OP_REQUIRE(y, VOLT_ERR_NOMEM, "contiguous: out of memory");
    if (x->dtype == VOLT_F64) gather_f64(x, y->data);
    else gather_f32(x, y->data);
    if (volt_graph_needs_grad(graph, &x, 1) &&
        !volt_graph_record(graph, "contiguous", contiguous_backward, y, &x, 1))
        return NULL;
    return y;
}
