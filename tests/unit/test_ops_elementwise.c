/* tests/unit/test_ops_elementwise.c — add, sub, mul (with broadcasting), scale, bias_add,
 * gelu, tanh, sigmoid, softmax, log_softmax, dropout, sum, mean, sum_dim: values against
 * references computed plainly here, and gradients against central finite differences in
 * f64 (eps 1e-6, tol 1e-6) and f32 (eps 1e-2, tol 2e-3). */
#include "core/rng.h"
#include "gradcheck.h"
#include "ops/ops.h"
#include "volt_test.h"

static const double F64_EPS = 1e-6, F64_TOL = 1e-6, F32_EPS = 1e-2, F32_TOL = 2e-3;

/* A gradient check that names its case when it fails. */
#define EXPECT_GRADCHECK_CASE(g, inputs, count, fn, user, eps, tol, label)              \
    do {                                                                               \
        volt_gradcheck_result r_ =                                                     \
            volt_gradcheck((g), (inputs), (count), (fn), (user), (eps), 1e-3);         \
        if (!(r_.max_rel_error < (tol)))                                               \
            volt_test_fail(__FILE__, __LINE__,                                         \
                           "gradcheck %s (%s): max rel error %.3g >= %.3g at input %d "  \
                           "element %zu (analytic %.10g, numeric %.10g)", #fn, (label),  \
                           r_.max_rel_error, (double)(tol), r_.worst_input,            \
                           r_.worst_element, r_.analytic, r_.numeric);                 \
    } while (0)

static volt_graph *new_graph(uint64_t seed) {
    volt_graph_options options = {0};
    options.seed = seed;
    volt_graph *g = NULL;
    VOLT_EXPECT_OK(volt_graph_create(&options, &g));
    return g;
}

/* The flat index into t of output element `flat` when t is broadcast to out's shape. */
static size_t broadcast_source(const volt_tensor *t, const volt_tensor *out, size_t flat) {
    long index[VOLT_MAX_DIMS] = {0};
    for (int d = out->ndim - 1; d >= 0; d--) {
        index[d] = (long)(flat % (size_t)out->shape[d]);
        flat /= (size_t)out->shape[d];
    }
    size_t k = 0;
    for (int d = 0; d < t->ndim; d++) {
        long i = t->shape[d] == 1 ? 0 : index[d + out->ndim - t->ndim];
        k = k * (size_t)t->shape[d] + (size_t)i;
    }
    return k;
}

static int same_shape_as(const volt_tensor *t, int ndim, const long *shape) {
    if (t->ndim != ndim) return 0;
    for (int d = 0; d < ndim; d++)
        if (t->shape[d] != shape[d]) return 0;
    return 1;
}

/* --- add, sub, mul ----------------------------------------------------------------------- */

typedef enum { OP_ADD, OP_SUB, OP_MUL } binary_op_kind;
static const char *const op_names[] = {"add", "sub", "mul"};

static volt_tensor *apply_binary(binary_op_kind kind, volt_tensor *a, volt_tensor *b) {
    return kind == OP_ADD ? volt_add(a, b) : kind == OP_SUB ? volt_sub(a, b) : volt_mul(a, b);
}
static double reference_binary(binary_op_kind kind, double a, double b) {
    return kind == OP_ADD ? a + b : kind == OP_SUB ? a - b : a * b;
}
static volt_tensor *binary_fn(volt_tensor **in, void *user) {
    return apply_binary(*(const binary_op_kind *)user, in[0], in[1]);
}

typedef struct broadcast_case {
    int a_ndim;
    long a_shape[4];
    int b_ndim;
    long b_shape[4];
    int out_ndim;
    long out_shape[4];
    const char *label;
} broadcast_case;

static const broadcast_case broadcast_cases[] = {
    {3, {2, 3, 4}, 1, {4}, 3, {2, 3, 4}, "[2,3,4] . [4]"},
    {3, {2, 1, 4}, 2, {3, 1}, 3, {2, 3, 4}, "[2,1,4] . [3,1]"},
    {2, {2, 3}, 1, {1}, 2, {2, 3}, "[2,3] . [1]"},
    {0, {0}, 2, {2, 3}, 2, {2, 3}, "[] . [2,3]"},
    {2, {3, 1}, 2, {1, 4}, 2, {3, 4}, "[3,1] . [1,4]"},
    {3, {2, 3, 4}, 3, {2, 3, 4}, 3, {2, 3, 4}, "[2,3,4] . [2,3,4]"},
    {1, {4}, 3, {2, 3, 4}, 3, {2, 3, 4}, "[4] . [2,3,4]"},
    {3, {2, 3, 1}, 3, {1, 3, 4}, 3, {2, 3, 4}, "[2,3,1] . [1,3,4]"},
    {4, {1, 3, 1, 2}, 4, {2, 1, 5, 1}, 4, {2, 3, 5, 2}, "[1,3,1,2] . [2,1,5,1]"},
};
enum { BROADCAST_CASE_COUNT = sizeof broadcast_cases / sizeof *broadcast_cases };

