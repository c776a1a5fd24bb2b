/* tests/unit/test_ops_linalg.c — matmul, linear, layer_norm, embedding and causal
 * self-attention: values against naive loops written here, gradients against central
 * finite differences (f64, and f32), and the errors that bad inputs give.
 *
 * The f32 gradient checks of the bilinear ops (matmul, linear) use inputs that are
 * multiples of 1/16 in [-1, 1] and a step of 1/128: every product and sum is then exact
 * in f32, so the finite differences see no rounding at all and only a wrong backward can
 * fail them. The nonlinear ops (layer_norm, attention) are checked in f32 at a step of
 * 1e-2, with input ranges where rounding and truncation stay below a quarter of the
 * tolerance. */
#include "gradcheck.h"
#include "ops/op_util.h"
#include "ops/ops.h"
#include "volt_test.h"

static const double F32_STEP = 1.0 / 128;

/* A leaf whose values are multiples of 1/16 (exact in f32, and so are their products). */
static volt_tensor *dyadic_leaf(volt_graph *g, volt_dtype dtype, int ndim, const long *shape,
                                uint64_t seed) {
    volt_tensor *t = volt_test_leaf(g, dtype, ndim, shape, 1, seed, -1.0, 1.0);
    size_t n = volt_tensor_numel(t);
    for (size_t i = 0; i < n; i++)
        volt_tensor_set_flat(t, i, round(volt_tensor_get_flat(t, i) * 16) / 16);
    return t;
}


static double flops_of(volt_graph *g, const volt_tensor *y) {
    return y && y->node >= 0 ? volt_graph_node(g, y->node)->flops : -1;
}

static void expect_error(const char *needle) {
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), needle);
    volt_error_clear();
}

/* --- matmul -------------------------------------------------------------------------- */

/* Largest |c - a b| over the logical (possibly strided) views, 2D or batched 3D. */
static double matmul_error(const volt_tensor *a, const volt_tensor *b, const volt_tensor *c) {
    int d = a->ndim;
    long batch = d == 3 ? a->shape[0] : 1, M = a->shape[d - 2], K = a->shape[d - 1],
         N = b->shape[d - 1];
    double worst = 0;
    for (long s = 0; s < batch; s++)
        for (long i = 0; i < M; i++)
            for (long j = 0; j < N; j++) {
                double sum = 0;
                for (long k = 0; k < K; k++) {
                    long ai[3] = {s, i, k}, bi[3] = {s, k, j};
                    sum += volt_tensor_get(a, d == 3 ? ai : ai + 1) *
                           volt_tensor_get(b, d == 3 ? bi : bi + 1);
                }
                long ci[3] = {s, i, j};
                worst = fmax(worst, fabs(volt_tensor_get(c, d == 3 ? ci : ci + 1) - sum));
            }
    return worst;
}

/* Which operands are transposed views of their leaves (the leaf then holds [.., K, M]
 * for a, [.., N, K] for b); batch_view: a is a [B, M, K] view of an [M, B, K] leaf. */
typedef struct matmul_case {
    int transpose_a, transpose_b, batch_view;
} matmul_case;

static volt_tensor *matmul_operands(volt_tensor **in, const matmul_case *mc) {
    int d = in[0]->ndim;
    volt_tensor *a = in[0], *b = in[1];
    if (mc->batch_view) a = volt_transpose(a, 0, 1);
    if (mc->transpose_a) a = volt_transpose(a, d - 2, d - 1);
    if (mc->transpose_b) b = volt_transpose(b, d - 2, d - 1);
    in[2] = a, in[3] = b; /* the views, for the reference */
    return volt_matmul(a, b);
}

static volt_tensor *matmul_of(volt_tensor **in, void *user) {
    volt_tensor *views[4] = {in[0], in[1], NULL, NULL};
    return matmul_operands(views, user);
}

/* Leaves for a product [batch,] M x K x N in the layout the case asks for. */
static void matmul_leaves(volt_graph *g, volt_dtype dtype, const matmul_case *mc, long batch,
                          long M, long K, long N, volt_tensor **leaves) {
    long a_rows = mc->transpose_a ? K : M, a_cols = mc->transpose_a ? M : K;
    long b_rows = mc->transpose_b ? N : K, b_cols = mc->transpose_b ? K : N;
    long a_shape[3] = {batch, a_rows, a_cols}, b_shape[3] = {batch, b_rows, b_cols};
    if (mc->batch_view) a_shape[0] = a_rows, a_shape[1] = batch; /* [M, B, K] */
    int d = batch ? 3 : 2;
    leaves[0] = dyadic_leaf(g, dtype, d, batch ? a_shape : a_shape + 1, 11);
    leaves[1] = dyadic_leaf(g, dtype, d, batch ? b_shape : b_shape + 1, 12);
}

/* Every transpose combination, 2D and batched, f64 and f32: the values, no copy of a
 * transposed view (no contiguous node on the tape), the flops, and both gradients. */
