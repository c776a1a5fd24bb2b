/* tests/unit/test_ops_shape.c — views (reshape, transpose, contiguous) and ReLU:
 * values, and gradients against central finite differences in f64 and f32. */
#include "gradcheck.h"
#include "ops/ops.h"
#include "volt_test.h"

static volt_tensor *relu_of_first(volt_tensor **in, void *user) {
    (void)user;
    return volt_relu(in[0]);
}

/* transpose then contiguous then reshape: every view's backward in one chain */
static volt_tensor *view_chain(volt_tensor **in, void *user) {
    (void)user;
    volt_tensor *t = volt_transpose(in[0], 0, 2);
    volt_tensor *c = volt_contiguous(t);
    const long shape[] = {-1, 6};
    return volt_reshape(c, 2, shape);
}

/* relu of a transposed view goes through an implicit contiguous copy */
static volt_tensor *relu_of_transpose(volt_tensor **in, void *user) {
    (void)user;
    return volt_relu(volt_transpose(in[0], 0, 1));
}

VOLT_TEST(relu_gradcheck_f64_and_f32) {
    volt_graph *g;
    VOLT_EXPECT_OK(volt_graph_create(NULL, &g));
    const long shape[] = {3, 5};
    volt_tensor *x = volt_test_leaf(g, VOLT_F64, 2, shape, 1, 1, 0.1, 1.0);
    /* half the elements negative, none within eps of the kink */
    for (size_t i = 0; i < 15; i += 2) volt_tensor_set_flat(x, i, -volt_tensor_get_flat(x, i));
    VOLT_EXPECT_GRADCHECK(g, &x, 1, relu_of_first, NULL, 1e-6, 1e-6);
    volt_tensor *x32 = volt_test_leaf(g, VOLT_F32, 2, shape, 1, 1, 0.1, 1.0);
    VOLT_EXPECT_GRADCHECK(g, &x32, 1, relu_of_first, NULL, 1e-2, 2e-3);
    volt_test_leaf_free(x);
    volt_test_leaf_free(x32);
    volt_graph_destroy(g);
}

VOLT_TEST(view_chain_values_and_gradients) {
    volt_graph *g;
    VOLT_EXPECT_OK(volt_graph_create(NULL, &g));
    const long shape[] = {2, 3, 4};
    volt_tensor *x = volt_test_leaf(g, VOLT_F64, 3, shape, 1, 2, -1.0, 1.0);
    volt_tensor *y = view_chain(&x, NULL);
    VOLT_EXPECT(y != NULL);
    VOLT_EXPECT_EQ_INT(y->ndim, 2);
    VOLT_EXPECT_EQ_INT(y->shape[0], 4);
    VOLT_EXPECT_EQ_INT(y->shape[1], 6);
    /* y[a, b*2 + c] = x[c, b, a] after transpose(0, 2) to [4, 3, 2] */
    for (long a = 0; a < 4; a++)
        for (long b = 0; b < 3; b++)
            for (long c = 0; c < 2; c++) {
                const long yi[] = {a, b * 2 + c}, xi[] = {c, b, a};
                VOLT_EXPECT_NEAR(volt_tensor_get(y, yi), volt_tensor_get(x, xi), 0);
            }
    volt_graph_reset(g);
    VOLT_EXPECT_GRADCHECK(g, &x, 1, view_chain, NULL, 1e-6, 1e-6);
    const long square[] = {4, 3};
    volt_tensor *m = volt_test_leaf(g, VOLT_F64, 2, square, 1, 3, 0.1, 1.0);
    VOLT_EXPECT_GRADCHECK(g, &m, 1, relu_of_transpose, NULL, 1e-6, 1e-6);
    volt_test_leaf_free(m);
    volt_test_leaf_free(x);
    volt_graph_destroy(g);
}

VOLT_TEST(reshape_rejects_bad_shapes) {
    volt_graph *g;
    VOLT_EXPECT_OK(volt_graph_create(NULL, &g));
    const long shape[] = {2, 3};
    volt_tensor *x = volt_test_leaf(g, VOLT_F32, 2, shape, 0, 4, -1, 1);
    const long wrong[] = {4, 2};
    VOLT_EXPECT(volt_reshape(x, 2, wrong) == NULL);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "6 elements");
    volt_error_clear();
    const long two_free[] = {-1, -1};
    VOLT_EXPECT(volt_reshape(x, 2, two_free) == NULL);
    volt_error_clear();
    VOLT_EXPECT(volt_reshape(volt_transpose(x, 0, 1), 2, shape) == NULL);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "not contiguous");
    volt_error_clear();
    /* a NULL input (an upstream failure) gives NULL without a new error */
    VOLT_EXPECT(volt_relu(NULL) == NULL);
    VOLT_EXPECT_EQ_INT(volt_error_depth(), 0);
    volt_test_leaf_free(x);
    volt_graph_destroy(g);
}