VOLT_TEST(binary_values_with_broadcasting) {
    volt_graph *g = new_graph(0);
    for (int c = 0; c < BROADCAST_CASE_COUNT; c++) {
        const broadcast_case *bc = &broadcast_cases[c];
        for (int dt = 0; dt < 2; dt++) {
            volt_dtype dtype = dt ? VOLT_F32 : VOLT_F64;
            volt_tensor *a = volt_test_leaf(g, dtype, bc->a_ndim, bc->a_shape, 0, 10 + c, -2, 2);
            volt_tensor *b = volt_test_leaf(g, dtype, bc->b_ndim, bc->b_shape, 0, 20 + c, -2, 2);
            for (int k = OP_ADD; k <= OP_MUL; k++) {
                volt_tensor *y = apply_binary((binary_op_kind)k, a, b);
                VOLT_EXPECT(y != NULL);
                if (!y) continue;
                if (!same_shape_as(y, bc->out_ndim, bc->out_shape))
                    volt_test_fail(__FILE__, __LINE__, "%s %s: wrong output shape (ndim %d)",
                                   op_names[k], bc->label, y->ndim);
                double worst = 0;
                for (size_t i = 0; i < volt_tensor_numel(y); i++) {
                    double expected = reference_binary(
                        (binary_op_kind)k,
                        volt_tensor_get_flat(a, broadcast_source(a, y, i)),
                        volt_tensor_get_flat(b, broadcast_source(b, y, i)));
                    if (dtype == VOLT_F32) expected = (float)expected;
                    double diff = fabs(volt_tensor_get_flat(y, i) - expected);
                    if (diff > worst) worst = diff;
                }
                if (worst > 1e-6)
                    volt_test_fail(__FILE__, __LINE__, "%s %s %s: max |y - reference| = %.3g",
                                   op_names[k], bc->label, volt_dtype_name(dtype), worst);
            }
            volt_graph_reset(g);
            volt_test_leaf_free(a);
            volt_test_leaf_free(b);
        }
    }
    volt_graph_destroy(g);
}

VOLT_TEST(binary_gradcheck_with_broadcasting) {
    volt_graph *g = new_graph(0);
    char label[96];
    for (int c = 0; c < BROADCAST_CASE_COUNT; c++) {
        const broadcast_case *bc = &broadcast_cases[c];
        for (int k = OP_ADD; k <= OP_MUL; k++) {
            binary_op_kind kind = (binary_op_kind)k;
            snprintf(label, sizeof label, "%s %s", op_names[k], bc->label);
            volt_tensor *in[2] = {
                volt_test_leaf(g, VOLT_F64, bc->a_ndim, bc->a_shape, 1, 30 + c, -1, 1),
                volt_test_leaf(g, VOLT_F64, bc->b_ndim, bc->b_shape, 1, 40 + c, -1, 1)};
            EXPECT_GRADCHECK_CASE(g, in, 2, binary_fn, &kind, F64_EPS, F64_TOL, label);
            volt_tensor *in32[2] = {
                volt_test_leaf(g, VOLT_F32, bc->a_ndim, bc->a_shape, 1, 30 + c, -1, 1),
                volt_test_leaf(g, VOLT_F32, bc->b_ndim, bc->b_shape, 1, 40 + c, -1, 1)};
            EXPECT_GRADCHECK_CASE(g, in32, 2, binary_fn, &kind, F32_EPS, F32_TOL, label);
            for (int i = 0; i < 2; i++) {
                volt_test_leaf_free(in[i]);
                volt_test_leaf_free(in32[i]);
            }
        }
    }
    volt_graph_destroy(g);
}

static volt_tensor *square_by_mul(volt_tensor **in, void *user) {
    (void)user;
    return volt_mul(in[0], in[0]);
}
/* a transposed (non-contiguous) view broadcast against a row */
static volt_tensor *sub_of_transpose(volt_tensor **in, void *user) {
    (void)user;
    return volt_sub(volt_transpose(in[0], 0, 1), in[1]);
}
static volt_tensor *mul_first_only(volt_tensor **in, void *user) {
    (void)user;
    return volt_mul(in[0], in[1]);
}