VOLT_TEST(matmul_every_transpose_values_and_gradients) {
    volt_graph *g;
    VOLT_EXPECT_OK(volt_graph_create(NULL, &g));
    const long M = 3, K = 4, N = 5;
    for (int batched = 0; batched <= 1; batched++)
        for (int ta = 0; ta <= 1; ta++)
            for (int tb = 0; tb <= 1; tb++)
                for (int f32 = 0; f32 <= 1; f32++) {
                    matmul_case mc = {ta, tb, 0};
                    volt_dtype dtype = f32 ? VOLT_F32 : VOLT_F64;
                    volt_tensor *leaves[2];
                    long batch = batched ? 2 : 0;
                    matmul_leaves(g, dtype, &mc, batch, M, K, N, leaves);
                    volt_tensor *views[4] = {leaves[0], leaves[1], NULL, NULL};
                    volt_tensor *c = matmul_operands(views, &mc);
                    VOLT_EXPECT(c != NULL);
                    if (c) {
                        VOLT_EXPECT_EQ_INT(c->ndim, batched ? 3 : 2);
                        VOLT_EXPECT_EQ_INT(c->shape[c->ndim - 2], M);
                        VOLT_EXPECT_EQ_INT(c->shape[c->ndim - 1], N);
                        double err = matmul_error(views[2], views[3], c);
                        if (!(err <= (f32 ? 1e-5 : 1e-12)))
                            volt_test_fail(__FILE__, __LINE__,
                                           "matmul %s ta=%d tb=%d batched=%d: error %.3g",
                                           volt_dtype_name(dtype), ta, tb, batched, err);
                        for (int i = 0; i < volt_graph_node_count(g); i++)
                            VOLT_EXPECT(strcmp(volt_graph_node(g, i)->name, "contiguous") != 0);
                        VOLT_EXPECT_NEAR(flops_of(g, c), 2.0 * (batched ? 2 : 1) * M * N * K, 0);
                    }
                    if (f32)
                        VOLT_EXPECT_GRADCHECK(g, leaves, 2, matmul_of, &mc, F32_STEP, 2e-3);
                    else
                        VOLT_EXPECT_GRADCHECK(g, leaves, 2, matmul_of, &mc, 1e-6, 1e-6);
                    volt_graph_reset(g);
                    volt_test_leaf_free(leaves[0]);
                    volt_test_leaf_free(leaves[1]);
                }
    volt_graph_destroy(g);
}

/* A batch operand whose batch stride is not M*K (a transpose of the batch dimension)
 * goes to BLAS as it is, with a leading dimension of B*K. */
VOLT_TEST(matmul_batch_view_values_and_gradients) {
    volt_graph *g;
    VOLT_EXPECT_OK(volt_graph_create(NULL, &g));
    for (int ta = 0; ta <= 1; ta++) {
        matmul_case mc = {ta, 1, 1};
        volt_tensor *leaves[2];
        matmul_leaves(g, VOLT_F64, &mc, 3, 2, 4, 5, leaves);
        volt_tensor *views[4] = {leaves[0], leaves[1], NULL, NULL};
        volt_tensor *c = matmul_operands(views, &mc);
        VOLT_EXPECT(c != NULL);
        if (c) VOLT_EXPECT_NEAR(matmul_error(views[2], views[3], c), 0, 1e-12);
        for (int i = 0; i < volt_graph_node_count(g); i++)
            VOLT_EXPECT(strcmp(volt_graph_node(g, i)->name, "contiguous") != 0);
        VOLT_EXPECT_GRADCHECK(g, leaves, 2, matmul_of, &mc, 1e-6, 1e-6);
        volt_graph_reset(g);
        volt_test_leaf_free(leaves[0]);
        volt_test_leaf_free(leaves[1]);
    }
    volt_graph_destroy(g);
}

/* --- linear -------------------------------------------------------------------------- */

/* Largest |y - (x W^T + b)|, x flattened to [rows, in]. */
static double linear_error(const volt_tensor *x, const volt_tensor *w, const volt_tensor *b,
                           const volt_tensor *y) {
    long out = w->shape[0], in = w->shape[1];
    long rows = (long)volt_tensor_numel(x) / in;
    double worst = 0;
    for (long r = 0; r < rows; r++)
        for (long o = 0; o < out; o++) {
            double sum = b ? volt_tensor_get_flat(b, (size_t)o) : 0;
            for (long i = 0; i < in; i++)
                sum += volt_tensor_get_flat(x, (size_t)(r * in + i)) *
                       volt_tensor_get_flat(w, (size_t)(o * in + i));
            worst = fmax(worst, fabs(volt_tensor_get_flat(y, (size_t)(r * out + o)) - sum));
        }
    return worst;
}

static volt_tensor *linear_of(volt_tensor **in, void *user) {
    int with_bias = *(const int *)user;
    return volt_linear_fn(in[0], in[1], with_bias ? in[2] : NULL);
}

/* With and without bias, x 2D [4, 3] and 3D [2, 3, 3], weight [5, 3]. */
VOLT_TEST(linear_values_and_gradients) {
    volt_graph *g;
    VOLT_EXPECT_OK(volt_graph_create(NULL, &g));
    const long x2[] = {4, 3}, x3[] = {2, 3, 3}, w_shape[] = {5, 3}, b_shape[] = {5};
    for (int three_d = 0; three_d <= 1; three_d++)
        for (int with_bias = 0; with_bias <= 1; with_bias++)
            for (int f32 = 0; f32 <= 1; f32++) {
                volt_dtype dtype = f32 ? VOLT_F32 : VOLT_F64;
                volt_tensor *in[3] = {dyadic_leaf(g, dtype, three_d ? 3 : 2, three_d ? x3 : x2, 21),
                                      dyadic_leaf(g, dtype, 2, w_shape, 22),
                                      dyadic_leaf(g, dtype, 1, b_shape, 23)};
                volt_tensor *y = linear_of(in, &with_bias);
                VOLT_EXPECT(y != NULL);
                if (y) {
                    VOLT_EXPECT_EQ_INT(y->ndim, in[0]->ndim);
                    VOLT_EXPECT_EQ_INT(y->shape[y->ndim - 1], 5);
                    VOLT_EXPECT_EQ_INT(y->shape[0], in[0]->shape[0]);
                    double err = linear_error(in[0], in[1], with_bias ? in[2] : NULL, y);
                    if (!(err <= (f32 ? 1e-5 : 1e-12)))
                        volt_test_fail(__FILE__, __LINE__, "linear %s 3d=%d bias=%d: error %.3g",
                                       volt_dtype_name(dtype), three_d, with_bias, err);
                    VOLT_EXPECT_NEAR(flops_of(g, y), 2.0 * 4 * 3 * 5 * (three_d ? 1.5 : 1), 0);
                }
                int count = with_bias ? 3 : 2;
                if (f32)
                    VOLT_EXPECT_GRADCHECK(g, in, count, linear_of, &with_bias, F32_STEP, 2e-3);
                else
                    VOLT_EXPECT_GRADCHECK(g, in, count, linear_of, &with_bias, 1e-6, 1e-6);
                volt_graph_reset(g);
                for (int i = 0; i < 3; i++) volt_test_leaf_free(in[i]);
            }
    volt_graph_destroy(g);
}

