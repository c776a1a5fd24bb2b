/* lib/ops/attention.c — causal multi-head self-attention on packed projections.
 *
 * qkv [B, T, 3C] holds q, k, v side by side; head h of each is the column block
 * [h d, (h+1) d) with d = C / H. Per batch b and head h (q, k, v are [T, d] blocks of
 * qkv with row stride 3C, scale = 1 / sqrt(d)):
 *   S = q k^T scale,  P[i, :] = softmax over j <= i of S[i, j] (max subtracted),
 *   P[i, j > i] = 0,  out[b, :, h d : (h+1) d] = P v.
 * Backward, with dout the same block of the output's gradient:
 *   dP = dout v^T,  dv += P^T dout,  dS = P (dP - rowsum(dP P))  (elementwise),
 *   dq += dS k scale,  dk += dS^T q scale.
 * P of every (b, h) is saved in the node (saved[0], [B, H, T, T]). The four products
 * are GEMMs on the strided blocks (lda = 3C), so nothing is copied.
 *
 * Under the graph's autocast (bf16 or f16, f32 input: the 16-bit mixed precisions on the
 * CPU) the products take 16-bit operands as a GPU's fused attention does: q, k and v are
 * rounded (a copy of qkv, saved[1]), the scores and the softmax stay f32, P is rounded
 * before P v, and the output is rounded; backward rounds dout and dS, and each product
 * before it is added to dqkv. */
#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "ops/op_util.h"

#define exp_f32 expf
#define exp_f64 exp

#define ATTENTION_KERNELS(T, S)                                                        \
    /* In place on a [steps, steps] block of scores: row i becomes the softmax of its  \
     * first i + 1 entries, the rest 0. */                                             \
    static void causal_softmax_##S(T *restrict p, long steps) {                        \
        for (long i = 0; i < steps; i++) {                                             \
            T *restrict row = p + i * steps;                                           \
            T max = row[0];                                                            \
            for (long j = 1; j <= i; j++) max = row[j] > max ? row[j] : max;           \
            T sum = 0;                                                                 \
            for (long j = 0; j <= i; j++) {                                            \
                row[j] = exp_##S(row[j] - max);                                        \
                sum += row[j];                                                         \
            }                                                                          \
            T inv = (T)1 / sum;                                                        \
            for (long j = 0; j <= i; j++) row[j] *= inv;                               \
            for (long j = i + 1; j < steps; j++) row[j] = 0;                           \
        }                                                                              \
    }                                                                                  \
    /* In place: dp becomes dS = P (dP - rowsum(dP P)). */                             \
    static void softmax_backward_##S(const T *restrict p, T *restrict dp, long steps) { \
        for (long i = 0; i < steps; i++) {                                             \
            const T *restrict prow = p + i * steps;                                    \
            T *restrict drow = dp + i * steps;                                         \
            T dot = 0;                                                                 \
            for (long j = 0; j <= i; j++) dot += drow[j] * prow[j];                    \
            for (long j = 0; j < steps; j++) drow[j] = prow[j] * (drow[j] - dot);      \
        }                                                                              \
    }
ATTENTION_KERNELS(float, f32)
ATTENTION_KERNELS(double, f64)

/* Sizes, and the element offsets of head h of batch b in qkv (its q block) and out. */
typedef struct attention_sizes {
    long batch, steps, channels, heads, head_dim;
    double scale;
} attention_sizes;

static attention_sizes attention_sizes_of(const volt_tensor *qkv, int n_head) {
    attention_sizes s = {qkv->shape[0], qkv->shape[1], qkv->shape[2] / 3, n_head, 0, 0};
    s.head_dim = s.channels / n_head;
    s.scale = 1.0 / sqrt((double)s.head_dim);
    return s;
}
static long q_offset(const attention_sizes *s, long b, long h) {
    return b * s->steps * 3 * s->channels + h * s->head_dim;
}
static long out_offset(const attention_sizes *s, long b, long h) {
    return b * s->steps * s->channels + h * s->head_dim;
}