VOLT_TEST(binary_aliasing_views_and_partial_grads) {
    volt_graph *g = new_graph(0);
    const long shape[] = {3, 4}, row[] = {3};
    volt_tensor *x = volt_test_leaf(g, VOLT_F64, 2, shape, 1, 1, -1, 1);
    /* x * x: both inputs are the same tensor, the gradient is 2 x dy */
    volt_tensor *y = square_by_mul(&x, NULL);
    VOLT_EXPECT_OK(volt_backward(volt_sum(y)));
    for (size_t i = 0; i < 12; i++)
        VOLT_EXPECT_NEAR(volt_tensor_get_flat(x->grad, i), 2 * volt_tensor_get_flat(x, i), 1e-15);
    VOLT_EXPECT_GRADCHECK(g, &x, 1, square_by_mul, NULL, F64_EPS, F64_TOL);

    volt_tensor *in[2] = {x, volt_test_leaf(g, VOLT_F64, 1, row, 1, 2, -1, 1)};
    VOLT_EXPECT_GRADCHECK(g, in, 2, sub_of_transpose, NULL, F64_EPS, F64_TOL);
    /* only the first input requires grad: the second gets none */
    volt_tensor *partial[2] = {volt_test_leaf(g, VOLT_F64, 2, shape, 1, 3, -1, 1),
                               volt_test_leaf(g, VOLT_F64, 1, &shape[1], 0, 4, -1, 1)};
    VOLT_EXPECT_GRADCHECK(g, partial, 2, mul_first_only, NULL, F64_EPS, F64_TOL);
    y = mul_first_only(partial, NULL);
    VOLT_EXPECT_OK(volt_backward(volt_sum(y)));
    VOLT_EXPECT(partial[1]->grad == NULL);
    VOLT_EXPECT(volt_graph_flops(g) > 0);
    volt_graph_reset(g);
    /* no input requires grad: no node */
    volt_tensor *plain = volt_test_leaf(g, VOLT_F64, 2, shape, 0, 5, -1, 1);
    VOLT_EXPECT(volt_add(plain, plain) != NULL);
    VOLT_EXPECT_EQ_INT(volt_graph_node_count(g), 0);
    volt_test_leaf_free(plain);
    volt_test_leaf_free(partial[0]);
    volt_test_leaf_free(partial[1]);
    volt_test_leaf_free(in[1]);
    volt_test_leaf_free(x);
    volt_graph_destroy(g);
}

VOLT_TEST(binary_rejects_bad_inputs) {
    volt_graph *g = new_graph(0);
    const long s23[] = {2, 3}, s4[] = {4};
    volt_tensor *a = volt_test_leaf(g, VOLT_F32, 2, s23, 0, 1, -1, 1);
    volt_tensor *b = volt_test_leaf(g, VOLT_F32, 1, s4, 0, 2, -1, 1);
    volt_tensor *a64 = volt_test_leaf(g, VOLT_F64, 2, s23, 0, 3, -1, 1);
    volt_tensor *ints = volt_test_leaf(g, VOLT_I32, 2, s23, 0, 4, 0, 5);
    VOLT_EXPECT(volt_add(a, b) == NULL);
    VOLT_EXPECT_EQ_INT(volt_error_status(), VOLT_ERR_SHAPE);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "add: shapes do not broadcast");
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "f32[2, 3] cpu and f32[4] cpu");
    volt_error_clear();
    VOLT_EXPECT(volt_mul(b, a) == NULL);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "mul: shapes do not broadcast");
    volt_error_clear();
    VOLT_EXPECT(volt_sub(a, a64) == NULL);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "differ in dtype");
    volt_error_clear();
    VOLT_EXPECT(volt_add(ints, ints) == NULL);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "expected an f32 or f64 tensor, got i32");
    volt_error_clear();
    VOLT_EXPECT(volt_add(NULL, a) == NULL);
    VOLT_EXPECT_EQ_INT(volt_error_depth(), 0);
    volt_test_leaf_free(a);
    volt_test_leaf_free(b);
    volt_test_leaf_free(a64);
    volt_test_leaf_free(ints);
    volt_graph_destroy(g);
}

/* --- scale, bias_add ---------------------------------------------------------------------- */

static volt_tensor *scale_fn(volt_tensor **in, void *user) {
    return volt_scale(in[0], *(const double *)user);
}
static volt_tensor *bias_add_fn(volt_tensor **in, void *user) {
    (void)user;
    return volt_bias_add(in[0], in[1]);
}