/* The value of a 16-bit type nearest to v, as a double. */
static double round_low(double v, volt_dtype low) {
    float f = (float)v;
    volt_round_to_dtype(&f, 1, low);
    return f;
}

/* |got - want| within one unit in the last place of the 16-bit type at want (the f32
 * GEMM may sum in another order than the reference and so round the other way). */
static int within_ulp(double got, double want, volt_dtype low) {
    double ulp =
        ldexp(fmax(fabs(want), low == VOLT_F16 ? 0x1p-14 : 0x1p-126), low == VOLT_F16 ? -10 : -7);
    return fabs(got - want) <= ulp;
}

/* Under autocast (the 16-bit mixed precisions on the CPU) linear computes on operands
 * rounded to bf16 or f16, sums in f32 and rounds its result; backward rounds dy and each
 * product before adding it to the f32 gradients. Against loops here on the rounded
 * values; the f32 masters are left as they were; f32 mode gives other values. */
VOLT_TEST(linear_autocast_rounds_operands_and_results) {
    const long x_shape[] = {6, 7}, w_shape[] = {5, 7}, b_shape[] = {5};
    const volt_dtype lows[] = {VOLT_BF16, VOLT_F16};
    for (int l = 0; l < 2; l++) {
        volt_dtype low = lows[l];
        volt_graph *g;
        VOLT_EXPECT_OK(volt_graph_create(NULL, &g));
        VOLT_EXPECT_FAIL(volt_graph_set_autocast(g, VOLT_I32), VOLT_ERR_ARG);
        VOLT_EXPECT_OK(volt_graph_set_autocast(g, low));
        VOLT_EXPECT_EQ_INT(volt_graph_autocast(g), low);
        volt_tensor *x = volt_test_leaf(g, VOLT_F32, 2, x_shape, 1, 31, -2.0, 2.0);
        volt_tensor *w = volt_test_leaf(g, VOLT_F32, 2, w_shape, 1, 32, -1.0, 1.0);
        volt_tensor *b = volt_test_leaf(g, VOLT_F32, 1, b_shape, 1, 33, -1.0, 1.0);
        float w_before[35];
        memcpy(w_before, w->data, sizeof w_before);
        volt_tensor *y = volt_linear_fn(x, w, b);
        VOLT_EXPECT(y != NULL);
        if (!y) continue;
        int wrong = 0, unrounded = 0;
        for (long r = 0; r < 6; r++)
            for (long o = 0; o < 5; o++) {
                double sum = 0;
                for (long k = 0; k < 7; k++)
                    sum += round_low(((float *)x->data)[r * 7 + k], low) *
                           round_low(((float *)w->data)[o * 7 + k], low);
                sum += round_low(((float *)b->data)[o], low);
                double got = ((float *)y->data)[r * 5 + o];
                wrong += !within_ulp(got, round_low(sum, low), low);
                unrounded += round_low(got, low) != got;
            }
        VOLT_EXPECT_EQ_INT(wrong, 0);
        VOLT_EXPECT_EQ_INT(unrounded, 0);
        /* backward with dy of arbitrary values */
        volt_tensor *dy = volt_test_leaf(g, VOLT_F32, 2, (const long[]){6, 5}, 0, 34, -1.0, 1.0);
        VOLT_EXPECT_OK(volt_backward_with(y, dy));
        int wrong_dx = 0, wrong_dw = 0, wrong_db = 0;
        for (long r = 0; r < 6; r++)
            for (long k = 0; k < 7; k++) {
                double sum = 0;
                for (long o = 0; o < 5; o++)
                    sum += round_low(((float *)dy->data)[r * 5 + o], low) *
                           round_low(((float *)w->data)[o * 7 + k], low);
                wrong_dx +=
                    !within_ulp(((float *)x->grad->data)[r * 7 + k], round_low(sum, low), low);
            }
        for (long o = 0; o < 5; o++) {
            double db = 0;
            for (long r = 0; r < 6; r++) db += round_low(((float *)dy->data)[r * 5 + o], low);
            wrong_db += !within_ulp(((float *)b->grad->data)[o], round_low(db, low), low);
            for (long k = 0; k < 7; k++) {
                double sum = 0;
                for (long r = 0; r < 6; r++)
                    sum += round_low(((float *)dy->data)[r * 5 + o], low) *
                           round_low(((float *)x->data)[r * 7 + k], low);
                wrong_dw +=
                    !within_ulp(((float *)w->grad->data)[o * 7 + k], round_low(sum, low), low);
            }
        }
        VOLT_EXPECT_EQ_INT(wrong_dx, 0);
        VOLT_EXPECT_EQ_INT(wrong_dw, 0);
        VOLT_EXPECT_EQ_INT(wrong_db, 0);
        VOLT_EXPECT(memcmp(w_before, w->data, sizeof w_before) == 0); /* the master stays */
        /* f32: other values (the rounding above happened) */
        float y16[30];
        memcpy(y16, y->data, sizeof y16);
        volt_graph_reset(g);
        VOLT_EXPECT_OK(volt_graph_set_autocast(g, VOLT_F32));
        volt_tensor *y32 = volt_linear_fn(x, w, b);
        VOLT_EXPECT(y32 && memcmp(y16, y32->data, sizeof y16) != 0);
        volt_graph_reset(g);
        volt_test_leaf_free(x), volt_test_leaf_free(w), volt_test_leaf_free(b);
        volt_test_leaf_free(dy);
        volt_graph_destroy(g);
    }
}

