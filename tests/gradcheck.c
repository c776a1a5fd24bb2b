/* tests/gradcheck.c — finite-difference checks of backward functions. */
#include "gradcheck.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "volt_test.h"

volt_tensor *volt_test_leaf(volt_graph *g, volt_dtype dtype, int ndim, const long *shape,
                            int requires_grad, uint64_t seed, double low, double high) {
    volt_tensor *t = calloc(1, sizeof *t);
    if (volt_tensor_wrap(t, NULL, dtype, ndim, shape) != VOLT_OK) abort();
    size_t n = volt_tensor_numel(t);
    t->data = calloc(n ? n : 1, volt_dtype_size(dtype));
    t->graph = g;
    t->requires_grad = requires_grad;
    double *values = malloc((n ? n : 1) * sizeof *values);
    volt_rng_uniform_f64(seed, 7, 0, values, n, low, high);
    for (size_t i = 0; i < n; i++) volt_tensor_set_flat(t, i, values[i]);
    free(values);
    return t;
}

volt_tensor *volt_test_index_leaf(volt_graph *g, volt_dtype dtype, int ndim, const long *shape,
                                  const long *values) {
    volt_tensor *t = volt_test_leaf(g, dtype, ndim, shape, 0, 1, 0, 0);
    for (size_t i = 0; i < volt_tensor_numel(t); i++) volt_tensor_set_flat(t, i, (double)values[i]);
    return t;
}

void volt_test_leaf_free(volt_tensor *t) {
    if (!t) return;
    free(t->data);
    free(t);
}

/* L = sum(w * f(inputs)) without recording; NAN if f failed. */
static double weighted_output(volt_graph *g, volt_tensor **inputs, volt_gradcheck_fn fn,
                              void *user, const double *w, size_t wn) {
    int was = volt_graph_set_grad_enabled(g, 0);
    volt_tensor *y = fn(inputs, user);
    double total = NAN;
    if (!y) { /* report the failure once, and leave the stack clean for the caller */
        volt_error_print(stderr);
        volt_error_clear();
    } else if (volt_tensor_numel(y) == wn) {
        total = 0;
        for (size_t i = 0; i < wn; i++) total += w[i] * volt_tensor_get_flat(y, i);
    }
    volt_graph_set_grad_enabled(g, was);
    volt_graph_reset(g);
    return total;
}

volt_gradcheck_result volt_gradcheck(volt_graph *g, volt_tensor **inputs, int count,
                                     volt_gradcheck_fn fn, void *user, double eps,
                                     double floor) {
    volt_gradcheck_result result = {INFINITY, -1, 0, NAN, NAN};
    volt_graph_reset(g);
    /* leaves get fresh gradients from the arena; parameters keep their view of the flat
     * gradient buffer, zeroed here */
    for (int k = 0; k < count; k++) {
        if (inputs[k]->param) memset(inputs[k]->grad->data, 0, volt_tensor_nbytes(inputs[k]));
        else inputs[k]->grad = NULL;
    }

    /* analytic gradients, copied out of the arena before it is reset */
    volt_tensor *y = fn(inputs, user);
    if (!y) {
        volt_error_print(stderr);
        volt_error_clear();
        return result;
    }
    size_t wn = volt_tensor_numel(y);
    double *w = malloc(wn * sizeof *w);
    volt_rng_uniform_f64(12345, 1, 0, w, wn, -1.0, 1.0);
    volt_tensor *w_tensor = volt_graph_tensor(g, y->dtype, y->ndim, y->shape);
    for (size_t i = 0; i < wn; i++) volt_tensor_set_flat(w_tensor, i, w[i]);
    if (volt_backward_with(y, w_tensor) != VOLT_OK) {
        volt_error_print(stderr);
        volt_error_clear();
        free(w);
        return result;
    }
    double **analytic = calloc((size_t)count, sizeof *analytic);
    for (int k = 0; k < count; k++) {
        if (!inputs[k]->requires_grad) continue;
        size_t n = volt_tensor_numel(inputs[k]);
        analytic[k] = calloc(n ? n : 1, sizeof **analytic);
        if (inputs[k]->grad)
            for (size_t i = 0; i < n; i++) analytic[k][i] = volt_tensor_get_flat(inputs[k]->grad, i);
        if (!inputs[k]->param) inputs[k]->grad = NULL;
    }
    volt_graph_reset(g);

    result.max_rel_error = 0;
    for (int k = 0; k < count; k++) {
        if (!analytic[k]) continue;
        size_t n = volt_tensor_numel(inputs[k]);
        for (size_t i = 0; i < n; i++) {
            double x0 = volt_tensor_get_flat(inputs[k], i);
            volt_tensor_set_flat(inputs[k], i, x0 + eps);
            double x_plus = volt_tensor_get_flat(inputs[k], i); /* the step as stored */
            double plus = weighted_output(g, inputs, fn, user, w, wn);
            volt_tensor_set_flat(inputs[k], i, x0 - eps);
            double x_minus = volt_tensor_get_flat(inputs[k], i);
            double minus = weighted_output(g, inputs, fn, user, w, wn);
            volt_tensor_set_flat(inputs[k], i, x0);
            double numeric = (plus - minus) / (x_plus - x_minus);
            double a = analytic[k][i];
            double rel = fabs(a - numeric) / fmax(fmax(fabs(a), fabs(numeric)), floor);
            if (!(rel <= result.max_rel_error)) { /* also catches NaN */
                result.max_rel_error = isnan(rel) ? INFINITY : rel;
                result.worst_input = k;
                result.worst_element = i;
                result.analytic = a;
                result.numeric = numeric;
            }
        }
        free(analytic[k]);
    }
    free(analytic);
    free(w);
    return result;
}
