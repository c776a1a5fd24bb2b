/* lib/ops/loss.c — cross-entropy (fused log-softmax + NLL) and mean squared error.
 *
 * Cross-entropy: logits x [R, C] (leading dimensions flattened into R rows), targets t
 * (R integers, i32 or i64, any shape with R elements). Rows whose target is the ignore
 * index do not count; K is the number of rows that do:
 *   m_r = max_c x[r, c],   s_r = log sum_c exp(x[r, c] - m_r)
 *   L = (1/K) sum_{r counted} (m_r + s_r - x[r, t_r])      (L = 0 when K = 0)
 *   dx[r, c] = dL (softmax(x_r)[c] - [c == t_r]) / K for counted rows, 0 for the others.
 * Forward keeps m_r and s_r (2R doubles) so backward recomputes
 * softmax = exp((x - m) - s) without storing [R, C] probabilities (x - m first, so that
 * logits of 1000 lose no digits in f32).
 *
 * MSE: L = (1/n) sum_i (p_i - q_i)^2 over the n elements of prediction p and target q
 * (same shape; L = 0 when n = 0):
 *   dp_i = dL 2 (p_i - q_i) / n,   dq_i = -dp_i.
 * Sums accumulate in double. */
#include <math.h>
#include <string.h>

#include "ops/op_util.h"

/* --- cross-entropy ---------------------------------------------------------------------- */

typedef struct cross_entropy_saved {
    const int64_t *targets; /* R, converted from i32/i64 and checked */
    const double *row_max;  /* R: m_r (0 for ignored rows) */
    const double *log_sum;  /* R: s_r (0 for ignored rows) */
    long ignore_index;
    size_t count;           /* rows that count, K */
} cross_entropy_saved;

#define CROSS_ENTROPY_KERNELS(T, S, EXP)                                               \
    /* returns sum over counted rows of (m_r + s_r - x[r, t_r]) */                   \
    static double cross_entropy_forward_##S(const T *restrict x,                       \
                                            const int64_t *restrict targets,           \
                                            double *restrict row_max,                  \
                                            double *restrict log_sum, size_t rows,     \
                                            size_t cols, long ignore_index) {          \
        double total = 0;                                                              \
        for (size_t r = 0; r < rows; r++, x += cols) {                                 \
            row_max[r] = log_sum[r] = 0;                                               \
            if (targets[r] == ignore_index) continue;                                  \
            T m = x[0];                                                                \
            for (size_t c = 1; c < cols; c++) m = x[c] > m ? x[c] : m;                 \
            double sum = 0;                                                            \
            for (size_t c = 0; c < cols; c++) sum += (double)EXP(x[c] - m);            \
            row_max[r] = (double)m;                                                    \
            log_sum[r] = log(sum);                                                     \
            total += ((double)m - (double)x[targets[r]]) + log_sum[r];                 \
        }                                                                              \
        return total;                                                                  \
    }                                                                                  \
    static void cross_entropy_backward_##S(const T *restrict x,                        \
                                           const int64_t *restrict targets,            \
                                           const double *restrict row_max,             \
                                           const double *restrict log_sum, double scale, \
                                           T *restrict dx, size_t rows, size_t cols,   \
                                           long ignore_index) {                        \
        const T g = (T)scale;                                                          \
        for (size_t r = 0; r < rows; r++, x += cols, dx += cols) {                     \
            if (targets[r] == ignore_index) continue;                                  \
            const T m = (T)row_max[r], s = (T)log_sum[r];                              \
            for (size_t c = 0; c < cols; c++) dx[c] += g * EXP((x[c] - m) - s);        \
            dx[targets[r]] -= g;                                                       \
        }                                                                              \
    }
CROSS_ENTROPY_KERNELS(float, f32, expf)
CROSS_ENTROPY_KERNELS(double, f64, exp)

static int cross_entropy_backward(volt_graph *graph, volt_node *node) {
    const cross_entropy_saved *saved = node->extra;
    volt_tensor *x = node->inputs[0], *loss = node->output;
    volt_tensor *dx = volt_grad_of(graph, x);
    VOLT_CHECK_PTR(dx);
    if (saved->count == 0) return VOLT_OK; /* the loss is the constant 0 */
    size_t cols = (size_t)x->shape[x->ndim - 1];
    size_t rows = cols ? volt_tensor_numel(x) / cols : 0;
    double dloss = volt_tensor_get_flat(loss->grad, 0);
    double scale = dloss / (double)saved->count;
    if (x->dtype == VOLT_F64)
        cross_entropy_backward_f64(x->data, saved->targets, saved->row_max, saved->log_sum,
                                   scale, dx->data, rows, cols, saved->ignore_index);
    else
        cross_entropy_backward_f32(x->data, saved->targets, saved->row_max, saved->log_sum,
                                   scale, dx->data, rows, cols, saved->ignore_index);
    return VOLT_OK;
}