/* Zero-size products, as in PyTorch: [M, 0] x [0, N] is an [M, N] of zeros, [M, K] x
 * [K, 0] is [M, 0], and the gradients of the other operand stay zero. A contiguous [R, 0]
 * or [K, 0] operand has a row stride of 0, which is still a layout BLAS never reads. */
VOLT_TEST(matmul_and_linear_with_zero_sizes) {
    volt_graph *g;
    VOLT_EXPECT_OK(volt_graph_create(NULL, &g));
    const long sizes[][3] = {{3, 0, 4}, {3, 4, 0}, {0, 4, 3}, {2, 0, 0}}; /* M, K, N */
    for (int c = 0; c < 4; c++)
        for (int f32 = 0; f32 <= 1; f32++) {
            volt_dtype dtype = f32 ? VOLT_F32 : VOLT_F64;
            long M = sizes[c][0], K = sizes[c][1], N = sizes[c][2];
            const long a_shape[] = {M, K}, b_shape[] = {K, N};
            volt_tensor *in[2] = {dyadic_leaf(g, dtype, 2, a_shape, 41),
                                  dyadic_leaf(g, dtype, 2, b_shape, 42)};
            volt_tensor *y = volt_matmul(in[0], in[1]);
            if (!y) {
                volt_test_fail(__FILE__, __LINE__, "matmul [%ld, %ld] x [%ld, %ld] %s failed: %s",
                               M, K, K, N, volt_dtype_name(dtype), volt_error_message());
                volt_error_clear();
            } else {
                VOLT_EXPECT(y->ndim == 2 && y->shape[0] == M && y->shape[1] == N);
                for (size_t i = 0; i < volt_tensor_numel(y); i++)
                    VOLT_EXPECT_NEAR(volt_tensor_get_flat(y, i), 0, 0);
                VOLT_EXPECT_OK(volt_backward(volt_sum(y)));
                for (int k = 0; k < 2; k++)
                    if (in[k]->grad)
                        for (size_t i = 0; i < volt_tensor_numel(in[k]); i++)
                            VOLT_EXPECT_NEAR(volt_tensor_get_flat(in[k]->grad, i), 0, 0);
            }
            volt_graph_reset(g);
            /* linear with in = 0: y = bias broadcast over the rows */
            const long x_shape[] = {M, K}, w_shape[] = {N, K}, bias_shape[] = {N};
            volt_tensor *lin[3] = {dyadic_leaf(g, dtype, 2, x_shape, 43),
                                   dyadic_leaf(g, dtype, 2, w_shape, 44),
                                   dyadic_leaf(g, dtype, 1, bias_shape, 45)};
            y = volt_linear_fn(lin[0], lin[1], lin[2]);
            if (!y) {
                volt_test_fail(__FILE__, __LINE__, "linear x [%ld, %ld] weight [%ld, %ld] %s "
                               "failed: %s", M, K, N, K, volt_dtype_name(dtype),
                               volt_error_message());
                volt_error_clear();
            } else {
                VOLT_EXPECT(y->ndim == 2 && y->shape[0] == M && y->shape[1] == N);
                for (long r = 0; r < M && K == 0; r++) /* no products: y = bias */
                    for (long o = 0; o < N; o++)
                        VOLT_EXPECT_NEAR(volt_tensor_get_flat(y, (size_t)(r * N + o)),
                                         volt_tensor_get_flat(lin[2], (size_t)o), 0);
                if (K > 0) VOLT_EXPECT_NEAR(linear_error(lin[0], lin[1], lin[2], y), 0, 0);
            }
            volt_graph_reset(g);
            for (int k = 0; k < 2; k++) volt_test_leaf_free(in[k]);
            for (int k = 0; k < 3; k++) volt_test_leaf_free(lin[k]);
        }
    volt_graph_destroy(g);
}

/* The GEMM wrapper's contract for k = 0: C = beta C (BLAS libraries disagree on it). */
VOLT_TEST(gemm_with_empty_inner_dimension_scales_by_beta) {
    double c[4] = {1, 2, 3, 4};
    volt_op_gemm(VOLT_F64, CblasNoTrans, CblasNoTrans, 2, 2, 0, 1.0, NULL, 1, NULL, 2, 0.5, c, 2);
    for (int i = 0; i < 4; i++) VOLT_EXPECT_NEAR(c[i], 0.5 * (i + 1), 0);
    float c32[4] = {1, 2, NAN, 4};
    volt_op_gemm(VOLT_F32, CblasNoTrans, CblasNoTrans, 2, 2, 0, 1.0, NULL, 1, NULL, 2, 0.0, c32, 2);
    for (int i = 0; i < 4; i++) VOLT_EXPECT_NEAR(c32[i], 0, 0);
    volt_op_gemm(VOLT_F64, CblasNoTrans, CblasNoTrans, 2, 2, 0, 1.0, NULL, 1, NULL, 2, 1.0, c, 2);
    for (int i = 0; i < 4; i++) VOLT_EXPECT_NEAR(c[i], 0.5 * (i + 1), 0);
}

