/* lib/ops/matmul.c — matrix products through CBLAS GEMM.
 *
 * matmul:  C = A B, A [M, K], B [K, N] (or a batch of B such pairs).
 *          dA += dC B^T, dB += A^T dC.
 * linear:  y = x W^T + b, x flattened to [N, in], W [out, in], b [out].
 *          dx += dy W, dW += dy^T x, db += sum over rows of dy.
 * Every product is one GEMM per matrix (backward ones with beta = 1, accumulating into
 * the gradients). An operand whose last two dimensions are a transposed view (strides
 * swapped) reaches BLAS as a transpose flag on the same memory, never as a copy; only a
 * layout BLAS cannot address (no unit stride in either dimension) is copied first. */
#include <cblas.h>
#include <limits.h>
#include <string.h>

#include "ops/op_util.h"

static enum CBLAS_TRANSPOSE flip(enum CBLAS_TRANSPOSE t) {
    return t == CblasNoTrans ? CblasTrans : CblasNoTrans;
}

/* How BLAS reads a matrix [rows, cols] stored with strides (row_stride, col_stride). */
typedef struct gemm_operand {
    enum CBLAS_TRANSPOSE trans; /* NoTrans: row-major; Trans: a row-major [cols, rows] */
    long ld;                    /* leading dimension of the stored row-major matrix */
} gemm_operand;

static long max_long(long a, long b) { return a > b ? a : b; }

/* The operand of the last two dimensions of t, or 0 when BLAS cannot address them
 * (then the caller makes t contiguous). A dimension of size 1 has no meaningful stride. */
static int gemm_layout(const volt_tensor *t, gemm_operand *out) {
    long rows = t->shape[t->ndim - 2], cols = t->shape[t->ndim - 1];
    long row_stride = t->strides[t->ndim - 2], col_stride = t->strides[t->ndim - 1];
    long ld_limit = (long)INT_MAX;
    if (rows == 0 || cols == 0) { /* no element to read: strides do not matter (a
                                   * contiguous [R, 0] has row stride 0) */
        out->trans = CblasNoTrans;
        out->ld = max_long(1, cols);
        return 1;
    }
    if ((cols <= 1 || col_stride == 1) && (rows <= 1 || row_stride >= max_long(1, cols))) {
        out->trans = CblasNoTrans;
        out->ld = rows <= 1 ? max_long(1, cols) : row_stride;
        return out->ld <= ld_limit;
    }
    if ((rows <= 1 || row_stride == 1) && (cols <= 1 || col_stride >= max_long(1, rows))) {
        out->trans = CblasTrans;
        out->ld = cols <= 1 ? max_long(1, rows) : col_stride;
        return out->ld <= ld_limit;
    }
    return 0;
}

/* t, or a contiguous copy when its last two dimensions are no BLAS layout. */
static volt_tensor *gemm_ready(volt_tensor *t, gemm_operand *layout) {
    if (gemm_layout(t, layout)) return t;
    t = volt_contiguous(t);
    if (t && !gemm_layout(t, layout)) {
        char d[96];
        VOLT_ERROR(VOLT_ERR_SHAPE, "matmul: %s is too large for BLAS's 32-bit sizes",
                   volt_tensor_describe(t, d, sizeof d));
        return NULL;
    }
    return t;
}

static int fits_blas(long m, long n, long k) {
    return m <= (long)INT_MAX && n <= (long)INT_MAX && k <= (long)INT_MAX;
}

/* Element pointer at an element offset. */
static const void *at(const volt_tensor *t, const void *base, long offset) {
    return (const char *)base + (ptrdiff_t)offset * (ptrdiff_t)volt_dtype_size(t->dtype);
}
static void *at_mut(const volt_tensor *t, void *base, long offset) {
    return (char *)base + (ptrdiff_t)offset * (ptrdiff_t)volt_dtype_size(t->dtype);
}

/* --- matmul -------------------------------------------------------------------------- */

/* Sizes of a (batched) product: a [batch, m, k] x b [batch, k, n]. */
typedef struct matmul_sizes {
    long batch, m, n, k;
    long a_batch_stride, b_batch_stride; /* elements between batch matrices of a, b */
} matmul_sizes;

