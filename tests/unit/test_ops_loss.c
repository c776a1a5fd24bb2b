/* tests/unit/test_ops_loss.c — cross-entropy (i32/i64 targets, ignore index, known
 * values, large logits, bad targets) and MSE: values against references computed plainly
 * here, and gradients against central finite differences in f64 (eps 1e-6, tol 1e-6) and
 * f32 (eps 1e-3, tol 2e-3). */
#include "gradcheck.h"
#include "ops/ops.h"
#include "volt_test.h"

static const double F64_EPS = 1e-6, F64_TOL = 1e-6, F32_EPS = 1e-3, F32_TOL = 2e-3;

static volt_graph *new_graph(void) {
    volt_graph *g = NULL;
    VOLT_EXPECT_OK(volt_graph_create(NULL, &g));
    return g;
}


/* The loss computed plainly: mean over counted rows of logsumexp(x_r) - x[r, t_r]. */
static double reference_cross_entropy(const volt_tensor *logits, const long *targets,
                                      long ignore_index) {
    size_t cols = (size_t)logits->shape[logits->ndim - 1];
    size_t rows = volt_tensor_numel(logits) / cols, count = 0;
    double total = 0;
    for (size_t r = 0; r < rows; r++) {
        if (targets[r] == ignore_index) continue;
        double m = -INFINITY, sum = 0;
        for (size_t c = 0; c < cols; c++) m = fmax(m, volt_tensor_get_flat(logits, r * cols + c));
        for (size_t c = 0; c < cols; c++)
            sum += exp(volt_tensor_get_flat(logits, r * cols + c) - m);
        total += m + log(sum) - volt_tensor_get_flat(logits, r * cols + (size_t)targets[r]);
        count++;
    }
    return count ? total / (double)count : 0;
}

typedef struct {
    volt_tensor *targets;
    long ignore_index;
} cross_entropy_args;

static volt_tensor *cross_entropy_fn(volt_tensor **in, void *user) {
    const cross_entropy_args *args = user;
    return volt_cross_entropy_ex(in[0], args->targets, args->ignore_index);
}

VOLT_TEST(cross_entropy_uniform_logits_give_log_c) {
    volt_graph *g = new_graph();
    const long shape[] = {4, 7}, rows[] = {4}, values[] = {0, 3, 6, 2};
    volt_tensor *logits = volt_test_leaf(g, VOLT_F64, 2, shape, 1, 1, 0, 0); /* all 0 */
    volt_tensor *targets = volt_test_index_leaf(g, VOLT_I64, 1, rows, values);
    volt_tensor *loss = volt_cross_entropy(logits, targets);
    VOLT_EXPECT(loss != NULL && loss->ndim == 0);
    VOLT_EXPECT_NEAR(volt_tensor_get_flat(loss, 0), log(7.0), 1e-15);
    /* dlogits = (1/C - onehot) / N */
    VOLT_EXPECT_OK(volt_backward(loss));
    for (size_t r = 0; r < 4; r++)
        for (size_t c = 0; c < 7; c++)
            VOLT_EXPECT_NEAR(volt_tensor_get_flat(logits->grad, r * 7 + c),
                             (1.0 / 7 - ((long)c == values[r])) / 4, 1e-16);
    volt_test_leaf_free(logits);
    volt_test_leaf_free(targets);
    volt_graph_destroy(g);
}

VOLT_TEST(cross_entropy_values_and_gradients) {
    volt_graph *g = new_graph();
    const long shape[] = {2, 3, 5}, lead[] = {2, 3};
    const long values[] = {4, 0, VOLT_IGNORE_INDEX, 2, 1, 3};
    for (int dt = 0; dt < 2; dt++) {
        volt_dtype dtype = dt ? VOLT_F32 : VOLT_F64;
        for (int it = 0; it < 2; it++) {
            volt_tensor *logits = volt_test_leaf(g, dtype, 3, shape, 1, 2, -3, 3);
            volt_tensor *targets = volt_test_index_leaf(g, it ? VOLT_I32 : VOLT_I64, 2, lead, values);
            volt_tensor *loss = volt_cross_entropy(logits, targets);
            VOLT_EXPECT(loss != NULL);
            if (!loss) continue;
            double expected = reference_cross_entropy(logits, values, VOLT_IGNORE_INDEX);
            VOLT_EXPECT_NEAR(volt_tensor_get_flat(loss, 0), expected, dt ? 1e-6 : 1e-14);
            VOLT_EXPECT_OK(volt_backward(loss));
            /* the ignored row (row 2) gets no gradient */
            for (size_t c = 0; c < 5; c++)
                VOLT_EXPECT_EQ_INT(volt_tensor_get_flat(logits->grad, 2 * 5 + c) == 0, 1);
            cross_entropy_args args = {targets, VOLT_IGNORE_INDEX};
            if (dt)
                VOLT_EXPECT_GRADCHECK(g, &logits, 1, cross_entropy_fn, &args, F32_EPS, F32_TOL);
            else
                VOLT_EXPECT_GRADCHECK(g, &logits, 1, cross_entropy_fn, &args, F64_EPS, F64_TOL);
            volt_graph_reset(g);
            volt_test_leaf_free(logits);
            volt_test_leaf_free(targets);
        }
    }
    volt_graph_destroy(g);
}