static volt_tensor *layer_norm_tied_affine(volt_tensor **in, void *user) {
    (void)user;
    return volt_layer_norm_fn(in[0], in[1], in[1], 1e-5);
}

/* --- layer_norm ---------------------------------------------------------------------- */

static const double LN_EPS = 1e-5;

static double layer_norm_error(const volt_tensor *x, const volt_tensor *w, const volt_tensor *b,
                               const volt_tensor *y) {
    long C = x->shape[x->ndim - 1], rows = (long)volt_tensor_numel(x) / C;
    double worst = 0;
    for (long r = 0; r < rows; r++) {
        double mean = 0, var = 0;
        for (long c = 0; c < C; c++) mean += volt_tensor_get_flat(x, (size_t)(r * C + c)) / C;
        for (long c = 0; c < C; c++) {
            double centred = volt_tensor_get_flat(x, (size_t)(r * C + c)) - mean;
            var += centred * centred / C;
        }
        for (long c = 0; c < C; c++) {
            double xhat = (volt_tensor_get_flat(x, (size_t)(r * C + c)) - mean) / sqrt(var + LN_EPS);
            double expected = xhat * volt_tensor_get_flat(w, (size_t)c) +
                              volt_tensor_get_flat(b, (size_t)c);
            worst = fmax(worst, fabs(volt_tensor_get_flat(y, (size_t)(r * C + c)) - expected));
        }
    }
    return worst;
}

static volt_tensor *layer_norm_of(volt_tensor **in, void *user) {
    (void)user;
    return volt_layer_norm_fn(in[0], in[1], in[2], LN_EPS);
}

VOLT_TEST(layer_norm_values_and_gradients) {
    volt_graph *g;
    VOLT_EXPECT_OK(volt_graph_create(NULL, &g));
    const long x_shape[] = {2, 3, 6}, c_shape[] = {6};
    for (int f32 = 0; f32 <= 1; f32++) {
        volt_dtype dtype = f32 ? VOLT_F32 : VOLT_F64;
        volt_tensor *in[3] = {volt_test_leaf(g, dtype, 3, x_shape, 1, 31, -2.0, 2.0),
                              volt_test_leaf(g, dtype, 1, c_shape, 1, 32, 0.5, 1.5),
                              volt_test_leaf(g, dtype, 1, c_shape, 1, 33, -0.5, 0.5)};
        volt_tensor *y = layer_norm_of(in, NULL);
        VOLT_EXPECT(y != NULL && volt_tensor_same_shape(y, in[0]));
        if (y) VOLT_EXPECT_NEAR(layer_norm_error(in[0], in[1], in[2], y), 0, f32 ? 1e-5 : 1e-12);
        if (f32)
            VOLT_EXPECT_GRADCHECK(g, in, 3, layer_norm_of, NULL, 1e-2, 2e-3);
        else
            VOLT_EXPECT_GRADCHECK(g, in, 3, layer_norm_of, NULL, 1e-6, 1e-6);
        /* one tensor as both weight and bias: its gradient is dw + db, in one buffer */
        if (!f32) VOLT_EXPECT_GRADCHECK(g, in, 2, layer_norm_tied_affine, NULL, 1e-6, 1e-6);
        volt_graph_reset(g);
        for (int i = 0; i < 3; i++) volt_test_leaf_free(in[i]);
    }
    volt_graph_destroy(g);
}

/* --- embedding ----------------------------------------------------------------------- */

static volt_tensor *embedding_of(volt_tensor **in, void *user) {
    (void)user;
    return volt_embedding_fn(in[0], in[1]);
}

/* i64 indices [2, 3] and i32 indices [4], with repeated rows (whose gradients add) and
 * an unused row (whose gradient stays 0). */
VOLT_TEST(embedding_values_and_gradients) {
    volt_graph *g;
    VOLT_EXPECT_OK(volt_graph_create(NULL, &g));
    const long w_shape[] = {7, 3}, i64_shape[] = {2, 3}, i32_shape[] = {4};
    const long i64_values[] = {3, 0, 6, 3, 3, 1}, i32_values[] = {5, 2, 5, 0};
    for (int use_i32 = 0; use_i32 <= 1; use_i32++)
        for (int f32 = 0; f32 <= 1; f32++) {
            volt_dtype dtype = f32 ? VOLT_F32 : VOLT_F64;
            const long *values = use_i32 ? i32_values : i64_values;
            volt_tensor *in[2] = {
                volt_test_leaf(g, dtype, 2, w_shape, 1, 41, -1.0, 1.0),
                use_i32 ? volt_test_index_leaf(g, VOLT_I32, 1, i32_shape, values)
                        : volt_test_index_leaf(g, VOLT_I64, 2, i64_shape, values)};
            volt_tensor *y = embedding_of(in, NULL);
            VOLT_EXPECT(y != NULL);
            if (y) {
                VOLT_EXPECT_EQ_INT(y->ndim, in[1]->ndim + 1);
                VOLT_EXPECT_EQ_INT(y->shape[0], in[1]->shape[0]);
                VOLT_EXPECT_EQ_INT(y->shape[y->ndim - 1], 3);
                size_t n = volt_tensor_numel(in[1]);
                for (size_t i = 0; i < n; i++)
                    for (size_t c = 0; c < 3; c++)
                        VOLT_EXPECT_NEAR(volt_tensor_get_flat(y, i * 3 + c),
                                         volt_tensor_get_flat(in[0], (size_t)values[i] * 3 + c), 0);
            }
            if (f32)
                VOLT_EXPECT_GRADCHECK(g, in, 2, embedding_of, NULL, 1e-2, 2e-3);
            else
                VOLT_EXPECT_GRADCHECK(g, in, 2, embedding_of, NULL, 1e-6, 1e-6);
            /* the indices never get a gradient */
            VOLT_EXPECT(in[1]->grad == NULL);
            volt_graph_reset(g);
            volt_test_leaf_free(in[0]);
            volt_test_leaf_free(in[1]);
        }
    volt_graph_destroy(g);
}