static matmul_sizes matmul_sizes_of(const volt_tensor *a, const volt_tensor *b) {
    int d = a->ndim;
    matmul_sizes s = {1, a->shape[d - 2], b->shape[d - 1], a->shape[d - 1], 0, 0};
    if (d == 3) {
        s.batch = a->shape[0];
        s.a_batch_stride = a->strides[0];
        s.b_batch_stride = b->strides[0];
    }
    return s;
}

static int matmul_backward(volt_graph *graph, volt_node *node) {
    volt_tensor *a = node->inputs[0], *b = node->inputs[1];
    const volt_tensor *dc = node->output->grad;
    gemm_operand la, lb;
    if (!gemm_layout(a, &la) || !gemm_layout(b, &lb))
        return VOLT_ERROR(VOLT_ERR_INTERNAL, "matmul backward: an input lost its BLAS layout");
    matmul_sizes s = matmul_sizes_of(a, b);
    if (a->requires_grad) {
        volt_tensor *da = volt_grad_of(graph, a);
        VOLT_CHECK_PTR(da);
        for (long i = 0; i < s.batch; i++) /* dA [m, k] += dC [m, n] B^T [n, k] */
            volt_op_gemm(a->dtype, CblasNoTrans, flip(lb.trans), s.m, s.k, s.n, 1.0,
                         at(dc, dc->data, i * s.m * s.n), s.n, at(b, b->data, i * s.b_batch_stride),
                         lb.ld, 1.0, at_mut(da, da->data, i * s.m * s.k), s.k);
    }
    if (b->requires_grad) {
        volt_tensor *db = volt_grad_of(graph, b);
        VOLT_CHECK_PTR(db);
        for (long i = 0; i < s.batch; i++) /* dB [k, n] += A^T [k, m] dC [m, n] */
            volt_op_gemm(b->dtype, flip(la.trans), CblasNoTrans, s.k, s.n, s.m, 1.0,
                         at(a, a->data, i * s.a_batch_stride), la.ld,
                         at(dc, dc->data, i * s.m * s.n), s.n, 1.0,
                         at_mut(db, db->data, i * s.k * s.n), s.n);
    }
    return VOLT_OK;
}

volt_tensor *volt_matmul(volt_tensor *a, volt_tensor *b) {
    VOLT_OP_INPUTS(a, b);
    if (!volt_op_check_float("matmul", a) || !volt_op_check_same_kind("matmul", a, b))
        return NULL;
    char da[96], db[96];
    int d = a->ndim;
    VOLT_OP_REQUIRE((d == 2 || d == 3) && b->ndim == d &&
                        (d == 2 || a->shape[0] == b->shape[0]) &&
                        a->shape[d - 1] == b->shape[d - 2],
                    VOLT_ERR_SHAPE,
                    "matmul: cannot multiply %s by %s (expected [M, K] x [K, N] or "
                    "[B, M, K] x [B, K, N])",
                    volt_tensor_describe(a, da, sizeof da), volt_tensor_describe(b, db, sizeof db));
    volt_tensor *inputs[2] = {a, b};
    volt_graph *graph = volt_op_graph("matmul", inputs, 2);
    if (!graph) return NULL;
    gemm_operand la, lb;
    a = gemm_ready(a, &la);
    if (!a) return NULL;
    b = gemm_ready(b, &lb);
    if (!b) return NULL;
    matmul_sizes s = matmul_sizes_of(a, b);
    VOLT_OP_REQUIRE(fits_blas(s.m, s.n, s.k), VOLT_ERR_SHAPE,
                    "matmul: %s x %s is too large for BLAS's 32-bit sizes",
                    volt_tensor_describe(a, da, sizeof da), volt_tensor_describe(b, db, sizeof db));
    long shape[3] = {s.batch, s.m, s.n};
    volt_tensor *c = volt_graph_tensor(graph, a->dtype, d, d == 3 ? shape : shape + 1);
    VOLT_OP_REQUIRE(c, VOLT_ERR_NOMEM, "matmul: out of memory for the output");
    for (long i = 0; i < s.batch; i++)
        volt_op_gemm(a->dtype, la.trans, lb.trans, s.m, s.n, s.k, 1.0,
                     at(a, a->data, i * s.a_batch_stride), la.ld,
                     at(b, b->data, i * s.b_batch_stride), lb.ld, 0.0,
                     at_mut(c, c->data, i * s.m * s.n), s.n);
    inputs[0] = a, inputs[1] = b;
    if (volt_graph_needs_grad(graph, inputs, 2)) {
        volt_node *node = volt_graph_record(graph, "matmul", matmul_backward, c, inputs, 2);
        if (!node) return NULL;
        node->flops = 2.0 * (double)s.batch * (double)s.m * (double)s.n * (double)s.k;
    }
    return c;
}