static void *element(volt_dtype dtype, void *base, long offset) {
    return (char *)base + (ptrdiff_t)offset * (ptrdiff_t)volt_dtype_size(dtype);
}

/* dst [T, d] (row stride ld) += round(src [T, d] contiguous) */
static void add_rounded_block(float *dst, long ld, float *src, long rows, long cols,
                              volt_dtype low) {
    volt_round_to_dtype(src, (size_t)(rows * cols), low);
    for (long i = 0; i < rows; i++)
        for (long j = 0; j < cols; j++) dst[i * ld + j] += src[i * cols + j];
}

/* Backward under autocast (see the header): f32 buffers holding 16-bit values. */
static int attention_backward_autocast(volt_graph *graph, volt_node *node) {
    volt_tensor *qkv = node->inputs[0];
    const volt_dtype low = (volt_dtype)node->integers[1];
    attention_sizes s = attention_sizes_of(qkv, (int)node->integers[0]);
    volt_tensor *dqkv = volt_grad_of(graph, qkv);
    VOLT_CHECK_PTR(dqkv);
    if (s.batch == 0 || s.steps == 0) return VOLT_OK;
    long ld_qkv = 3 * s.channels, ld_out = s.channels, T = s.steps, d = s.head_dim;
    size_t dout_count = volt_tensor_numel(node->output->grad);
    float *dp = volt_graph_alloc(graph, (size_t)(T * T) * sizeof(float));
    float *block = volt_graph_alloc(graph, (size_t)(T * d) * sizeof(float));
    float *dout = volt_graph_alloc(graph, dout_count * sizeof(float));
    if (!dp || !block || !dout)
        return VOLT_ERROR(VOLT_ERR_NOMEM, "causal_self_attention backward: out of memory");
    memcpy(dout, node->output->grad->data, dout_count * sizeof(float));
    volt_round_to_dtype(dout, dout_count, low);
    const float *qkv_low = node->saved[1]->data, *p_all = node->saved[0]->data;
    float *grad = dqkv->data;
    for (long b = 0; b < s.batch; b++)
        for (long h = 0; h < s.heads; h++) {
            long qo = q_offset(&s, b, h), ko = qo + s.channels, vo = qo + 2 * s.channels;
            const float *q = qkv_low + qo, *k = qkv_low + ko, *v = qkv_low + vo;
            const float *dout_bh = dout + out_offset(&s, b, h);
            const float *p = p_all + (b * s.heads + h) * T * T;
            volt_op_gemm(VOLT_F32, CblasNoTrans, CblasTrans, T, T, d, 1.0, dout_bh, ld_out, v,
                         ld_qkv, 0.0, dp, T);
            volt_op_gemm(VOLT_F32, CblasTrans, CblasNoTrans, T, d, T, 1.0, p, T, dout_bh, ld_out,
                         0.0, block, d);
            add_rounded_block(grad + vo, ld_qkv, block, T, d, low);
            softmax_backward_f32(p, dp, T);
            volt_round_to_dtype(dp, (size_t)(T * T), low);
            volt_op_gemm(VOLT_F32, CblasNoTrans, CblasNoTrans, T, d, T, s.scale, dp, T, k, ld_qkv,
                         0.0, block, d);
            add_rounded_block(grad + qo, ld_qkv, block, T, d, low);
            volt_op_gemm(VOLT_F32, CblasTrans, CblasNoTrans, T, d, T, s.scale, dp, T, q, ld_qkv,
                         0.0, block, d);
            add_rounded_block(grad + ko, ld_qkv, block, T, d, low);
        }
    return VOLT_OK;
}