/* --- causal self-attention ----------------------------------------------------------- */

enum { ATT_B = 2, ATT_T = 5, ATT_C = 8, ATT_HEADS = 2 };

/* Largest |out - reference|, the reference written straight from the definition. */
static double attention_error(const volt_tensor *qkv, int n_head, const volt_tensor *out) {
    long B = qkv->shape[0], T = qkv->shape[1], C = qkv->shape[2] / 3, d = C / n_head;
    double worst = 0;
    for (long b = 0; b < B; b++)
        for (long h = 0; h < n_head; h++)
            for (long i = 0; i < T; i++) {
                double scores[ATT_T], max = -INFINITY, sum = 0;
                for (long j = 0; j <= i; j++) {
                    double dot = 0;
                    for (long e = 0; e < d; e++) {
                        long qi[] = {b, i, h * d + e}, ki[] = {b, j, C + h * d + e};
                        dot += volt_tensor_get(qkv, qi) * volt_tensor_get(qkv, ki);
                    }
                    scores[j] = dot / sqrt((double)d);
                    max = fmax(max, scores[j]);
                }
                for (long j = 0; j <= i; j++) sum += exp(scores[j] - max);
                for (long e = 0; e < d; e++) {
                    double value = 0;
                    for (long j = 0; j <= i; j++) {
                        long vi[] = {b, j, 2 * C + h * d + e};
                        value += exp(scores[j] - max) / sum * volt_tensor_get(qkv, vi);
                    }
                    long oi[] = {b, i, h * d + e};
                    worst = fmax(worst, fabs(volt_tensor_get(out, oi) - value));
                }
            }
    return worst;
}

static volt_tensor *attention_of(volt_tensor **in, void *user) {
    (void)user;
    return volt_causal_self_attention(in[0], ATT_HEADS);
}

VOLT_TEST(attention_values_and_gradients) {
    volt_graph *g;
    VOLT_EXPECT_OK(volt_graph_create(NULL, &g));
    const long shape[] = {ATT_B, ATT_T, 3 * ATT_C};
    for (int f32 = 0; f32 <= 1; f32++) {
        volt_dtype dtype = f32 ? VOLT_F32 : VOLT_F64;
        volt_tensor *qkv = volt_test_leaf(g, dtype, 3, shape, 1, 51, -1.0, 1.0);
        /* f32: v in [-1/16, 1/16]. The outputs, and so their rounding, scale with v; the
         * gradients of q and k too, but those below the check's floor (1e-3) do not, and
         * at v in [-1, 1] their rounding noise reaches the tolerance. */
        for (size_t i = 0; f32 && i < volt_tensor_numel(qkv); i++)
            if ((long)i % (3 * ATT_C) >= 2 * ATT_C)
                volt_tensor_set_flat(qkv, i, volt_tensor_get_flat(qkv, i) / 16);
        volt_tensor *out = attention_of(&qkv, NULL);
        VOLT_EXPECT(out != NULL);
        if (out) {
            VOLT_EXPECT_EQ_INT(out->ndim, 3);
            VOLT_EXPECT_EQ_INT(out->shape[2], ATT_C);
            VOLT_EXPECT_NEAR(attention_error(qkv, ATT_HEADS, out), 0, f32 ? 1e-5 : 1e-12);
            VOLT_EXPECT_NEAR(flops_of(g, out), 4.0 * ATT_B * ATT_T * ATT_T * ATT_C, 0);
            /* without gradients (no P kept for backward) the values are the same */
            int was = volt_graph_set_grad_enabled(g, 0);
            volt_tensor *again = attention_of(&qkv, NULL);
            volt_graph_set_grad_enabled(g, was);
            VOLT_EXPECT(again != NULL && again->node < 0);
            for (size_t i = 0; again && i < volt_tensor_numel(out); i++)
                VOLT_EXPECT_NEAR(volt_tensor_get_flat(again, i), volt_tensor_get_flat(out, i), 0);
        }
        if (f32)
            VOLT_EXPECT_GRADCHECK(g, &qkv, 1, attention_of, NULL, 1e-2, 2e-3);
        else
            VOLT_EXPECT_GRADCHECK(g, &qkv, 1, attention_of, NULL, 1e-6, 1e-6);
        volt_graph_reset(g);
        volt_test_leaf_free(qkv);
    }
    volt_graph_destroy(g);
}

/* Changing token t's q, k and v (all of its 3C columns) leaves the outputs of earlier
 * tokens exactly as they were, and changes token t's own output. */
/* Under autocast, attention takes 16-bit operands (q, k, v and P rounded, the scores and
 * softmax in f32, the output rounded), as a GPU's fused attention: its output is the
 * reference on the rounded q, k, v up to the rounding of P and of the output, every output
 * is a 16-bit value, and the gradients are the f32 ones up to 16-bit rounding. */