VOLT_TEST(scale_and_bias_add) {
    volt_graph *g = new_graph(0);
    const long x_shape[] = {2, 3, 5}, c_shape[] = {5};
    double s = -2.5;
    volt_tensor *x = volt_test_leaf(g, VOLT_F64, 3, x_shape, 1, 1, -1, 1);
    volt_tensor *bias = volt_test_leaf(g, VOLT_F64, 1, c_shape, 1, 2, -1, 1);
    volt_tensor *y = volt_scale(x, s);
    for (size_t i = 0; i < 30; i++)
        VOLT_EXPECT_NEAR(volt_tensor_get_flat(y, i), s * volt_tensor_get_flat(x, i), 1e-15);
    volt_tensor *in[2] = {x, bias};
    y = volt_bias_add(x, bias);
    VOLT_EXPECT(same_shape_as(y, 3, x_shape));
    for (size_t i = 0; i < 30; i++)
        VOLT_EXPECT_NEAR(volt_tensor_get_flat(y, i),
                         volt_tensor_get_flat(x, i) + volt_tensor_get_flat(bias, i % 5), 1e-15);
    VOLT_EXPECT_GRADCHECK(g, &x, 1, scale_fn, &s, F64_EPS, F64_TOL);
    VOLT_EXPECT_GRADCHECK(g, in, 2, bias_add_fn, NULL, F64_EPS, F64_TOL);
    volt_tensor *x32 = volt_test_leaf(g, VOLT_F32, 3, x_shape, 1, 1, -1, 1);
    volt_tensor *bias32 = volt_test_leaf(g, VOLT_F32, 1, c_shape, 1, 2, -1, 1);
    volt_tensor *in32[2] = {x32, bias32};
    VOLT_EXPECT_GRADCHECK(g, &x32, 1, scale_fn, &s, F32_EPS, F32_TOL);
    VOLT_EXPECT_GRADCHECK(g, in32, 2, bias_add_fn, NULL, F32_EPS, F32_TOL);
    /* only the bias requires grad */
    x32->requires_grad = 0;
    VOLT_EXPECT_GRADCHECK(g, in32, 2, bias_add_fn, NULL, F32_EPS, F32_TOL);

    volt_tensor *wrong = volt_test_leaf(g, VOLT_F64, 1, &x_shape[1], 0, 3, -1, 1);
    VOLT_EXPECT(volt_bias_add(x, wrong) == NULL);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(),
                             "bias_add: expected x [..., C] and bias [C], got f64[2, 3, 5] cpu "
                             "and f64[3] cpu");
    volt_error_clear();
    volt_test_leaf_free(wrong);
    volt_test_leaf_free(x);
    volt_test_leaf_free(bias);
    volt_test_leaf_free(x32);
    volt_test_leaf_free(bias32);
    volt_graph_destroy(g);
}

/* --- gelu, tanh, sigmoid ------------------------------------------------------------------ */