/* --- linear -------------------------------------------------------------------------- */

#define LINEAR_KERNELS(T, S)                                                           \
    /* y[r, o] += bias[o] */                                                           \
    static void bias_rows_##S(const T *restrict bias, T *restrict y, long rows, long out) { \
        for (long r = 0; r < rows; r++)                                                \
            for (long o = 0; o < out; o++) y[r * out + o] += bias[o];                  \
    }                                                                                  \
    /* dbias[o] += sum over r of dy[r, o] */                                           \
    static void column_sums_##S(const T *restrict dy, T *restrict dbias, long rows, long out) { \
        for (long r = 0; r < rows; r++)                                                \
            for (long o = 0; o < out; o++) dbias[o] += dy[r * out + o];                \
    }
LINEAR_KERNELS(float, f32)
LINEAR_KERNELS(double, f64)

/* Rows of x once flattened to [rows, in]. */
static long linear_rows(const volt_tensor *x) {
    long rows = 1;
    for (int d = 0; d < x->ndim - 1; d++) rows *= x->shape[d];
    return rows;
}

static int linear_backward(volt_graph *graph, volt_node *node) {
    volt_tensor *x = node->inputs[0], *weight = node->inputs[1];
    volt_tensor *bias = node->input_count > 2 ? node->inputs[2] : NULL;
    const volt_tensor *dy = node->output->grad;
    gemm_operand lw;
    if (!gemm_layout(weight, &lw))
        return VOLT_ERROR(VOLT_ERR_INTERNAL, "linear backward: the weight lost its BLAS layout");
    long rows = linear_rows(x), in = weight->shape[1], out = weight->shape[0];
    if (x->requires_grad) { /* dx [rows, in] += dy [rows, out] W [out, in] */
        volt_tensor *dx = volt_grad_of(graph, x);
        VOLT_CHECK_PTR(dx);
        volt_op_gemm(x->dtype, CblasNoTrans, lw.trans, rows, in, out, 1.0, dy->data, out,
                     weight->data, lw.ld, 1.0, dx->data, in);
    }
    if (weight->requires_grad) { /* dW [out, in] += dy^T [out, rows] x [rows, in] */
        volt_tensor *dw = volt_grad_of(graph, weight);
        VOLT_CHECK_PTR(dw);
        volt_op_gemm(x->dtype, CblasTrans, CblasNoTrans, out, in, rows, 1.0, dy->data, out, x->data,
                     in, 1.0, dw->data, in);
    }
    if (bias && bias->requires_grad) {
        volt_tensor *dbias = volt_grad_of(graph, bias);
        VOLT_CHECK_PTR(dbias);
        if (x->dtype == VOLT_F64) column_sums_f64(dy->data, dbias->data, rows, out);
        else column_sums_f32(dy->data, dbias->data, rows, out);
    }
    return VOLT_OK;
}

/* --- linear under autocast (the 16-bit mixed precisions on the CPU) -------------------- */

/* With the graph's autocast set to bf16 or f16 (the trainer's bf16-mixed and 16-mixed),
 * an f32 linear computes what a 16-bit product on a GPU does: x, W and b are rounded to
 * the 16-bit type (copies: the f32 master weights stay as they are), the GEMM accumulates
 * in f32, and y is rounded again. Backward likewise: dy is rounded, and each product
 * (dx = dy W, dW = dy^T x, db = column sums of dy) is rounded before it is added to the
 * f32 gradients, as the gradient of a 16-bit copy reaches its f32 master. The rounded
 * operands are kept for backward. */