VOLT_TEST(attention_autocast_rounds_its_operands) {
    const long shape[] = {ATT_B, ATT_T, 3 * ATT_C};
    const volt_dtype lows[] = {VOLT_BF16, VOLT_F16};
    const double tolerance[] = {2e-2, 4e-3}; /* relative to the largest value */
    for (int l = 0; l < 2; l++) {
        volt_dtype low = lows[l];
        volt_graph *g;
        VOLT_EXPECT_OK(volt_graph_create(NULL, &g));
        volt_tensor *qkv = volt_test_leaf(g, VOLT_F32, 3, shape, 1, 61, -1.0, 1.0);
        volt_tensor *rounded = volt_test_leaf(g, VOLT_F32, 3, shape, 0, 61, -1.0, 1.0);
        size_t n = volt_tensor_numel(qkv), n_out = (size_t)ATT_B * ATT_T * ATT_C;
        volt_round_to_dtype(rounded->data, n, low);
        volt_tensor *dout =
            volt_test_leaf(g, VOLT_F32, 3, (const long[]){ATT_B, ATT_T, ATT_C}, 0, 62, -1.0, 1.0);
        float out32[ATT_B * ATT_T * ATT_C], grad32[ATT_B * ATT_T * 3 * ATT_C];
        volt_tensor *out = attention_of(&qkv, NULL);
        VOLT_EXPECT(out && volt_backward_with(out, dout) == VOLT_OK);
        if (!out) continue;
        memcpy(out32, out->data, sizeof out32);
        memcpy(grad32, qkv->grad->data, sizeof grad32);
        volt_graph_reset(g);
        VOLT_EXPECT_OK(volt_graph_set_autocast(g, low));
        out = attention_of(&qkv, NULL);
        VOLT_EXPECT(out && volt_backward_with(out, dout) == VOLT_OK);
        if (!out) continue;
        double largest = 0, largest_grad = 0, worst_grad = 0;
        int unrounded = 0, differ = 0;
        for (size_t i = 0; i < n_out; i++) {
            float v = ((float *)out->data)[i], r = v;
            volt_round_to_dtype(&r, 1, low);
            unrounded += r != v;
            differ += v != out32[i];
            largest = fmax(largest, fabs(out32[i]));
        }
        for (size_t i = 0; i < n; i++) {
            largest_grad = fmax(largest_grad, fabs(grad32[i]));
            worst_grad = fmax(worst_grad, fabs(((float *)qkv->grad->data)[i] - grad32[i]));
        }
        VOLT_EXPECT_EQ_INT(unrounded, 0);
        VOLT_EXPECT(differ > 0);
        VOLT_EXPECT(attention_error(rounded, ATT_HEADS, out) <= tolerance[l] * largest);
        if (!(worst_grad <= 2 * tolerance[l] * largest_grad && worst_grad > 0))
            volt_test_fail(__FILE__, __LINE__, "%s gradients: %.3g off the f32 ones (largest %.3g)",
                           volt_dtype_name(low), worst_grad, largest_grad);
        volt_graph_reset(g);
        volt_test_leaf_free(qkv), volt_test_leaf_free(rounded), volt_test_leaf_free(dout);
        volt_graph_destroy(g);
    }
}

VOLT_TEST(attention_is_causal) {
    volt_graph *g;
    VOLT_EXPECT_OK(volt_graph_create(NULL, &g));
    const long shape[] = {ATT_B, ATT_T, 3 * ATT_C};
    const long changed = 3;
    volt_tensor *qkv = volt_test_leaf(g, VOLT_F64, 3, shape, 0, 52, -1.0, 1.0);
    volt_tensor *before = attention_of(&qkv, NULL);
    for (long b = 0; b < ATT_B; b++)
        for (long c = 0; c < 3 * ATT_C; c++) {
            long i[] = {b, changed, c};
            volt_tensor_set(qkv, i, volt_tensor_get(qkv, i) * -3.0 + 0.5);
        }
    volt_tensor *after = attention_of(&qkv, NULL);
    VOLT_EXPECT(before && after);
    double earlier = 0, at_changed = 0;
    for (long b = 0; before && after && b < ATT_B; b++)
        for (long t = 0; t <= changed; t++)
            for (long c = 0; c < ATT_C; c++) {
                long i[] = {b, t, c};
                double diff = fabs(volt_tensor_get(after, i) - volt_tensor_get(before, i));
                if (t < changed) earlier = fmax(earlier, diff);
                else at_changed = fmax(at_changed, diff);
            }
    VOLT_EXPECT_NEAR(earlier, 0, 0);
    VOLT_EXPECT(at_changed > 1e-3);
    volt_test_leaf_free(qkv);
    volt_graph_destroy(g);
}

/* --- bad inputs ---------------------------------------------------------------------- */