static int attention_backward(volt_graph *graph, volt_node *node) {
    volt_tensor *qkv = node->inputs[0];
    volt_dtype dt = qkv->dtype;
    attention_sizes s = attention_sizes_of(qkv, (int)node->integers[0]);
    volt_tensor *dqkv = volt_grad_of(graph, qkv);
    VOLT_CHECK_PTR(dqkv);
    if (s.batch == 0 || s.steps == 0) return VOLT_OK;
    void *dp = volt_graph_alloc(graph, (size_t)(s.steps * s.steps) * volt_dtype_size(dt));
    VOLT_CHECK_ALLOC(dp, (size_t)(s.steps * s.steps) * volt_dtype_size(dt));
    long ld_qkv = 3 * s.channels, ld_out = s.channels, T = s.steps, d = s.head_dim;
    void *dout = node->output->grad->data, *p_all = node->saved[0]->data;
    for (long b = 0; b < s.batch; b++)
        for (long h = 0; h < s.heads; h++) {
            long qo = q_offset(&s, b, h), ko = qo + s.channels, vo = qo + 2 * s.channels;
            const void *q = element(dt, qkv->data, qo), *k = element(dt, qkv->data, ko);
            const void *v = element(dt, qkv->data, vo);
            void *dq = element(dt, dqkv->data, qo), *dk = element(dt, dqkv->data, ko);
            void *dv = element(dt, dqkv->data, vo);
            const void *dout_bh = element(dt, dout, out_offset(&s, b, h));
            const void *p = element(dt, p_all, (b * s.heads + h) * T * T);
            /* dP [T, T] = dout [T, d] v^T [d, T];  dv [T, d] += P^T [T, T] dout [T, d] */
            volt_op_gemm(dt, CblasNoTrans, CblasTrans, T, T, d, 1.0, dout_bh, ld_out, v, ld_qkv,
                         0.0, dp, T);
            volt_op_gemm(dt, CblasTrans, CblasNoTrans, T, d, T, 1.0, p, T, dout_bh, ld_out, 1.0, dv,
                         ld_qkv);
            if (dt == VOLT_F64)
                softmax_backward_f64(p, dp, T);
            else
                softmax_backward_f32(p, dp, T);
            /* dq [T, d] += dS [T, T] k [T, d] scale;  dk [T, d] += dS^T [T, T] q [T, d] scale */
            volt_op_gemm(dt, CblasNoTrans, CblasNoTrans, T, d, T, s.scale, dp, T, k, ld_qkv, 1.0,
                         dq, ld_qkv);
            volt_op_gemm(dt, CblasTrans, CblasNoTrans, T, d, T, s.scale, dp, T, q, ld_qkv, 1.0, dk,
                         ld_qkv);
        }
    return VOLT_OK;
}