/* A contiguous f32 copy of t (contiguous f32) rounded to low, from the arena. */
static volt_tensor *rounded_copy(volt_graph *graph, const volt_tensor *t, volt_dtype low) {
    volt_tensor *copy = volt_graph_tensor(graph, VOLT_F32, t->ndim, t->shape);
    if (!copy) return NULL;
    size_t n = volt_tensor_numel(t);
    memcpy(copy->data, t->data, n * sizeof(float));
    volt_round_to_dtype(copy->data, n, low);
    return copy;
}

/* dst[i] += round(src[i]) for n elements; src is rounded in place first. */
static void add_rounded(float *restrict dst, float *restrict src, size_t n, volt_dtype low) {
    volt_round_to_dtype(src, n, low);
    for (size_t i = 0; i < n; i++) dst[i] += src[i];
}

static int linear_autocast_backward(volt_graph *graph, volt_node *node) {
    volt_tensor *x = node->inputs[0], *weight = node->inputs[1];
    volt_tensor *bias = node->input_count > 2 ? node->inputs[2] : NULL;
    const volt_tensor *x_low = node->saved[0], *w_low = node->saved[1];
    const volt_dtype low = (volt_dtype)node->integers[0];
    long rows = linear_rows(x), in = weight->shape[1], out = weight->shape[0];
    volt_tensor *dy = rounded_copy(graph, node->output->grad, low);
    size_t scratch_elements = (size_t)(rows > out ? rows : out) * (size_t)in;
    float *scratch = volt_graph_alloc(graph, scratch_elements * sizeof(float));
    if (!dy || !scratch)
        return VOLT_ERROR(VOLT_ERR_NOMEM, "linear backward (autocast): out of memory");
    if (x->requires_grad) { /* dx [rows, in] += round(dy [rows, out] W [out, in]) */
        volt_tensor *dx = volt_grad_of(graph, x);
        VOLT_CHECK_PTR(dx);
        volt_op_gemm(VOLT_F32, CblasNoTrans, CblasNoTrans, rows, in, out, 1.0, dy->data, out,
                     w_low->data, in, 0.0, scratch, in);
        add_rounded(dx->data, scratch, (size_t)rows * (size_t)in, low);
    }
    if (weight->requires_grad) { /* dW [out, in] += round(dy^T [out, rows] x [rows, in]) */
        volt_tensor *dw = volt_grad_of(graph, weight);
        VOLT_CHECK_PTR(dw);
        volt_op_gemm(VOLT_F32, CblasTrans, CblasNoTrans, out, in, rows, 1.0, dy->data, out,
                     x_low->data, in, 0.0, scratch, in);
        add_rounded(dw->data, scratch, (size_t)out * (size_t)in, low);
    }
    if (bias && bias->requires_grad) {
        volt_tensor *dbias = volt_grad_of(graph, bias);
        VOLT_CHECK_PTR(dbias);
        memset(scratch, 0, (size_t)out * sizeof(float));
        column_sums_f32(dy->data, scratch, rows, out);
        add_rounded(dbias->data, scratch, (size_t)out, low);
    }
    return VOLT_OK;
}

/* y = round(round(x) round(W)^T + round(b)); x and bias contiguous f32, y allocated. */
static volt_tensor *linear_autocast(volt_graph *graph, volt_dtype low, volt_tensor *x,
                                    volt_tensor *weight, volt_tensor *bias, volt_tensor *y) {
    volt_tensor *w = volt_contiguous(weight);
    if (!w) return NULL;
    volt_tensor *inputs[3] = {x, w, bias};
    int count = bias ? 3 : 2;
    long rows = linear_rows(x), in = w->shape[1], out = w->shape[0];
    volt_tensor *x_low = rounded_copy(graph, x, low), *w_low = rounded_copy(graph, w, low);
    volt_tensor *b_low = bias ? rounded_copy(graph, bias, low) : NULL;
    VOLT_OP_REQUIRE(x_low && w_low && (b_low || !bias), VOLT_ERR_NOMEM,
                    "linear (autocast): out of memory for the 16-bit operands");
    volt_op_gemm(VOLT_F32, CblasNoTrans, CblasTrans, rows, out, in, 1.0, x_low->data, in,
                 w_low->data, in, 0.0, y->data, out);
    if (b_low) bias_rows_f32(b_low->data, y->data, rows, out);
    volt_round_to_dtype(y->data, (size_t)rows * (size_t)out, low);
    if (volt_graph_needs_grad(graph, inputs, count)) {
        volt_node *node =
            volt_graph_record(graph, "linear", linear_autocast_backward, y, inputs, count);
        if (!node) return NULL;
        node->saved[0] = x_low;
        node->saved[1] = w_low;
        node->integers[0] = (long)low;
        node->flops = 2.0 * (double)rows * (double)in * (double)out;
    }
    return y;
}

