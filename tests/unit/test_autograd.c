/* tests/unit/test_autograd.c — flat parameter buffers, the tape walk, grad-ready events,
 * no_grad, gradient accumulation, and a step that allocates nothing once warm. */
#include <stdint.h>
#include <string.h>

#include "autograd/params.h"
#include "nn/nn.h"
#include "volt_test.h"

VOLT_TEST(params_live_in_one_aligned_flat_buffer) {
    volt_params *p;
    VOLT_EXPECT_OK(volt_params_create(VOLT_F32, 1, &p));
    const long a_shape[] = {3, 5}, b_shape[] = {7};
    volt_param *a, *b;
    VOLT_EXPECT_OK(volt_params_add(p, "a.weight", 2, a_shape, &a));
    volt_param_init_constant(p, a, 2.0);
    /* force the buffer to grow: earlier parameters are re-pointed, values kept */
    const long big[] = {5000};
    volt_param *c;
    VOLT_EXPECT_OK(volt_params_add(p, "b.bias", 1, b_shape, &b));
    VOLT_EXPECT_OK(volt_params_add(p, "c.big", 1, big, &c));
    VOLT_EXPECT_EQ_INT(a->offset, 0);
    VOLT_EXPECT_EQ_INT(b->offset, 16); /* 15 rounded up to the 16-element alignment */
    VOLT_EXPECT_EQ_INT(c->offset, 32);
    VOLT_EXPECT_EQ_INT(volt_params_flat_size(p), 5032);
    VOLT_EXPECT_EQ_INT(volt_params_numel(p), 15 + 7 + 5000);
    float *flat = volt_params_data(p);
    VOLT_EXPECT(a->tensor->data == (void *)flat);
    VOLT_EXPECT(b->tensor->data == (void *)(flat + 16));
    VOLT_EXPECT(a->tensor->grad->data == volt_params_grad(p));
    VOLT_EXPECT_NEAR(flat[14], 2.0, 0);
    VOLT_EXPECT_NEAR(flat[15], 0.0, 0); /* padding stays zero */
    VOLT_EXPECT(volt_params_find(p, "b.bias") == b);
    VOLT_EXPECT(volt_params_find(p, "nope") == NULL);
    VOLT_EXPECT_FAIL(volt_params_add(p, "a.weight", 1, b_shape, NULL), VOLT_ERR_ARG);
    VOLT_EXPECT_FAIL(volt_params_create(VOLT_I32, 1, &(volt_params *){NULL}), VOLT_ERR_ARG);
    volt_params_destroy(p);
}

typedef struct ready_log {
    int order[16];
    int count;
} ready_log;

static void record_ready(volt_param *param, void *user) {
    ready_log *log = user;
    log->order[log->count++] = param->index;
}

/* A tied weight (used twice) is ready only after its second use has been differentiated;
 * parameters become ready in reverse order of use. */
VOLT_TEST(grad_ready_fires_once_per_parameter_after_its_last_use) {
    volt_params *p;
    VOLT_EXPECT_OK(volt_params_create(VOLT_F64, 3, &p));
    volt_linear_layer *first = volt_linear_new(p, "first", 4, 4, 1);  /* params 0, 1 */
    volt_linear_layer *second = volt_linear_new(p, "second", 4, 4, 1); /* params 2, 3 */
    VOLT_EXPECT(first && second);
    volt_graph *g;
    VOLT_EXPECT_OK(volt_graph_create(NULL, &g));
    ready_log log = {{0}, 0};
    volt_graph_on_grad_ready(g, record_ready, &log);
    const long shape[] = {2, 4};
    volt_tensor *x = volt_graph_tensor(g, VOLT_F64, 2, shape);
    for (int i = 0; i < 8; i++) ((double *)x->data)[i] = 0.1 * i - 0.3;
    /* first is applied twice (tied), second once in between */
    volt_tensor *y = volt_linear(first, volt_tanh(volt_linear(second, volt_linear(first, x))));
    volt_tensor *loss = volt_sum(y);
    VOLT_EXPECT(loss != NULL);
    VOLT_EXPECT_OK(volt_backward(loss));
    VOLT_EXPECT_EQ_INT(log.count, 4);
    /* second (2, 3) finishes before first's earliest use is differentiated */
    int position[4] = {-1, -1, -1, -1};
    for (int i = 0; i < log.count; i++) position[log.order[i]] = i;
    VOLT_EXPECT(position[2] < position[0] && position[3] < position[0]);
    VOLT_EXPECT(position[2] < position[1] && position[3] < position[1]);
    volt_graph_destroy(g);
    volt_params_destroy(p);
}

VOLT_TEST(gradients_accumulate_until_zeroed) {
    volt_params *p;
    VOLT_EXPECT_OK(volt_params_create(VOLT_F64, 5, &p));
    volt_linear_layer *layer = volt_linear_new(p, "fc", 3, 2, 1);
    volt_graph *g;
    VOLT_EXPECT_OK(volt_graph_create(NULL, &g));
    const long shape[] = {4, 3};
    double first_grad[8];
    for (int pass = 0; pass < 2; pass++) {
        volt_tensor *x = volt_graph_tensor(g, VOLT_F64, 2, shape);
        for (int i = 0; i < 12; i++) ((double *)x->data)[i] = (i % 5) - 2.0;
        VOLT_EXPECT_OK(volt_backward(volt_sum(volt_linear(layer, x))));
        const double *grad = layer->weight->grad->data;
        if (pass == 0) memcpy(first_grad, grad, 6 * sizeof(double));
        else
            for (int i = 0; i < 6; i++) VOLT_EXPECT_NEAR(grad[i], 2 * first_grad[i], 1e-12);
        volt_graph_reset(g);
    }
    volt_params_zero_grad(p);
    VOLT_EXPECT_NEAR(((double *)layer->weight->grad->data)[0], 0, 0);
    volt_graph_destroy(g);
    volt_params_destroy(p);
}

