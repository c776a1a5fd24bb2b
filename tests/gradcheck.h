/* tests/gradcheck.h — gradients of an op against central finite differences.
 *
 * The op under test is a function of some leaf tensors that builds an output y on the
 * graph. The check draws a fixed random weight w (same shape as y) and compares
 *   analytic: the gradient of L = sum(w * y) by volt_backward_with(y, w),
 *   numeric:  (L(x + eps e_i) - L(x - eps e_i)) / (2 eps) for every element i of every
 *             input that requires grad,
 * and returns the largest relative error |a - n| / max(|a|, |n|, floor). Weighting by w
 * makes every output element count with its own coefficient, so a backward that mixes
 * up elements is caught. The leaves must not live in the graph's arena (use
 * volt_test_leaf); each evaluation resets the graph. Parameters (of a volt_params
 * store) may be inputs too: their gradient views are zeroed and read in place. */
#ifndef VOLT_TESTS_GRADCHECK_H
#define VOLT_TESTS_GRADCHECK_H

#include "autograd/graph.h"

typedef volt_tensor *(*volt_gradcheck_fn)(volt_tensor **inputs, void *user);

typedef struct volt_gradcheck_result {
    double max_rel_error;
    int worst_input;      /* which input and element gave it */
    size_t worst_element;
    double analytic, numeric;
} volt_gradcheck_result;

/* A heap-allocated leaf on graph g, contiguous, filled with uniform(low, high) from seed;
 * requires_grad as given. Free with volt_test_leaf_free. */
volt_tensor *volt_test_leaf(volt_graph *g, volt_dtype dtype, int ndim, const long *shape,
                            int requires_grad, uint64_t seed, double low, double high);
void volt_test_leaf_free(volt_tensor *t);
/* A heap index tensor (i32 or i64, no gradient) holding values[] in row-major order. */
volt_tensor *volt_test_index_leaf(volt_graph *g, volt_dtype dtype, int ndim, const long *shape,
                                  const long *values);

/* eps: 1e-6 suits f64, 1e-2 to 1e-3 f32; floor: see above (1e-3 is a good default). */
volt_gradcheck_result volt_gradcheck(volt_graph *g, volt_tensor **inputs, int count,
                                     volt_gradcheck_fn fn, void *user, double eps,
                                     double floor);

/* Runs volt_gradcheck and fails the current test, printing the worst element, when the
 * error exceeds tol. */
#define VOLT_EXPECT_GRADCHECK(g, inputs, count, fn, user, eps, tol)                    \
    do {                                                                               \
        volt_gradcheck_result r_ = volt_gradcheck((g), (inputs), (count), (fn), (user), (eps), 1e-3); \
        if (!(r_.max_rel_error < (tol)))                                               \
            volt_test_fail(__FILE__, __LINE__,                                         \
                           "gradcheck %s: max rel error %.3g >= %.3g at input %d element %zu " \
                           "(analytic %.10g, numeric %.10g)", #fn, r_.max_rel_error,  \
                           (double)(tol), r_.worst_input, r_.worst_element, r_.analytic, \
                           r_.numeric);                                                \
    } while (0)

#endif