typedef volt_tensor *(*unary_op)(volt_tensor *);
static volt_tensor *unary_fn(volt_tensor **in, void *user) {
    return (*(const unary_op *)user)(in[0]);
}
static double reference_gelu(double x) {
    return 0.5 * x * (1 + tanh(sqrt(2 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
}
static double reference_sigmoid(double x) { return 1 / (1 + exp(-x)); }

VOLT_TEST(activations_values_and_gradients) {
    volt_graph *g = new_graph(0);
    const unary_op ops[] = {volt_gelu, volt_tanh, volt_sigmoid};
    double (*const references[])(double) = {reference_gelu, tanh, reference_sigmoid};
    const char *names[] = {"gelu", "tanh", "sigmoid"};
    const long shape[] = {4, 6};
    for (int k = 0; k < 3; k++) {
        for (int dt = 0; dt < 2; dt++) {
            volt_dtype dtype = dt ? VOLT_F32 : VOLT_F64;
            volt_tensor *x = volt_test_leaf(g, dtype, 2, shape, 1, 5 + k, -4, 4);
            /* extremes: saturation must not give NaN */
            volt_tensor_set_flat(x, 0, -100), volt_tensor_set_flat(x, 1, 100);
            volt_tensor_set_flat(x, 2, 0);
            volt_tensor *y = ops[k](x);
            VOLT_EXPECT(y != NULL && same_shape_as(y, 2, shape));
            double worst = 0;
            for (size_t i = 0; i < 24; i++) {
                double expected = references[k](volt_tensor_get_flat(x, i));
                double diff = fabs(volt_tensor_get_flat(y, i) - expected);
                if (!(diff <= worst)) worst = diff;
            }
            if (!(worst <= (dtype == VOLT_F64 ? 1e-14 : 1e-5)))
                volt_test_fail(__FILE__, __LINE__, "%s %s: max |y - reference| = %.3g",
                               names[k], volt_dtype_name(dtype), worst);
            volt_graph_reset(g);
            /* gradients away from the flat tails, where finite differences lose digits */
            volt_tensor_set_flat(x, 0, -1.5), volt_tensor_set_flat(x, 1, 1.5);
            if (dtype == VOLT_F64)
                EXPECT_GRADCHECK_CASE(g, &x, 1, unary_fn, (void *)&ops[k], F64_EPS, F64_TOL,
                                      names[k]);
            else
                EXPECT_GRADCHECK_CASE(g, &x, 1, unary_fn, (void *)&ops[k], F32_EPS, F32_TOL,
                                      names[k]);
            volt_test_leaf_free(x);
        }
    }
    volt_graph_destroy(g);
}

/* --- softmax, log_softmax ----------------------------------------------------------------- */

static volt_tensor *softmax_fn(volt_tensor **in, void *user) {
    (void)user;
    return volt_softmax(in[0]);
}
static volt_tensor *log_softmax_fn(volt_tensor **in, void *user) {
    (void)user;
    return volt_log_softmax(in[0]);
}
static volt_tensor *softmax_of_transpose(volt_tensor **in, void *user) {
    (void)user;
    return volt_softmax(volt_transpose(in[0], 0, 1));
}

VOLT_TEST(softmax_values_and_stability) {
    volt_graph *g = new_graph(0);
    const long shape[] = {2, 3, 5};
    for (int dt = 0; dt < 2; dt++) {
        volt_dtype dtype = dt ? VOLT_F32 : VOLT_F64;
        double tol = dt ? 1e-6 : 1e-14;
        volt_tensor *x = volt_test_leaf(g, dtype, 3, shape, 0, 1, -3, 3);
        /* one row of logits near 1000: softmax(x + 1000) = softmax(x) */
        for (size_t c = 0; c < 5; c++)
            volt_tensor_set_flat(x, 5 + c, 1000 + volt_tensor_get_flat(x, c));
        volt_tensor *y = volt_softmax(x), *log_y = volt_log_softmax(x);
        VOLT_EXPECT(y && log_y);
        for (size_t r = 0; r < 6; r++) {
            double m = -INFINITY, total = 0, row_sum = 0;
            for (size_t c = 0; c < 5; c++) m = fmax(m, volt_tensor_get_flat(x, r * 5 + c));
            for (size_t c = 0; c < 5; c++) total += exp(volt_tensor_get_flat(x, r * 5 + c) - m);
            for (size_t c = 0; c < 5; c++) {
                size_t i = r * 5 + c;
                double xi = volt_tensor_get_flat(x, i);
                VOLT_EXPECT_NEAR(volt_tensor_get_flat(y, i), exp(xi - m) / total, tol);
                VOLT_EXPECT_NEAR(volt_tensor_get_flat(log_y, i), xi - m - log(total), 10 * tol);
                row_sum += volt_tensor_get_flat(y, i);
            }
            VOLT_EXPECT_NEAR(row_sum, 1.0, 5 * tol);
        }
        /* the shifted row matches the unshifted one (row 1 vs row 0), up to the rounding
         * of 1000 + x to the dtype (ulp 6e-5 in f32) */
        for (size_t c = 0; c < 5; c++) {
            VOLT_EXPECT(isfinite(volt_tensor_get_flat(log_y, 5 + c)));
            VOLT_EXPECT_NEAR(volt_tensor_get_flat(y, 5 + c), volt_tensor_get_flat(y, c),
                             dt ? 1e-4 : 1e-12);
        }
        volt_graph_reset(g);
        volt_test_leaf_free(x);
    }
    volt_tensor *scalar = volt_test_leaf(g, VOLT_F64, 0, NULL, 0, 1, 0, 1);
    VOLT_EXPECT(volt_softmax(scalar) == NULL);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "softmax: needs at least one dimension");
    volt_error_clear();
    volt_test_leaf_free(scalar);
    volt_graph_destroy(g);
}

VOLT_TEST(softmax_gradcheck) {
    volt_graph *g = new_graph(0);
    const long shape[] = {2, 3, 5}, square[] = {4, 3};
    volt_tensor *x = volt_test_leaf(g, VOLT_F64, 3, shape, 1, 2, -2, 2);
    VOLT_EXPECT_GRADCHECK(g, &x, 1, softmax_fn, NULL, F64_EPS, F64_TOL);
    VOLT_EXPECT_GRADCHECK(g, &x, 1, log_softmax_fn, NULL, F64_EPS, F64_TOL);
    volt_tensor *m = volt_test_leaf(g, VOLT_F64, 2, square, 1, 3, -2, 2);
    VOLT_EXPECT_GRADCHECK(g, &m, 1, softmax_of_transpose, NULL, F64_EPS, F64_TOL);
    volt_tensor *x32 = volt_test_leaf(g, VOLT_F32, 3, shape, 1, 2, -2, 2);
    VOLT_EXPECT_GRADCHECK(g, &x32, 1, softmax_fn, NULL, F32_EPS, F32_TOL);
    VOLT_EXPECT_GRADCHECK(g, &x32, 1, log_softmax_fn, NULL, F32_EPS, F32_TOL);
    volt_test_leaf_free(x);
    volt_test_leaf_free(m);
    volt_test_leaf_free(x32);
    volt_graph_destroy(g);
}

/* --- sum, mean, sum_dim ------------------------------------------------------------------- */

static volt_tensor *sum_fn(volt_tensor **in, void *user) {
    (void)user;
    return volt_sum(in[0]);
}
static volt_tensor *mean_fn(volt_tensor **in, void *user) {
    (void)user;
    return volt_mean(in[0]);
}
typedef struct {
    int dim, keepdim;
} sum_dim_args;
static volt_tensor *sum_dim_fn(volt_tensor **in, void *user) {
    const sum_dim_args *args = user;
    return volt_sum_dim(in[0], args->dim, args->keepdim);
}

VOLT_TEST(reductions_values_and_gradients) {
    volt_graph *g = new_graph(0);
    const long shape[] = {2, 3, 4};
    volt_tensor *x = volt_test_leaf(g, VOLT_F64, 3, shape, 1, 3, -1, 1);
    double total = 0;
    for (size_t i = 0; i < 24; i++) total += volt_tensor_get_flat(x, i);
    volt_tensor *s = volt_sum(x), *mean = volt_mean(x);
    VOLT_EXPECT_EQ_INT(s->ndim, 0);
    VOLT_EXPECT_EQ_INT(mean->ndim, 0);
    VOLT_EXPECT_NEAR(volt_tensor_get_flat(s, 0), total, 1e-14);
    VOLT_EXPECT_NEAR(volt_tensor_get_flat(mean, 0), total / 24, 1e-15);
    for (int dim = -1; dim < 3; dim++)
        for (int keepdim = 0; keepdim < 2; keepdim++) {
            volt_tensor *y = volt_sum_dim(x, dim, keepdim);
            int d = dim < 0 ? dim + 3 : dim;
            VOLT_EXPECT(y != NULL);
            if (!y) continue;
            VOLT_EXPECT_EQ_INT(y->ndim, keepdim ? 3 : 2);
            if (keepdim) VOLT_EXPECT_EQ_INT(y->shape[d], 1);
            for (long i = 0; i < 2; i++)
                for (long j = 0; j < 3; j++)
                    for (long k = 0; k < 4; k++) {
                        long index[3] = {i, j, k};
                        if (index[d] != 0) continue;
                        double expected = 0;
                        for (long t = 0; t < shape[d]; t++) {
                            index[d] = t;
                            expected += volt_tensor_get(x, index);
                        }
                        index[d] = 0;
                        long out_index[3], n = 0;
                        for (int e = 0; e < 3; e++)
                            if (e != d || keepdim) out_index[n++] = index[e];
                        VOLT_EXPECT_NEAR(volt_tensor_get(y, out_index), expected, 1e-14);
                    }
        }
    volt_graph_reset(g);
    volt_tensor *x32 = volt_test_leaf(g, VOLT_F32, 3, shape, 1, 3, -1, 1);
    VOLT_EXPECT_GRADCHECK(g, &x, 1, sum_fn, NULL, F64_EPS, F64_TOL);
    VOLT_EXPECT_GRADCHECK(g, &x, 1, mean_fn, NULL, F64_EPS, F64_TOL);
    VOLT_EXPECT_GRADCHECK(g, &x32, 1, sum_fn, NULL, F32_EPS, F32_TOL);
    VOLT_EXPECT_GRADCHECK(g, &x32, 1, mean_fn, NULL, F32_EPS, F32_TOL);
    char label[32];
    for (int dim = -1; dim < 3; dim++) {
        sum_dim_args args = {dim, dim == 1};
        snprintf(label, sizeof label, "dim %d keepdim %d", args.dim, args.keepdim);
        EXPECT_GRADCHECK_CASE(g, &x, 1, sum_dim_fn, &args, F64_EPS, F64_TOL, label);
        EXPECT_GRADCHECK_CASE(g, &x32, 1, sum_dim_fn, &args, F32_EPS, F32_TOL, label);
    }
    VOLT_EXPECT(volt_sum_dim(x, 3, 0) == NULL);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(),
                             "sum_dim: dimension 3 out of range for f64[2, 3, 4] cpu");
    volt_error_clear();
    volt_test_leaf_free(x);
    volt_test_leaf_free(x32);
    volt_graph_destroy(g);
}

/* --- dropout ------------------------------------------------------------------------------ */

enum { DROPOUT_N = 100000 };

VOLT_TEST(dropout_keeps_one_minus_p_and_scales) {
    volt_graph *g = new_graph(42);
    const long shape[] = {DROPOUT_N};
    const double ps[] = {0.1, 0.5, 0.9};
    volt_tensor *x = volt_test_leaf(g, VOLT_F32, 1, shape, 0, 1, 0.5, 1.5);
    for (int k = 0; k < 3; k++) {
        double p = ps[k];
        volt_tensor *y = volt_dropout_fn(x, p);
        VOLT_EXPECT(y != NULL && y != x);
        if (!y) continue;
        size_t kept = 0;
        double worst = 0;
        for (size_t i = 0; i < DROPOUT_N; i++) {
            double yi = volt_tensor_get_flat(y, i);
            if (yi == 0) continue;
            kept++;
            double expected = (float)(volt_tensor_get_flat(x, i) * (float)(1 / (1 - p)));
            worst = fmax(worst, fabs(yi - expected) / expected);
        }
        double fraction = (double)kept / DROPOUT_N;
        if (!(fabs(fraction - (1 - p)) < 0.01))
            volt_test_fail(__FILE__, __LINE__, "p = %g: kept %.4f of the elements, expected %.4f",
                           p, fraction, 1 - p);
        if (!(worst < 1e-6))
            volt_test_fail(__FILE__, __LINE__, "p = %g: kept values off 1/(1-p) by %.3g", p, worst);
    }
    volt_test_leaf_free(x);
    volt_graph_destroy(g);
}

VOLT_TEST(dropout_mask_is_a_function_of_seed_step_call) {
    const double p = 0.3;
    volt_graph *g1 = new_graph(7), *g2 = new_graph(7), *other_seed = new_graph(8);
    const long shape[] = {64, 64};
    size_t n = 64 * 64;
    volt_tensor *x1 = volt_test_leaf(g1, VOLT_F64, 2, shape, 0, 1, 1, 2);
    volt_tensor *x2 = volt_test_leaf(g2, VOLT_F64, 2, shape, 0, 1, 1, 2);
    volt_tensor *x3 = volt_test_leaf(other_seed, VOLT_F64, 2, shape, 0, 1, 1, 2);
    /* the stream the first call of the first step gets, learnt from a twin graph */
    volt_graph *probe = new_graph(7);
    uint64_t stream = volt_graph_next_stream(probe);
    volt_graph_destroy(probe);
    volt_tensor *first = volt_dropout_fn(x1, p), *second = volt_dropout_fn(x1, p);
    volt_tensor *twin = volt_dropout_fn(x2, p), *seeded = volt_dropout_fn(x3, p);
    uint32_t threshold = (uint32_t)nearbyint(p * 4294967296.0);
    size_t mismatched_rng = 0, same_as_twin = 0, same_as_second = 0, same_as_seeded = 0;
    for (size_t i = 0; i < n; i++) {
        int kept = volt_tensor_get_flat(first, i) != 0;
        int drawn = volt_rng_bits(7, stream, i) >= threshold;
        mismatched_rng += kept != drawn;
        same_as_twin += kept == (volt_tensor_get_flat(twin, i) != 0);
        same_as_second += kept == (volt_tensor_get_flat(second, i) != 0);
        same_as_seeded += kept == (volt_tensor_get_flat(seeded, i) != 0);
    }
    VOLT_EXPECT_EQ_INT(mismatched_rng, 0); /* mask_i = volt_rng_bits(seed, stream, i) */
    VOLT_EXPECT_EQ_INT(same_as_twin, n);   /* same seed, step and call: same mask */
    /* another call or another seed: independent masks agree on ~ p^2 + (1-p)^2 = 58% */
    VOLT_EXPECT(same_as_second < n * 2 / 3);
    VOLT_EXPECT(same_as_seeded < n * 2 / 3);
    /* the next step's first call differs from this step's */
    volt_tensor *kept_now = volt_dropout_fn(x2, 0.0); /* p = 0: x itself, no stream */
    VOLT_EXPECT(kept_now == x2);
    double *previous = malloc(n * sizeof *previous);
    for (size_t i = 0; i < n; i++) previous[i] = volt_tensor_get_flat(first, i);
    volt_graph_reset(g1);
    volt_tensor *next_step = volt_dropout_fn(x1, p);
    size_t same_next = 0;
    for (size_t i = 0; i < n; i++)
        same_next += (previous[i] != 0) == (volt_tensor_get_flat(next_step, i) != 0);
    VOLT_EXPECT(same_next < n * 2 / 3);
    free(previous);
    volt_test_leaf_free(x1);
    volt_test_leaf_free(x2);
    volt_test_leaf_free(x3);
    volt_graph_destroy(g1);
    volt_graph_destroy(g2);
    volt_graph_destroy(other_seed);
}

VOLT_TEST(dropout_gradient_is_mask_times_scale) {
    volt_graph *g = new_graph(3);
    const long shape[] = {3, 50};
    const double p = 0.4;
    for (int dt = 0; dt < 2; dt++) {
        volt_dtype dtype = dt ? VOLT_F32 : VOLT_F64;
        volt_tensor *x = volt_test_leaf(g, dtype, 2, shape, 1, 9, 0.5, 1.5);
        volt_tensor *dy = volt_test_leaf(g, dtype, 2, shape, 0, 10, -1, 1);
        volt_tensor *y = volt_dropout_fn(x, p);
        VOLT_EXPECT_OK(volt_backward_with(y, dy));
        /* y = x m / (1 - p), so dx = dy m / (1 - p) = dy y / x */
        size_t dropped = 0;
        for (size_t i = 0; i < 150; i++) {
            double yi = volt_tensor_get_flat(y, i), xi = volt_tensor_get_flat(x, i);
            double mask = yi != 0;
            dropped += yi == 0;
            double expected = volt_tensor_get_flat(dy, i) * mask / (1 - p);
            VOLT_EXPECT_NEAR(volt_tensor_get_flat(x->grad, i), expected, dt ? 1e-6 : 1e-15);
            VOLT_EXPECT_NEAR(yi, xi * mask / (1 - p), dt ? 2e-6 : 1e-15);
        }
        VOLT_EXPECT(dropped > 0 && dropped < 150);
        x->grad = NULL;
        volt_graph_reset(g);
        volt_test_leaf_free(x);
        volt_test_leaf_free(dy);
    }
    volt_graph_destroy(g);
}

VOLT_TEST(dropout_eval_mode_and_bad_inputs) {
    volt_graph *g = new_graph(1);
    const long shape[] = {4, 5};
    volt_tensor *x = volt_test_leaf(g, VOLT_F64, 2, shape, 1, 1, -1, 1);
    volt_graph_set_training(g, 0);
    /* in evaluation mode dropout is the identity: x itself, no node */
    VOLT_EXPECT(volt_dropout_fn(x, 0.5) == x);
    VOLT_EXPECT_EQ_INT(volt_graph_node_count(g), 0);
    volt_graph_set_training(g, 1);
    VOLT_EXPECT(volt_dropout_fn(x, 0.0) == x);
    const double bad[] = {1.0, -0.1, 1.5, NAN};
    for (int k = 0; k < 4; k++) {
        VOLT_EXPECT(volt_dropout_fn(x, bad[k]) == NULL);
        VOLT_EXPECT_EQ_INT(volt_error_status(), VOLT_ERR_ARG);
        VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "dropout: probability p = ");
        VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "outside [0, 1)");
        volt_error_clear();
    }
    volt_tensor *ints = volt_test_leaf(g, VOLT_I64, 2, shape, 0, 1, 0, 9);
    VOLT_EXPECT(volt_dropout_fn(ints, 0.1) == NULL);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(),
                             "dropout: expected an f32 or f64 tensor, got i64[4, 5] cpu");
    volt_error_clear();
    volt_test_leaf_free(ints);
    volt_test_leaf_free(x);
    volt_graph_destroy(g);
}