VOLT_TEST(no_grad_records_nothing_and_backward_explains) {
    volt_params *p;
    VOLT_EXPECT_OK(volt_params_create(VOLT_F32, 5, &p));
    volt_linear_layer *layer = volt_linear_new(p, "fc", 3, 2, 1);
    volt_graph *g;
    VOLT_EXPECT_OK(volt_graph_create(NULL, &g));
    const long shape[] = {4, 3};
    volt_tensor *x = volt_graph_zeros(g, VOLT_F32, 2, shape);
    int was = volt_graph_set_grad_enabled(g, 0);
    VOLT_EXPECT_EQ_INT(was, 1);
    volt_tensor *loss = volt_sum(volt_linear(layer, x));
    VOLT_EXPECT(loss != NULL);
    VOLT_EXPECT_EQ_INT(volt_graph_node_count(g), 0);
    VOLT_EXPECT_FAIL(volt_backward(loss), VOLT_ERR_ARG);
    volt_graph_set_grad_enabled(g, was);
    volt_tensor *y = volt_linear(layer, x);
    VOLT_EXPECT(volt_graph_node_count(g) > 0);
    VOLT_EXPECT_FAIL(volt_backward(y), VOLT_ERR_SHAPE); /* not a scalar */
    VOLT_EXPECT(volt_graph_flops(g) >= 2.0 * 4 * 3 * 2);
    volt_graph_destroy(g);
    volt_params_destroy(p);
}

/* A leaf outside the arena (caller memory, volt_tensor_wrap) that requires grad gets
 * its gradient from the arena; volt_graph_reset frees that memory, so the next step must
 * start a fresh gradient, not accumulate into (or read) the freed one. */
VOLT_TEST(leaf_gradient_outside_the_arena_does_not_outlive_the_step) {
    volt_graph *g;
    VOLT_EXPECT_OK(volt_graph_create(NULL, &g));
    double x_data[3] = {1, 2, 3};
    volt_tensor x;
    const long shape[] = {3};
    VOLT_EXPECT_OK(volt_tensor_wrap(&x, x_data, VOLT_F64, 1, shape));
    x.requires_grad = 1;
    for (int step = 0; step < 3; step++) {
        volt_tensor *w = volt_graph_tensor(g, VOLT_F64, 1, shape);
        for (int i = 0; i < 3; i++) ((double *)w->data)[i] = 10.0 * (i + 1) + step;
        VOLT_EXPECT_OK(volt_backward(volt_sum(volt_mul(&x, w))));
        VOLT_EXPECT(x.grad != NULL);
        if (x.grad)
            for (int i = 0; i < 3; i++)
                VOLT_EXPECT_NEAR(((double *)x.grad->data)[i], 10.0 * (i + 1) + step, 0);
        volt_graph_reset(g);
        VOLT_EXPECT(x.grad == NULL);
    }
    volt_graph_destroy(g);
}

VOLT_TEST(graph_tensor_refuses_a_size_that_overflows) {
    volt_graph *g;
    VOLT_EXPECT_OK(volt_graph_create(NULL, &g));
    const long huge[] = {1L << 32, 1L << 32, 1L << 32};
    VOLT_EXPECT(volt_graph_tensor(g, VOLT_F32, 3, huge) == NULL);
    VOLT_EXPECT_EQ_INT(volt_error_status(), VOLT_ERR_SHAPE);
    volt_error_clear();
    volt_graph_destroy(g);
}

/* The training step's steady state: after the first step (which sizes the arena and the
 * tape), further identical steps make no system allocation in the arena. */
VOLT_TEST(training_steps_reuse_the_arena) {
    volt_params *p;
    VOLT_EXPECT_OK(volt_params_create(VOLT_F32, 5, &p));
    volt_linear_layer *fc1 = volt_linear_new(p, "fc1", 32, 64, 1);
    volt_linear_layer *fc2 = volt_linear_new(p, "fc2", 64, 10, 1);
    volt_graph *g;
    volt_graph_options options = {.arena_bytes = 4096, .max_nodes = 2};
    VOLT_EXPECT_OK(volt_graph_create(&options, &g));
    const long x_shape[] = {16, 32}, y_shape[] = {16};
    size_t allocations_after_warmup = 0;
    for (int step = 0; step < 5; step++) {
        volt_tensor *x = volt_graph_zeros(g, VOLT_F32, 2, x_shape);
        volt_tensor *y = volt_graph_zeros(g, VOLT_I32, 1, y_shape);
        volt_tensor *loss = volt_cross_entropy(volt_linear(fc2, volt_relu(volt_linear(fc1, x))), y);
        VOLT_EXPECT(loss != NULL);
        VOLT_EXPECT_OK(volt_backward(loss));
        volt_graph_reset(g);
        if (step == 1) allocations_after_warmup = volt_arena_system_allocations(volt_graph_arena(g));
    }
    VOLT_EXPECT_EQ_INT(volt_arena_system_allocations(volt_graph_arena(g)), allocations_after_warmup);
    VOLT_EXPECT_EQ_INT(volt_graph_step(g), 5);
    volt_graph_destroy(g);
    volt_params_destroy(p);
}
