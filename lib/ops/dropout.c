/* lib/ops/dropout.c — inverted dropout.
 *
 *   m_i = [bits_i >= threshold],  bits_i = volt_rng_bits(seed, stream, i),
 *   threshold = round(p 2^32) (so P(m_i = 1) = 1 - p up to 2^-32)
 *   y_i = x_i m_i / (1 - p)        dx_i = dy_i m_i / (1 - p)
 * i runs over the elements in row-major order of the logical shape, counted from the
 * graph's batch offset (volt_graph_set_batch_offset: the rank's first row in the global
 * batch) times the elements of a row (those of dimension 0), so that a rank's part of the
 * batch draws the masks of the same rows of a one-rank run. The stream is a fresh one
 * of the graph (volt_graph_next_stream) per call, so the mask depends only on (graph
 * seed, step, call within the step, global i), on any data-parallel layout. The mask is not
 * stored: backward regenerates it from (seed, stream) kept in the node. Evaluation
 * mode, or p == 0, returns x itself. */
#include <math.h>

#include "core/rng.h"
#include "ops/op_util.h"

typedef struct dropout_saved {
    uint64_t seed, stream;
    uint64_t first; /* the global number of element 0 */
    uint32_t threshold;
    double scale; /* 1 / (1 - p) */
} dropout_saved;

/* out[i] ASSIGN in[i] * m_i * scale (ASSIGN is = for forward, += for backward) */
#define DROPOUT_KERNEL(NAME, ASSIGN, T, S)                                             \
    static void NAME##_##S(const dropout_saved *saved, const T *restrict in,           \
                           T *restrict out, size_t n) {                                \
        const T scale = (T)saved->scale;                                               \
        uint32_t words[4];                                                             \
        uint64_t block = UINT64_MAX;                                                   \
        for (size_t i = 0; i < n; i++) {                                               \
            const uint64_t g = saved->first + i; /* element g is word g % 4 */         \
            if (g / 4 != block) {                                                      \
                block = g / 4;                                                         \
                volt_rng_block(saved->seed, saved->stream, block, words);              \
            }                                                                          \
            out[i] ASSIGN in[i] * (words[g % 4] >= saved->threshold ? scale : (T)0);   \
        }                                                                              \
    }
DROPOUT_KERNEL(dropout_forward, =, float, f32)
DROPOUT_KERNEL(dropout_forward, =, double, f64)
DROPOUT_KERNEL(dropout_backward, +=, float, f32)
DROPOUT_KERNEL(dropout_backward, +=, double, f64)

static int dropout_backward(volt_graph *graph, volt_node *node) {
    const dropout_saved *saved = node->extra;
    volt_tensor *x = node->inputs[0], *y = node->output;
    volt_tensor *dx = volt_grad_of(graph, x);
    VOLT_CHECK_PTR(dx);
    size_t n = volt_tensor_numel(x);
    if (x->dtype == VOLT_F64) dropout_backward_f64(saved, y->grad->data, dx->data, n);
    else dropout_backward_f32(saved, y->grad->data, dx->data, n);
    return VOLT_OK;
}

volt_tensor *volt_dropout_fn(volt_tensor *x, double p) {
    VOLT_OP_INPUTS(x);
    VOLT_OP_REQUIRE(p >= 0 && p < 1, VOLT_ERR_ARG,
                    "dropout: probability p = %g is outside [0, 1)", p);
    if (!volt_op_check_float("dropout", x)) return NULL;
    volt_graph *graph = volt_op_graph("dropout", &x, 1);
    if (!graph) return NULL;
    if (!volt_graph_training(graph) || p == 0) return x;
    x = volt_contiguous(x);
    if (!x) return NULL;
    volt_tensor *y = volt_graph_tensor(graph, x->dtype, x->ndim, x->shape);
    dropout_saved *saved = volt_graph_alloc(graph, sizeof *saved);
    VOLT_OP_REQUIRE(y && saved, VOLT_ERR_NOMEM, "dropout: out of memory for the output");
    double threshold = nearbyint(p * 4294967296.0);
    saved->seed = volt_graph_seed(graph);
    saved->stream = volt_graph_next_stream(graph);
    saved->threshold = threshold > 4294967295.0 ? UINT32_MAX : (uint32_t)threshold;
    saved->scale = 1.0 / (1.0 - p);
    size_t n = volt_tensor_numel(x);
    /* rows before this rank's part of the batch, in elements of this tensor's rows */
    const size_t row = x->ndim > 0 && x->shape[0] > 0 ? n / (size_t)x->shape[0] : n;
    saved->first = (uint64_t)volt_graph_batch_offset(graph) * row;
    if (x->dtype == VOLT_F64) dropout_forward_f64(saved, x->data, y->data, n);
    else dropout_forward_f32(saved, x->data, y->data, n);
    if (volt_graph_needs_grad(graph, &x, 1)) {
        volt_node *node = volt_graph_record(graph, "dropout", dropout_backward, y, &x, 1);
        if (!node) return NULL;
        node->extra = saved;
        node->flops = (double)n;
    }
    return y;
}