VOLT_TEST(cross_entropy_custom_and_all_ignored) {
    volt_graph *g = new_graph();
    const long shape[] = {5, 4}, rows[] = {5};
    const long values[] = {0, 1, 0, 3, 2};
    volt_tensor *logits = volt_test_leaf(g, VOLT_F64, 2, shape, 1, 3, -2, 2);
    /* class 0 as the ignore index: rows 0 and 2 do not count */
    volt_tensor *targets = volt_test_index_leaf(g, VOLT_I32, 1, rows, values);
    volt_tensor *loss = volt_cross_entropy_ex(logits, targets, 0);
    VOLT_EXPECT_NEAR(volt_tensor_get_flat(loss, 0), reference_cross_entropy(logits, values, 0),
                     1e-14);
    cross_entropy_args args = {targets, 0};
    VOLT_EXPECT_GRADCHECK(g, &logits, 1, cross_entropy_fn, &args, F64_EPS, F64_TOL);

    /* every target ignored: loss 0, gradient 0 */
    const long ignored[] = {-1, -1, -1, -1, -1};
    volt_tensor *none = volt_test_index_leaf(g, VOLT_I64, 1, rows, ignored);
    loss = volt_cross_entropy_ex(logits, none, -1);
    VOLT_EXPECT(loss != NULL);
    VOLT_EXPECT_NEAR(volt_tensor_get_flat(loss, 0), 0.0, 0);
    VOLT_EXPECT_OK(volt_backward(loss));
    VOLT_EXPECT(logits->grad != NULL);
    for (size_t i = 0; i < 20 && logits->grad; i++)
        VOLT_EXPECT_NEAR(volt_tensor_get_flat(logits->grad, i), 0.0, 0);
    logits->grad = NULL;
    volt_graph_reset(g);

    /* targets as a transposed (strided) view of [2, 3] integers match logits [3, 2, C] */
    const long stored_shape[] = {2, 3}, logits_shape[] = {3, 2, 4};
    const long stored[] = {0, 1, 2, 3, 2, 1}, in_view_order[] = {0, 3, 1, 2, 2, 1};
    volt_tensor *stored_targets = volt_test_index_leaf(g, VOLT_I32, 2, stored_shape, stored);
    volt_tensor *logits3 = volt_test_leaf(g, VOLT_F64, 3, logits_shape, 1, 4, -2, 2);
    loss = volt_cross_entropy(logits3, volt_transpose(stored_targets, 0, 1));
    VOLT_EXPECT(loss != NULL);
    if (loss)
        VOLT_EXPECT_NEAR(volt_tensor_get_flat(loss, 0),
                         reference_cross_entropy(logits3, in_view_order, VOLT_IGNORE_INDEX), 1e-14);
    volt_graph_reset(g);
    volt_test_leaf_free(stored_targets);
    volt_test_leaf_free(logits3);
    volt_test_leaf_free(none);
    volt_test_leaf_free(logits);
    volt_test_leaf_free(targets);
    volt_graph_destroy(g);
}

VOLT_TEST(cross_entropy_large_logits_are_stable) {
    volt_graph *g = new_graph();
    const long shape[] = {3, 6}, rows[] = {3}, values[] = {5, 0, 2};
    for (int dt = 0; dt < 2; dt++) {
        volt_dtype dtype = dt ? VOLT_F32 : VOLT_F64;
        volt_tensor *small = volt_test_leaf(g, dtype, 2, shape, 1, 4, -2, 2);
        volt_tensor *large = volt_test_leaf(g, dtype, 2, shape, 1, 4, -2, 2);
        for (size_t i = 0; i < 18; i++)
            volt_tensor_set_flat(large, i, 1000 + volt_tensor_get_flat(large, i));
        volt_tensor *targets = volt_test_index_leaf(g, VOLT_I64, 1, rows, values);
        volt_tensor *loss_small = volt_cross_entropy(small, targets);
        volt_tensor *loss_large = volt_cross_entropy(large, targets);
        double l_large = volt_tensor_get_flat(loss_large, 0);
        VOLT_EXPECT(isfinite(l_large));
        /* shift invariance, up to the rounding of 1000 + x to the dtype */
        VOLT_EXPECT_NEAR(l_large, volt_tensor_get_flat(loss_small, 0), dt ? 2e-4 : 1e-11);
        VOLT_EXPECT_NEAR(l_large, reference_cross_entropy(large, values, VOLT_IGNORE_INDEX),
                         dt ? 1e-5 : 1e-12);
        VOLT_EXPECT_OK(volt_backward(loss_large));
        VOLT_EXPECT_OK(volt_backward(loss_small));
        for (size_t i = 0; i < 18; i++)
            VOLT_EXPECT_NEAR(volt_tensor_get_flat(large->grad, i),
                             volt_tensor_get_flat(small->grad, i), dt ? 1e-4 : 1e-12);
        volt_graph_reset(g);
        volt_test_leaf_free(small);
        volt_test_leaf_free(large);
        volt_test_leaf_free(targets);
    }
    volt_graph_destroy(g);
}