volt_tensor *volt_linear_fn(volt_tensor *x, volt_tensor *weight, volt_tensor *bias) {
    VOLT_OP_INPUTS(x, weight); /* bias NULL: no bias */
    if (!volt_op_check_float("linear", x) || !volt_op_check_same_kind("linear", x, weight) ||
        (bias && !volt_op_check_same_kind("linear", x, bias)))
        return NULL;
    char dx[96], dw[96], dbias[96] = "none";
    if (bias) volt_tensor_describe(bias, dbias, sizeof dbias);
    VOLT_OP_REQUIRE(x->ndim >= 1 && weight->ndim == 2 && x->shape[x->ndim - 1] == weight->shape[1] &&
                        (!bias || (bias->ndim == 1 && bias->shape[0] == weight->shape[0])),
                    VOLT_ERR_SHAPE,
                    "linear: x %s, weight %s, bias %s do not fit (expected x [..., in], weight "
                    "[out, in], bias [out])",
                    volt_tensor_describe(x, dx, sizeof dx),
                    volt_tensor_describe(weight, dw, sizeof dw), dbias);
    volt_tensor *inputs[3] = {x, weight, bias};
    int count = bias ? 3 : 2;
    volt_graph *graph = volt_op_graph("linear", inputs, count);
    if (!graph) return NULL;
    x = volt_contiguous(x);
    if (!x) return NULL;
    gemm_operand lw;
    weight = gemm_ready(weight, &lw);
    if (!weight) return NULL;
    if (bias) {
        bias = volt_contiguous(bias);
        if (!bias) return NULL;
    }
    long rows = linear_rows(x), in = weight->shape[1], out = weight->shape[0];
    VOLT_OP_REQUIRE(fits_blas(rows, in, out), VOLT_ERR_SHAPE,
                    "linear: x %s with weight %s is too large for BLAS's 32-bit sizes",
                    volt_tensor_describe(x, dx, sizeof dx),
                    volt_tensor_describe(weight, dw, sizeof dw));
    long shape[VOLT_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = out;
    volt_tensor *y = volt_graph_tensor(graph, x->dtype, x->ndim, shape);
    VOLT_OP_REQUIRE(y, VOLT_ERR_NOMEM, "linear: out of memory for the output");
    volt_dtype low = volt_graph_autocast(graph);
    if (low != VOLT_F32 && x->dtype == VOLT_F32)
        return linear_autocast(graph, low, x, weight, bias, y);
    /* y [rows, out] = x [rows, in] W^T [in, out] */
    volt_op_gemm(x->dtype, CblasNoTrans, flip(lw.trans), rows, out, in, 1.0, x->data, in,
                 weight->data, lw.ld, 0.0, y->data, out);
    if (bias) {
        if (x->dtype == VOLT_F64)
            bias_rows_f64(bias->data, y->data, rows, out);
        else bias_rows_f32(bias->data, y->data, rows, out);
    }
    inputs[0] = x, inputs[1] = weight, inputs[2] = bias;
    if (volt_graph_needs_grad(graph, inputs, count)) {
        volt_node *node = volt_graph_record(graph, "linear", linear_backward, y, inputs, count);
        if (!node) return NULL;
        node->flops = 2.0 * (double)rows * (double)in * (double)out;
    }
    return y;
}