/* Copies the targets (any strides, i32 or i64) into out as int64 and checks each is in
 * [0, cols) or the ignore index. Pushes VOLT_ERR_ARG naming the first bad one. */
static int read_targets(const volt_tensor *targets, size_t cols, long ignore_index,
                        int64_t *out, size_t *count) {
    size_t n = volt_tensor_numel(targets);
    if (volt_tensor_is_contiguous(targets) && targets->dtype == VOLT_I64)
        memcpy(out, targets->data, n * sizeof *out);
    else if (volt_tensor_is_contiguous(targets))
        for (size_t i = 0; i < n; i++) out[i] = ((const int32_t *)targets->data)[i];
    else
        for (size_t i = 0; i < n; i++) out[i] = (int64_t)volt_tensor_get_flat(targets, i);
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        if (out[i] == ignore_index) continue;
        if (out[i] < 0 || (uint64_t)out[i] >= cols) {
            char d[96];
            return VOLT_ERROR(VOLT_ERR_ARG,
                              "cross_entropy: target %lld at position %zu of %s is outside "
                              "[0, %zu) and is not the ignore index %ld",
                              (long long)out[i], i, volt_tensor_describe(targets, d, sizeof d),
                              cols, ignore_index);
        }
        (*count)++;
    }
    return VOLT_OK;
}

volt_tensor *volt_cross_entropy_ex(volt_tensor *logits, volt_tensor *targets,
                                   long ignore_index) {
    VOLT_OP_INPUTS(logits, targets);
    if (!volt_op_check_float("cross_entropy", logits)) return NULL;
    char dl[96], dt[96];
    VOLT_OP_REQUIRE(targets->dtype == VOLT_I32 || targets->dtype == VOLT_I64, VOLT_ERR_SHAPE,
                    "cross_entropy: targets must be i32 or i64, got %s",
                    volt_tensor_describe(targets, dt, sizeof dt));
    VOLT_OP_REQUIRE(targets->device.type == logits->device.type &&
                        targets->device.index == logits->device.index,
                    VOLT_ERR_SHAPE, "cross_entropy: logits %s and targets %s on different devices",
                    volt_tensor_describe(logits, dl, sizeof dl),
                    volt_tensor_describe(targets, dt, sizeof dt));
    VOLT_OP_REQUIRE(logits->ndim >= 1 && logits->shape[logits->ndim - 1] > 0, VOLT_ERR_SHAPE,
                    "cross_entropy: logits must be [..., C] with C > 0, got %s",
                    volt_tensor_describe(logits, dl, sizeof dl));
    size_t cols = (size_t)logits->shape[logits->ndim - 1];
    size_t rows = volt_tensor_numel(logits) / cols;
    VOLT_OP_REQUIRE(volt_tensor_numel(targets) == rows, VOLT_ERR_SHAPE,
                    "cross_entropy: logits %s have %zu rows but targets %s have %zu elements",
                    volt_tensor_describe(logits, dl, sizeof dl), rows,
                    volt_tensor_describe(targets, dt, sizeof dt), volt_tensor_numel(targets));
    volt_tensor *inputs[2] = {logits, targets};
    volt_graph *graph = volt_op_graph("cross_entropy", inputs, 2);
    if (!graph) return NULL;
    logits = volt_contiguous(logits);
    if (!logits) return NULL;

    cross_entropy_saved *saved = volt_graph_alloc(graph, sizeof *saved);
    int64_t *target_values = volt_graph_alloc(graph, (rows ? rows : 1) * sizeof *target_values);
    double *row_max = volt_graph_alloc(graph, (rows ? rows : 1) * sizeof *row_max);
    double *log_sum = volt_graph_alloc(graph, (rows ? rows : 1) * sizeof *log_sum);
    volt_tensor *loss = volt_graph_tensor(graph, logits->dtype, 0, NULL);
    VOLT_OP_REQUIRE(saved && target_values && row_max && log_sum && loss, VOLT_ERR_NOMEM,
                    "cross_entropy: out of memory for %zu rows", rows);
    size_t count;
    if (read_targets(targets, cols, ignore_index, target_values, &count) != VOLT_OK) return NULL;
    double total = logits->dtype == VOLT_F64
                       ? cross_entropy_forward_f64(logits->data, target_values, row_max, log_sum,
                                                   rows, cols, ignore_index)
                       : cross_entropy_forward_f32(logits->data, target_values, row_max, log_sum,
                                                   rows, cols, ignore_index);
    volt_tensor_set_flat(loss, 0, count ? total / (double)count : 0.0);
    if (volt_graph_needs_grad(graph, &logits, 1)) {
        volt_node *node =
            volt_graph_record(graph, "cross_entropy", cross_entropy_backward, loss, &logits, 1);
        if (!node) return NULL;
        *saved = (cross_entropy_saved){target_values, row_max, log_sum, ignore_index, count};
        node->extra = saved;
        node->flops = 4.0 * (double)(rows * cols); /* max, subtract, exp, sum */
    }
    return loss;
}