VOLT_TEST(cross_entropy_rejects_bad_targets) {
    volt_graph *g = new_graph();
    const long shape[] = {3, 5}, rows[] = {3}, four[] = {4};
    volt_tensor *logits = volt_test_leaf(g, VOLT_F32, 2, shape, 1, 5, -1, 1);
    const long too_big[] = {1, 4, 5}, negative[] = {0, -3, 2}, fine[] = {0, 1, 2, 3};
    volt_tensor *t_big = volt_test_index_leaf(g, VOLT_I64, 1, rows, too_big);
    VOLT_EXPECT(volt_cross_entropy(logits, t_big) == NULL);
    VOLT_EXPECT_EQ_INT(volt_error_status(), VOLT_ERR_ARG);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "cross_entropy: target 5 at position 2");
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "outside [0, 5)");
    volt_error_clear();
    volt_tensor *t_neg = volt_test_index_leaf(g, VOLT_I32, 1, rows, negative);
    VOLT_EXPECT(volt_cross_entropy(logits, t_neg) == NULL);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "target -3 at position 1");
    volt_error_clear();
    volt_tensor *t_float = volt_test_leaf(g, VOLT_F32, 1, rows, 0, 1, 0, 1);
    VOLT_EXPECT(volt_cross_entropy(logits, t_float) == NULL);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(),
                             "cross_entropy: targets must be i32 or i64, got f32[3] cpu");
    volt_error_clear();
    volt_tensor *t_count = volt_test_index_leaf(g, VOLT_I64, 1, four, fine);
    VOLT_EXPECT(volt_cross_entropy(logits, t_count) == NULL);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(),
                             "logits f32[3, 5] cpu have 3 rows but targets i64[4] cpu have 4");
    volt_error_clear();
    VOLT_EXPECT(volt_cross_entropy(t_big, t_big) == NULL);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "expected an f32 or f64 tensor, got i64[3]");
    volt_error_clear();
    VOLT_EXPECT(volt_cross_entropy(NULL, t_big) == NULL);
    VOLT_EXPECT_EQ_INT(volt_error_depth(), 0);
    volt_test_leaf_free(t_big);
    volt_test_leaf_free(t_neg);
    volt_test_leaf_free(t_float);
    volt_test_leaf_free(t_count);
    volt_test_leaf_free(logits);
    volt_graph_destroy(g);
}

/* --- mse ----------------------------------------------------------------------------------- */

static volt_tensor *mse_fn(volt_tensor **in, void *user) {
    (void)user;
    return volt_mse_loss(in[0], in[1]);
}

VOLT_TEST(mse_values_and_gradients_to_both_inputs) {
    volt_graph *g = new_graph();
    const long shape[] = {3, 4};
    for (int dt = 0; dt < 2; dt++) {
        volt_dtype dtype = dt ? VOLT_F32 : VOLT_F64;
        volt_tensor *in[2] = {volt_test_leaf(g, dtype, 2, shape, 1, 6, -2, 2),
                              volt_test_leaf(g, dtype, 2, shape, 1, 7, -2, 2)};
        double expected = 0;
        for (size_t i = 0; i < 12; i++) {
            double d = volt_tensor_get_flat(in[0], i) - volt_tensor_get_flat(in[1], i);
            expected += d * d / 12;
        }
        volt_tensor *loss = volt_mse_loss(in[0], in[1]);
        VOLT_EXPECT(loss != NULL && loss->ndim == 0);
        VOLT_EXPECT_NEAR(volt_tensor_get_flat(loss, 0), expected, dt ? 1e-6 : 1e-14);
        if (dt)
            VOLT_EXPECT_GRADCHECK(g, in, 2, mse_fn, NULL, F32_EPS, F32_TOL);
        else
            VOLT_EXPECT_GRADCHECK(g, in, 2, mse_fn, NULL, F64_EPS, F64_TOL);
        /* a target that does not require grad gets none */
        in[1]->requires_grad = 0;
        loss = volt_mse_loss(in[0], in[1]);
        VOLT_EXPECT_OK(volt_backward(loss));
        VOLT_EXPECT(in[0]->grad != NULL && in[1]->grad == NULL);
        in[0]->grad = NULL;
        volt_graph_reset(g);
        volt_test_leaf_free(in[0]);
        volt_test_leaf_free(in[1]);
    }
    const long other[] = {4, 3};
    volt_tensor *a = volt_test_leaf(g, VOLT_F64, 2, shape, 1, 1, -1, 1);
    volt_tensor *b = volt_test_leaf(g, VOLT_F64, 2, other, 1, 2, -1, 1);
    VOLT_EXPECT(volt_mse_loss(a, b) == NULL);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(),
                             "mse_loss: prediction f64[3, 4] cpu and target f64[4, 3] cpu differ");
    volt_error_clear();
    volt_test_leaf_free(a);
    volt_test_leaf_free(b);
    volt_graph_destroy(g);
}
