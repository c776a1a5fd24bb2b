/* lib/ops/layer_norm.c — layer normalisation over the last dimension C.
 *
 * Per row: mean = sum(x) / C, var = sum((x - mean)^2) / C, rstd = 1 / sqrt(var + eps),
 * xhat = (x - mean) rstd, y = xhat w + b.
 * Backward, with dxhat = dy w:
 *   dx += rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)),
 *   dw += sum over rows of dy xhat,  db += sum over rows of dy.
 * mean and rstd of every row are saved in the node (saved[0], saved[1]). */
#include <math.h>

#include "ops/op_util.h"

#define LAYER_NORM_KERNELS(T, S)                                                       \
    /* mean_out, rstd_out: NULL when no gradient is needed */                          \
    static void layer_norm_forward_##S(const T *restrict x, const T *restrict w,       \
                                       const T *restrict b, T *restrict y,             \
                                       T *restrict mean_out, T *restrict rstd_out,     \
                                       long rows, long C, double eps) {                \
        for (long r = 0; r < rows; r++) {                                              \
            const T *restrict xr = x + r * C;                                          \
            T *restrict yr = y + r * C;                                                \
            T sum = 0;                                                                 \
            for (long c = 0; c < C; c++) sum += xr[c];                                 \
            T mean = sum / (T)C;                                                       \
            T sq = 0;                                                                  \
            for (long c = 0; c < C; c++) sq += (xr[c] - mean) * (xr[c] - mean);        \
            T rstd = (T)(1.0 / sqrt((double)(sq / (T)C) + eps));                       \
            for (long c = 0; c < C; c++) yr[c] = (xr[c] - mean) * rstd * w[c] + b[c];  \
            if (mean_out) mean_out[r] = mean, rstd_out[r] = rstd;                      \
        }                                                                              \
    }                                                                                  \
    /* dx, dw, db: NULL for an input that needs no gradient */                         \
    static void layer_norm_backward_##S(const T *restrict x, const T *restrict w,      \
                                        const T *restrict mean, const T *restrict rstd, \
                                        const T *restrict dy, T *restrict dx, T *dw,   \
                                        T *db, long rows, long C) {                    \
        for (long r = 0; r < rows; r++) {                                              \
            const T *restrict xr = x + r * C, *restrict dyr = dy + r * C;              \
            T m = mean[r], s = rstd[r];                                                \
            if (dw)                                                                    \
                for (long c = 0; c < C; c++) dw[c] += dyr[c] * ((xr[c] - m) * s);      \
            if (db)                                                                    \
                for (long c = 0; c < C; c++) db[c] += dyr[c];                          \
            if (!dx) continue;                                                         \
            T sum_dxhat = 0, sum_dxhat_xhat = 0;                                       \
            for (long c = 0; c < C; c++) {                                             \
                T dxhat = dyr[c] * w[c];                                               \
                sum_dxhat += dxhat;                                                    \
                sum_dxhat_xhat += dxhat * ((xr[c] - m) * s);                           \
            }                                                                          \
            T mean_dxhat = sum_dxhat / (T)C, mean_dxhat_xhat = sum_dxhat_xhat / (T)C;  \
            T *restrict dxr = dx + r * C;                                              \
            for (long c = 0; c < C; c++)                                               \
                dxr[c] += s * (dyr[c] * w[c] - mean_dxhat - (xr[c] - m) * s * mean_dxhat_xhat); \
        }                                                                              \
    }
LAYER_NORM_KERNELS(float, f32)
LAYER_NORM_KERNELS(double, f64)

static void *grad_data_or_null(volt_graph *graph, volt_tensor *t, int *failed) {
    if (!t->requires_grad) return NULL;
    volt_tensor *g = volt_grad_of(graph, t);
    if (!g) *failed = 1;
    return g ? g->data : NULL;
}

