/* lib/ops/softmax.c — softmax and log-softmax along the last dimension.
 *
 * Per row x[0..C), with m = max_c x[c] subtracted first so that exp never overflows:
 *   softmax:     y[c] = exp(x[c] - m) / S,   S = sum_c exp(x[c] - m)
 *                dx = y * (dy - sum_c(dy * y))
 *   log_softmax: y[c] = (x[c] - m) - log(S)   (x - m first: logits of 1000 lose no digits)
 *                dx = dy - softmax(x) * sum_c(dy),   softmax(x) = exp(y)
 * Row sums (S and the two backward sums) accumulate in double. Both save only y. */
#include <math.h>

#include "ops/op_util.h"

#define SOFTMAX_KERNELS(T, S, EXP)                                                     \
    static T row_max_##S(const T *restrict x, size_t cols) {                           \
        T m = cols ? x[0] : (T)0;                                                      \
        for (size_t c = 1; c < cols; c++) m = x[c] > m ? x[c] : m;                     \
        return m;                                                                      \
    }                                                                                  \
    static void softmax_forward_##S(const T *restrict x, T *restrict y, size_t rows,   \
                                    size_t cols) {                                     \
        for (size_t r = 0; r < rows; r++, x += cols, y += cols) {                      \
            const T m = row_max_##S(x, cols);                                          \
            double sum = 0;                                                            \
            for (size_t c = 0; c < cols; c++) {                                        \
                y[c] = EXP(x[c] - m);                                                  \
                sum += (double)y[c];                                                   \
            }                                                                          \
            const T inv = (T)(1.0 / sum);                                              \
            for (size_t c = 0; c < cols; c++) y[c] *= inv;                             \
        }                                                                              \
    }                                                                                  \
    static void softmax_backward_##S(const T *restrict y, const T *restrict dy,        \
                                     T *restrict dx, size_t rows, size_t cols) {       \
        for (size_t r = 0; r < rows; r++, y += cols, dy += cols, dx += cols) {         \
            double dot = 0;                                                            \
            for (size_t c = 0; c < cols; c++) dot += (double)dy[c] * (double)y[c];     \
            const T d = (T)dot;                                                        \
            for (size_t c = 0; c < cols; c++) dx[c] += y[c] * (dy[c] - d);             \
        }                                                                              \
    }                                                                                  \
    static void log_softmax_forward_##S(const T *restrict x, T *restrict y, size_t rows, \
                                        size_t cols) {                                 \
        for (size_t r = 0; r < rows; r++, x += cols, y += cols) {                      \
            const T m = row_max_##S(x, cols);                                          \
            double sum = 0;                                                            \
            for (size_t c = 0; c < cols; c++) sum += (double)EXP(x[c] - m);            \
            const T log_sum = (T)log(sum);                                             \
            for (size_t c = 0; c < cols; c++) y[c] = (x[c] - m) - log_sum;             \
        }                                                                              \
    }                                                                                  \
    static void log_softmax_backward_##S(const T *restrict y, const T *restrict dy,    \
                                         T *restrict dx, size_t rows, size_t cols) {   \
        for (size_t r = 0; r < rows; r++, y += cols, dy += cols, dx += cols) {         \
            double sum = 0;                                                            \
            for (size_t c = 0; c < cols; c++) sum += (double)dy[c];                    \
            const T s = (T)sum;                                                        \
            for (size_t c = 0; c < cols; c++) dx[c] += dy[c] - EXP(y[c]) * s;          \
        }                                                                              \
    }
SOFTMAX_KERNELS(float, f32, expf)
SOFTMAX_KERNELS(double, f64, exp)

typedef enum softmax_kind { SOFTMAX, LOG_SOFTMAX } softmax_kind;

static void rows_and_cols(const volt_tensor *t, size_t *rows, size_t *cols) {
    *cols = (size_t)t->shape[t->ndim - 1];
    *rows = 1;
    for (int d = 0; d < t->ndim - 1; d++) *rows *= (size_t)t->shape[d];
}

static int softmax_backward(volt_graph *graph, volt_node *node) {
    volt_tensor *x = node->inputs[0], *y = node->output;
    volt_tensor *dx = volt_grad_of(graph, x);
    VOLT_CHECK_PTR(dx);
    size_t rows, cols;
    rows_and_cols(x, &rows, &cols);
    int log_form = node->integers[0] == LOG_SOFTMAX;
    if (x->dtype == VOLT_F64) {
        if (log_form) log_softmax_backward_f64(y->data, y->grad->data, dx->data, rows, cols);
        else softmax_backward_f64(y->data, y->grad->data, dx->data, rows, cols);
    } else {
        if (log_form) log_softmax_backward_f32(y->data, y->grad->data, dx->data, rows, cols);
        else softmax_backward_f32(y->data, y->grad->data, dx->data, rows, cols);
    }
    return VOLT_OK;
}

static volt_tensor *softmax_op(softmax_kind kind, volt_tensor *x) {
    VOLT_OP_INPUTS(x);
    const char *op = kind == SOFTMAX ? "softmax" : "log_softmax";
    if (!volt_op_check_float(op, x)) return NULL;
    char d[96];
    VOLT_OP_REQUIRE(x->ndim >= 1, VOLT_ERR_SHAPE, "%s: needs at least one dimension, got %s",
                    op, volt_tensor_describe(x, d, sizeof d));
    volt_graph *graph = volt_op_graph(op, &x, 1);
    if (!graph) return NULL;
    x = volt_contiguous(x);
    if (!x) return NULL;
    volt_tensor *y = volt_graph_tensor(graph, x->dtype, x->ndim, x->shape);
    VOLT_OP_REQUIRE(y, VOLT_ERR_NOMEM, "%s: out of memory for the output", op);
    size_t rows, cols;
    rows_and_cols(x, &rows, &cols);
    if (x->dtype == VOLT_F64) {
        if (kind == LOG_SOFTMAX) log_softmax_forward_f64(x->data, y->data, rows, cols);
        else softmax_forward_f64(x->data, y->data, rows, cols);
    } else {
        if (kind == LOG_SOFTMAX) log_softmax_forward_f32(x->data, y->data, rows, cols);
        else softmax_forward_f32(x->data, y->data, rows, cols);
    }
    if (volt_graph_needs_grad(graph, &x, 1)) {
        volt_node *node = volt_graph_record(graph, op, softmax_backward, y, &x, 1);
        if (!node) return NULL;
        node->integers[0] = kind;
        node->flops = 5.0 * (double)(rows * cols); /* max, subtract, exp, sum, scale */
    }
    return y;
}

volt_tensor *volt_softmax(volt_tensor *x) { return softmax_op(SOFTMAX, x); }
volt_tensor *volt_log_softmax(volt_tensor *x) { return softmax_op(LOG_SOFTMAX, x); }