volt_tensor *volt_causal_self_attention(volt_tensor *qkv, int n_head) {
    VOLT_OP_INPUTS(qkv);
    if (!volt_op_check_float("causal_self_attention", qkv)) return NULL;
    char dq[96];
    VOLT_OP_REQUIRE(qkv->ndim == 3 && qkv->shape[2] % 3 == 0, VOLT_ERR_SHAPE,
                    "causal_self_attention: qkv is %s, expected [B, T, 3C]",
                    volt_tensor_describe(qkv, dq, sizeof dq));
    long C = qkv->shape[2] / 3;
    VOLT_OP_REQUIRE(n_head > 0 && C > 0 && C % n_head == 0, VOLT_ERR_SHAPE,
                    "causal_self_attention: C = %ld (qkv %s) is not a positive multiple of "
                    "n_head = %d",
                    C, volt_tensor_describe(qkv, dq, sizeof dq), n_head);
    VOLT_OP_REQUIRE(3 * C <= INT_MAX && qkv->shape[1] <= INT_MAX, VOLT_ERR_SHAPE,
                    "causal_self_attention: qkv %s is too large for BLAS's 32-bit sizes",
                    volt_tensor_describe(qkv, dq, sizeof dq));
    volt_graph *graph = volt_op_graph("causal_self_attention", &qkv, 1);
    if (!graph) return NULL;
    qkv = volt_contiguous(qkv);
    if (!qkv) return NULL;
    attention_sizes s = attention_sizes_of(qkv, n_head);
    volt_dtype dt = qkv->dtype;
    long T = s.steps, d = s.head_dim, ld_qkv = 3 * C;
    /* autocast: q, k and v rounded to the 16-bit type (a copy) */
    const volt_dtype low = dt == VOLT_F32 ? volt_graph_autocast(graph) : VOLT_F32;
    volt_tensor *operands = qkv;
    if (low != VOLT_F32) {
        operands = volt_graph_tensor(graph, VOLT_F32, 3, qkv->shape);
        VOLT_OP_REQUIRE(operands, VOLT_ERR_NOMEM,
                        "causal_self_attention: out of memory for the 16-bit operands");
        memcpy(operands->data, qkv->data, volt_tensor_numel(qkv) * sizeof(float));
        volt_round_to_dtype(operands->data, volt_tensor_numel(qkv), low);
    }
    const long out_shape[3] = {s.batch, T, C};
    volt_tensor *out = volt_graph_tensor(graph, dt, 3, out_shape);
    VOLT_OP_REQUIRE(out, VOLT_ERR_NOMEM, "causal_self_attention: out of memory for the output");
    int record = volt_graph_needs_grad(graph, &qkv, 1);
    /* P of every (b, h) when backward needs it, else one [T, T] block reused */
    volt_tensor *p_all = NULL;
    void *p_block = NULL;
    if (record) {
        const long p_shape[4] = {s.batch, s.heads, T, T};
        p_all = volt_graph_tensor(graph, dt, 4, p_shape);
        VOLT_OP_REQUIRE(p_all, VOLT_ERR_NOMEM,
                        "causal_self_attention: out of memory for the attention weights");
    } else {
        p_block = volt_graph_alloc(graph, (size_t)(T > 0 ? T * T : 1) * volt_dtype_size(dt));
        VOLT_OP_REQUIRE(p_block, VOLT_ERR_NOMEM,
                        "causal_self_attention: out of memory for the attention weights");
    }
    if (T > 0)
        for (long b = 0; b < s.batch; b++)
            for (long h = 0; h < s.heads; h++) {
                long qo = q_offset(&s, b, h);
                const void *q = element(dt, operands->data, qo);
                const void *k = element(dt, operands->data, qo + C);
                const void *v = element(dt, operands->data, qo + 2 * C);
                void *p = record ? element(dt, p_all->data, (b * s.heads + h) * T * T) : p_block;
                /* S [T, T] = q [T, d] k^T [d, T] scale, then P in place; out = P v */
                volt_op_gemm(dt, CblasNoTrans, CblasTrans, T, T, d, s.scale, q, ld_qkv, k, ld_qkv,
                             0.0, p, T);
                if (dt == VOLT_F64)
                    causal_softmax_f64(p, T);
                else
                    causal_softmax_f32(p, T);
                if (low != VOLT_F32) volt_round_to_dtype(p, (size_t)(T * T), low);
                volt_op_gemm(dt, CblasNoTrans, CblasNoTrans, T, d, T, 1.0, p, T, v, ld_qkv, 0.0,
                             element(dt, out->data, out_offset(&s, b, h)), C);
            }
    if (low != VOLT_F32) volt_round_to_dtype(out->data, volt_tensor_numel(out), low);
    if (record) {
        volt_node *node = volt_graph_record(
            graph, "causal_self_attention",
            low != VOLT_F32 ? attention_backward_autocast : attention_backward, out, &qkv, 1);
        if (!node) return NULL;
        node->saved[0] = p_all;
        node->saved[1] = operands;
        node->integers[1] = (long)low;
        node->integers[0] = n_head;
        node->scalars[0] = s.scale;
        node->flops = 4.0 * (double)s.batch * (double)T * (double)T * (double)C;
    }
    return out;
}