VOLT_TEST(bad_inputs_fail_with_a_message) {
    volt_graph *g;
    VOLT_EXPECT_OK(volt_graph_create(NULL, &g));
    const long s34[] = {3, 4}, s52[] = {5, 2}, s234[] = {2, 3, 4}, s345[] = {3, 4, 5},
               s5[] = {5}, s4[] = {4}, s23[] = {2, 3}, s7_3[] = {7, 3}, s1_2_24[] = {1, 2, 24},
               s1_2_10[] = {1, 2, 10};
    volt_tensor *a = volt_test_leaf(g, VOLT_F64, 2, s34, 1, 1, -1, 1);
    volt_tensor *b_bad = volt_test_leaf(g, VOLT_F64, 2, s52, 1, 2, -1, 1);
    volt_tensor *a32 = volt_test_leaf(g, VOLT_F32, 2, s34, 1, 3, -1, 1);
    volt_tensor *a_int = volt_test_leaf(g, VOLT_I32, 2, s34, 0, 4, -1, 1);
    volt_tensor *batch_a = volt_test_leaf(g, VOLT_F64, 3, s234, 1, 5, -1, 1);
    volt_tensor *batch_b = volt_test_leaf(g, VOLT_F64, 3, s345, 1, 6, -1, 1);
    volt_tensor *bias5 = volt_test_leaf(g, VOLT_F64, 1, s5, 1, 7, -1, 1);
    volt_tensor *c4 = volt_test_leaf(g, VOLT_F64, 1, s4, 1, 8, -1, 1);
    volt_tensor *table = volt_test_leaf(g, VOLT_F64, 2, s7_3, 1, 9, -1, 1);
    const long too_big[] = {3, 0, 6, 1, 2, 9}, negative[] = {0, -1, 2, 3, 4, 5};
    volt_tensor *idx_big = volt_test_index_leaf(g, VOLT_I64, 2, s23, too_big);
    volt_tensor *idx_neg = volt_test_index_leaf(g, VOLT_I32, 2, s23, negative);
    volt_tensor *idx_float = volt_test_leaf(g, VOLT_F32, 2, s23, 0, 10, 0, 1);
    volt_tensor *qkv = volt_test_leaf(g, VOLT_F64, 3, s1_2_24, 1, 11, -1, 1);
    volt_tensor *qkv_odd = volt_test_leaf(g, VOLT_F64, 3, s1_2_10, 1, 12, -1, 1);

    VOLT_EXPECT(volt_matmul(a, b_bad) == NULL);
    expect_error("matmul: cannot multiply f64[3, 4] cpu by f64[5, 2] cpu");
    VOLT_EXPECT(volt_matmul(batch_a, batch_b) == NULL); /* batch 2 vs 3 */
    expect_error("f64[2, 3, 4] cpu by f64[3, 4, 5] cpu");
    VOLT_EXPECT(volt_matmul(a, batch_b) == NULL); /* 2D by 3D */
    expect_error("matmul: cannot multiply");
    VOLT_EXPECT(volt_matmul(a32, volt_transpose(a, 0, 1)) == NULL);
    expect_error("matmul: inputs differ in dtype or device: f32[3, 4] cpu and f64[4, 3] cpu");
    VOLT_EXPECT(volt_matmul(a_int, a_int) == NULL);
    expect_error("matmul: expected an f32 or f64 tensor, got i32[3, 4] cpu");

    VOLT_EXPECT(volt_linear_fn(a, b_bad, NULL) == NULL);
    expect_error("linear: x f64[3, 4] cpu, weight f64[5, 2] cpu, bias none do not fit");
    VOLT_EXPECT(volt_linear_fn(a, a, bias5) == NULL);
    expect_error("bias f64[5] cpu do not fit");
    VOLT_EXPECT(volt_linear_fn(a, a32, NULL) == NULL);
    expect_error("linear: inputs differ in dtype");

    VOLT_EXPECT(volt_layer_norm_fn(a, bias5, c4, 1e-5) == NULL);
    expect_error("layer_norm: x f64[3, 4] cpu, weight f64[5] cpu, bias f64[4] cpu do not fit");
    VOLT_EXPECT(volt_layer_norm_fn(a32, c4, c4, 1e-5) == NULL);
    expect_error("layer_norm: inputs differ in dtype");

    VOLT_EXPECT(volt_embedding_fn(table, idx_big) == NULL);
    VOLT_EXPECT_EQ_INT(volt_error_status(), VOLT_ERR_ARG);
    expect_error("embedding: index 9 at position [1, 2] of indices i64[2, 3] cpu is out of "
                 "range [0, 7)");
    VOLT_EXPECT(volt_embedding_fn(table, idx_neg) == NULL);
    expect_error("index -1 at position [0, 1]");
    VOLT_EXPECT(volt_embedding_fn(table, idx_float) == NULL);
    expect_error("embedding: indices must be i32 or i64 on the cpu, not f32[2, 3] cpu");
    VOLT_EXPECT(volt_embedding_fn(idx_big, idx_big) == NULL);
    expect_error("embedding: expected an f32 or f64 tensor, got i64[2, 3] cpu");

    VOLT_EXPECT(volt_causal_self_attention(qkv, 3) == NULL); /* C = 8 */
    expect_error("C = 8 (qkv f64[1, 2, 24] cpu) is not a positive multiple of n_head = 3");
    VOLT_EXPECT(volt_causal_self_attention(qkv, 0) == NULL);
    expect_error("n_head = 0");
    VOLT_EXPECT(volt_causal_self_attention(qkv_odd, 1) == NULL);
    expect_error("causal_self_attention: qkv is f64[1, 2, 10] cpu, expected [B, T, 3C]");
    VOLT_EXPECT(volt_causal_self_attention(a, 1) == NULL);
    expect_error("expected [B, T, 3C]");

    /* a NULL input (a failure upstream) gives NULL and no new error */
    VOLT_EXPECT(volt_matmul(NULL, a) == NULL);
    VOLT_EXPECT(volt_linear_fn(a, NULL, NULL) == NULL);
    VOLT_EXPECT(volt_layer_norm_fn(a, c4, NULL, 1e-5) == NULL);
    VOLT_EXPECT(volt_embedding_fn(table, NULL) == NULL);
    VOLT_EXPECT(volt_causal_self_attention(NULL, 1) == NULL);
    VOLT_EXPECT_EQ_INT(volt_error_depth(), 0);

    volt_tensor *all[] = {a, b_bad, a32, a_int, batch_a, batch_b, bias5, c4, table,
                          idx_big, idx_neg, idx_float, qkv, qkv_odd};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) volt_test_leaf_free(all[i]);
    volt_graph_destroy(g);
}