static int layer_norm_backward(volt_graph *graph, volt_node *node) {
    volt_tensor *x = node->inputs[0], *w = node->inputs[1], *b = node->inputs[2];
    const volt_tensor *mean = node->saved[0], *rstd = node->saved[1];
    int failed = 0;
    void *dx = grad_data_or_null(graph, x, &failed);
    void *dw = grad_data_or_null(graph, w, &failed);
    void *db = grad_data_or_null(graph, b, &failed);
    if (failed) return VOLT_ERROR(VOLT_ERR_NOMEM, "layer_norm backward: out of memory");
    long C = x->shape[x->ndim - 1], rows = C ? (long)(volt_tensor_numel(x) / (size_t)C) : 0;
    const volt_tensor *dy = node->output->grad;
    if (x->dtype == VOLT_F64)
        layer_norm_backward_f64(x->data, w->data, mean->data, rstd->data, dy->data, dx, dw, db,
                                rows, C);
    else
        layer_norm_backward_f32(x->data, w->data, mean->data, rstd->data, dy->data, dx, dw, db,
                                rows, C);
    return VOLT_OK;
}

volt_tensor *volt_layer_norm_fn(volt_tensor *x, volt_tensor *weight, volt_tensor *bias,
                                double eps) {
    VOLT_OP_INPUTS(x, weight, bias);
    if (!volt_op_check_float("layer_norm", x) ||
        !volt_op_check_same_kind("layer_norm", x, weight) ||
        !volt_op_check_same_kind("layer_norm", x, bias))
        return NULL;
    char dx[96], dw[96], db[96];
    long C = x->ndim >= 1 ? x->shape[x->ndim - 1] : 0;
    VOLT_OP_REQUIRE(x->ndim >= 1 && weight->ndim == 1 && bias->ndim == 1 &&
                        weight->shape[0] == C && bias->shape[0] == C,
                    VOLT_ERR_SHAPE,
                    "layer_norm: x %s, weight %s, bias %s do not fit (expected x [..., C], "
                    "weight [C], bias [C])",
                    volt_tensor_describe(x, dx, sizeof dx),
                    volt_tensor_describe(weight, dw, sizeof dw),
                    volt_tensor_describe(bias, db, sizeof db));
    VOLT_OP_REQUIRE(eps >= 0 && isfinite(eps), VOLT_ERR_ARG,
                    "layer_norm: eps must be finite and >= 0, not %g", eps);
    volt_tensor *inputs[3] = {x, weight, bias};
    volt_graph *graph = volt_op_graph("layer_norm", inputs, 3);
    if (!graph) return NULL;
    for (int i = 0; i < 3; i++) {
        inputs[i] = volt_contiguous(inputs[i]);
        if (!inputs[i]) return NULL;
    }
    x = inputs[0], weight = inputs[1], bias = inputs[2];
    long rows = C ? (long)(volt_tensor_numel(x) / (size_t)C) : 0;
    volt_tensor *y = volt_graph_tensor(graph, x->dtype, x->ndim, x->shape);
    VOLT_OP_REQUIRE(y, VOLT_ERR_NOMEM, "layer_norm: out of memory for the output");
    volt_tensor *mean = NULL, *rstd = NULL;
    int record = volt_graph_needs_grad(graph, inputs, 3);
    if (record) {
        mean = volt_graph_tensor(graph, x->dtype, 1, &rows);
        rstd = volt_graph_tensor(graph, x->dtype, 1, &rows);
        VOLT_OP_REQUIRE(mean && rstd, VOLT_ERR_NOMEM, "layer_norm: out of memory for %ld rows",
                        rows);
    }
    if (x->dtype == VOLT_F64)
        layer_norm_forward_f64(x->data, weight->data, bias->data, y->data,
                               mean ? mean->data : NULL, rstd ? rstd->data : NULL, rows, C, eps);
    else
        layer_norm_forward_f32(x->data, weight->data, bias->data, y->data,
                               mean ? mean->data : NULL, rstd ? rstd->data : NULL, rows, C, eps);
    if (record) {
        volt_node *node = volt_graph_record(graph, "layer_norm", layer_norm_backward, y, inputs, 3);
        if (!node) return NULL;
        node->saved[0] = mean, node->saved[1] = rstd;
        node->scalars[0] = eps;
        node->flops = 8.0 * (double)rows * (double)C; /* sum, centre, square, sum, scale, affine */
    }
    return y;
}