volt_tensor *volt_cross_entropy(volt_tensor *logits, volt_tensor *targets) {
    return volt_cross_entropy_ex(logits, targets, VOLT_IGNORE_INDEX);
}

/* --- mean squared error ----------------------------------------------------------------- */

#define MSE_KERNELS(T, S)                                                              \
    static double mse_forward_##S(const T *restrict p, const T *restrict q, size_t n) { \
        double total = 0;                                                              \
        for (size_t i = 0; i < n; i++) {                                               \
            const double diff = (double)p[i] - (double)q[i];                           \
            total += diff * diff;                                                      \
        }                                                                              \
        return total;                                                                  \
    }                                                                                  \
    /* d += scale * (p - q) */                                                         \
    static void mse_backward_##S(const T *restrict p, const T *restrict q, T scale,    \
                                 T *restrict d, size_t n) {                            \
        for (size_t i = 0; i < n; i++) d[i] += scale * (p[i] - q[i]);                  \
    }
MSE_KERNELS(float, f32)
MSE_KERNELS(double, f64)

static int mse_backward(volt_graph *graph, volt_node *node) {
    volt_tensor *p = node->inputs[0], *q = node->inputs[1], *loss = node->output;
    size_t n = volt_tensor_numel(p);
    if (n == 0) return VOLT_OK;
    double scale = 2.0 * volt_tensor_get_flat(loss->grad, 0) / (double)n;
    for (int k = 0; k < 2; k++) {
        volt_tensor *in = node->inputs[k];
        if (!in->requires_grad) continue;
        volt_tensor *d = volt_grad_of(graph, in);
        VOLT_CHECK_PTR(d);
        double signed_scale = k == 0 ? scale : -scale;
        if (p->dtype == VOLT_F64) mse_backward_f64(p->data, q->data, signed_scale, d->data, n);
        else mse_backward_f32(p->data, q->data, (float)signed_scale, d->data, n);
    }
    return VOLT_OK;
}

volt_tensor *volt_mse_loss(volt_tensor *prediction, volt_tensor *target) {
    VOLT_OP_INPUTS(prediction, target);
    if (!volt_op_check_float("mse_loss", prediction) || !volt_op_check_float("mse_loss", target) ||
        !volt_op_check_same_kind("mse_loss", prediction, target))
        return NULL;
    char dp[96], dq[96];
    VOLT_OP_REQUIRE(volt_tensor_same_shape(prediction, target), VOLT_ERR_SHAPE,
                    "mse_loss: prediction %s and target %s differ in shape",
                    volt_tensor_describe(prediction, dp, sizeof dp),
                    volt_tensor_describe(target, dq, sizeof dq));
    volt_tensor *inputs[2] = {prediction, target};
    volt_graph *graph = volt_op_graph("mse_loss", inputs, 2);
    if (!graph) return NULL;
    prediction = volt_contiguous(prediction);
    target = volt_contiguous(target);
    if (!prediction || !target) return NULL;
    inputs[0] = prediction, inputs[1] = target;
    volt_tensor *loss = volt_graph_tensor(graph, prediction->dtype, 0, NULL);
    VOLT_OP_REQUIRE(loss, VOLT_ERR_NOMEM, "mse_loss: out of memory for the output");
    size_t n = volt_tensor_numel(prediction);
    double total = prediction->dtype == VOLT_F64
                       ? mse_forward_f64(prediction->data, target->data, n)
                       : mse_forward_f32(prediction->data, target->data, n);
    volt_tensor_set_flat(loss, 0, n ? total / (double)n : 0.0);
    if (volt_graph_needs_grad(graph, inputs, 2)) {
        volt_node *node = volt_graph_record(graph, "mse_loss", mse_backward, loss, inputs, 2);
        if (!node) return NULL;
        node->flops = 3.0 * (double)n; /* subtract, square, sum */
    }
    return loss;
}
