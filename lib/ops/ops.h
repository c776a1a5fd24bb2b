/* lib/ops/ops.h — differentiable operations, forward and backward.
 *
 * Each op validates its inputs (dtype, shape, device), allocates its output from the
 * inputs' graph arena, runs the kernel for the device, and records a tape node when
 * gradients are needed. Floating ops accept f32 and f64 (f64 is for gradient checks);
 * all inputs of one op share a dtype, except index tensors (i32 or i64).
 *
 * Failure: an op pushes an error naming the op and the offending shapes and returns
 * NULL; an op given a NULL input returns NULL at once (the first error is the one
 * reported). Parameters (tensors of a volt_params store) have no graph; an op takes its
 * graph from the first input that has one, and fails if none has.
 *
 * Kernels receive raw pointers and sizes, never tensors; they live next to their op,
 * one op (forward and backward) per file, with the math in the file's first comment. */
#ifndef VOLT_OPS_OPS_H
#define VOLT_OPS_OPS_H

#include "autograd/graph.h"

/* --- linear algebra (CBLAS sgemm/dgemm; transposed views become BLAS transposes) --- */

/* [M, K] x [K, N] -> [M, N], or batched [B, M, K] x [B, K, N] -> [B, M, N]. Either input
 * may be a transposed view (volt_transpose of its last two dims) without a copy. */
volt_tensor *volt_matmul(volt_tensor *a, volt_tensor *b);
/* y = x weight^T + bias: x [..., in] contiguous, weight [out, in], bias [out] or NULL;
 * y [..., out]. */
volt_tensor *volt_linear_fn(volt_tensor *x, volt_tensor *weight, volt_tensor *bias);

/* --- elementwise, with numpy broadcasting of trailing dimensions -------------------- */

volt_tensor *volt_add(volt_tensor *a, volt_tensor *b);
volt_tensor *volt_sub(volt_tensor *a, volt_tensor *b);
volt_tensor *volt_mul(volt_tensor *a, volt_tensor *b);
/* y = s x */
volt_tensor *volt_scale(volt_tensor *x, double s);
/* y[..., c] = x[..., c] + bias[c] */
volt_tensor *volt_bias_add(volt_tensor *x, volt_tensor *bias);

/* --- activations ------------------------------------------------------------------- */

volt_tensor *volt_relu(volt_tensor *x);
/* tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
volt_tensor *volt_gelu(volt_tensor *x);
volt_tensor *volt_tanh(volt_tensor *x);
volt_tensor *volt_sigmoid(volt_tensor *x);
/* Along the last dimension. */
volt_tensor *volt_softmax(volt_tensor *x);
volt_tensor *volt_log_softmax(volt_tensor *x);

/* --- losses (scalar results, mean reduction) --------------------------------------- */

enum { VOLT_IGNORE_INDEX = -100 };
/* logits [N, C] (or [..., C], flattened), targets i32/i64 of the leading shape with
 * values in [0, C) or ignore_index; mean over the targets not ignored (0 if none). A
 * target out of range is an error naming it. */
volt_tensor *volt_cross_entropy(volt_tensor *logits, volt_tensor *targets);
volt_tensor *volt_cross_entropy_ex(volt_tensor *logits, volt_tensor *targets,
                                   long ignore_index);
/* mean((prediction - target)^2); gradients flow to both. */
volt_tensor *volt_mse_loss(volt_tensor *prediction, volt_tensor *target);

/* --- normalisation, embedding, dropout -------------------------------------------- */

/* Over the last dimension C: y = (x - mean) / sqrt(var + eps) * weight + bias,
 * var biased (divide by C); weight, bias [C]. */
volt_tensor *volt_layer_norm_fn(volt_tensor *x, volt_tensor *weight, volt_tensor *bias,
                                double eps);
/* weight [V, C], indices i32/i64 of any shape S with values in [0, V) -> S + [C]. */
volt_tensor *volt_embedding_fn(volt_tensor *weight, volt_tensor *indices);
/* Inverted dropout: keeps an element with probability 1 - p and scales it by 1/(1-p).
 * The mask is element i of a fresh stream of the graph's seed (counter-based, so it
 * is the same on any rank layout). In evaluation mode, or p == 0, returns x itself. */
volt_tensor *volt_dropout_fn(volt_tensor *x, double p);

/* --- shape -------------------------------------------------------------------------- */

/* A view with a new shape of the same element count; one dimension may be -1. The
 * input must be contiguous. */
volt_tensor *volt_reshape(volt_tensor *x, int ndim, const long *shape);
/* A view with dimensions d0 and d1 swapped (no copy; strides swapped). */
volt_tensor *volt_transpose(volt_tensor *x, int d0, int d1);
/* x itself if contiguous, else a row-major copy. */
volt_tensor *volt_contiguous(volt_tensor *x);

/* --- reductions --------------------------------------------------------------------- */

volt_tensor *volt_sum(volt_tensor *x);   /* scalar */
volt_tensor *volt_mean(volt_tensor *x);  /* scalar */
/* Sum over one dimension, which is removed (or kept with size 1 if keepdim). */
volt_tensor *volt_sum_dim(volt_tensor *x, int dim, int keepdim);

/* --- attention ------------------------------------------------------------------------ */

/* Causal multi-head self-attention on packed projections: qkv [B, T, 3C] holds q, k, v
 * (each [B, T, C], head h in columns [h*C/H, (h+1)*C/H)); out [B, T, C] with
 * out_h = softmax(q_h k_h^T / sqrt(C/H) + causal mask) v_h. C must divide by n_head. */
volt_tensor *volt_causal_self_attention(volt_tensor *qkv, int n_head);

#endif
