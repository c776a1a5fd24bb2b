/* tests/unit/test_nn.c — layers: PyTorch's names, shapes and initialisation, and the
 * transformer block's gradients against finite differences through every parameter. */
#include <math.h>
#include <string.h>

#include "gradcheck.h"
#include "nn/nn.h"
#include "volt_test.h"

VOLT_TEST(linear_registers_pytorch_names_and_kaiming_uniform) {
    volt_params *p;
    VOLT_EXPECT_OK(volt_params_create(VOLT_F32, 9, &p));
    volt_linear_layer *fc = volt_linear_new(p, "fc1", 400, 300, 1);
    VOLT_EXPECT(fc != NULL);
    volt_param *w = volt_params_find(p, "fc1.weight"), *b = volt_params_find(p, "fc1.bias");
    VOLT_EXPECT(w && b);
    VOLT_EXPECT_EQ_INT(w->tensor->shape[0], 300);
    VOLT_EXPECT_EQ_INT(w->tensor->shape[1], 400);
    VOLT_EXPECT_EQ_INT(b->tensor->shape[0], 300);
    /* U(-1/sqrt(400), 1/sqrt(400)) = U(-0.05, 0.05): bounds, mean 0, variance b^2/3 */
    const float *data = w->tensor->data;
    double mean = 0, var = 0, max = 0;
    for (size_t i = 0; i < w->numel; i++) {
        mean += data[i];
        max = fmax(max, fabs(data[i]));
    }
    mean /= (double)w->numel;
    for (size_t i = 0; i < w->numel; i++) var += (data[i] - mean) * (data[i] - mean);
    var /= (double)w->numel;
    VOLT_EXPECT(max <= 0.05);
    VOLT_EXPECT_NEAR(mean, 0, 1e-3);
    VOLT_EXPECT_NEAR(var, 0.05 * 0.05 / 3, 2e-5);
    /* the same seed gives the same weights, another seed others */
    volt_params *q;
    VOLT_EXPECT_OK(volt_params_create(VOLT_F32, 9, &q));
    volt_linear_new(q, "fc1", 400, 300, 1);
    VOLT_EXPECT(memcmp(volt_params_data(p), volt_params_data(q), w->numel * 4) == 0);
    VOLT_EXPECT(volt_linear_new(p, "fc1", 4, 4, 1) == NULL); /* duplicate name */
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "fc1.weight");
    volt_error_clear();
    VOLT_EXPECT(volt_linear_new(p, "bad", 0, 4, 1) == NULL);
    volt_error_clear();
    volt_params_destroy(q);
    volt_params_destroy(p);
}

VOLT_TEST(embedding_and_layer_norm_initialise_like_pytorch) {
    volt_params *p;
    VOLT_EXPECT_OK(volt_params_create(VOLT_F64, 2, &p));
    volt_embedding_layer *e = volt_embedding_new(p, "wte", 500, 64);
    volt_layer_norm_layer *ln = volt_layer_norm_new(p, "ln_f", 64, 1e-5);
    VOLT_EXPECT(e && ln);
    const double *w = e->weight->data;
    double mean = 0, var = 0;
    for (int i = 0; i < 500 * 64; i++) mean += w[i];
    mean /= 500 * 64;
    for (int i = 0; i < 500 * 64; i++) var += (w[i] - mean) * (w[i] - mean);
    var /= 500 * 64;
    VOLT_EXPECT_NEAR(mean, 0, 0.02);
    VOLT_EXPECT_NEAR(var, 1, 0.03);
    VOLT_EXPECT_NEAR(((double *)ln->weight->data)[63], 1, 0);
    VOLT_EXPECT_NEAR(((double *)ln->bias->data)[0], 0, 0);
    VOLT_EXPECT(volt_params_find(p, "ln_f.weight") != NULL);
    volt_params_destroy(p);
}

typedef struct block_case {
    volt_transformer_block *block;
} block_case;

static volt_tensor *block_of_input(volt_tensor **in, void *user) {
    block_case *c = user;
    return volt_transformer_block_forward(c->block, in[0]);
}

/* All 12 parameters of a block and its input, checked in f64 against central
 * differences; the parameters are perturbed through their tensors like any input. */
VOLT_TEST(transformer_block_gradcheck_f64) {
    volt_params *p;
    VOLT_EXPECT_OK(volt_params_create(VOLT_F64, 4, &p));
    volt_transformer_block *block = volt_transformer_block_new(p, "h.0", 8, 2, 0.0);
    VOLT_EXPECT(block != NULL);
    VOLT_EXPECT_EQ_INT(volt_params_count(p), 12);
    VOLT_EXPECT(volt_params_find(p, "h.0.attn.c_attn.weight") != NULL);
    VOLT_EXPECT(volt_params_find(p, "h.0.mlp.c_proj.bias") != NULL);
    volt_graph *g;
    VOLT_EXPECT_OK(volt_graph_create(NULL, &g));
    const long shape[] = {2, 3, 8};
    volt_tensor *inputs[13];
    inputs[0] = volt_test_leaf(g, VOLT_F64, 3, shape, 1, 6, -1, 1);
    for (int i = 0; i < 12; i++) inputs[1 + i] = volt_params_get(p, i)->tensor;
    /* parameters are not graph leaves: the checker reads their gradients from the flat
     * buffer, which it must start from zero */
    volt_params_zero_grad(p);
    block_case c = {block};
    VOLT_EXPECT_GRADCHECK(g, inputs, 13, block_of_input, &c, 1e-6, 1e-6);
    volt_test_leaf_free(inputs[0]);
    volt_graph_destroy(g);
    volt_params_destroy(p);
}

VOLT_TEST(transformer_block_rejects_bad_sizes) {
    volt_params *p;
    VOLT_EXPECT_OK(volt_params_create(VOLT_F32, 4, &p));
    VOLT_EXPECT(volt_transformer_block_new(p, "h.0", 10, 4, 0.0) == NULL);
    VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "multiple of n_head");
    volt_error_clear();
    VOLT_EXPECT(volt_transformer_block_new(p, "h.0", 8, 2, 1.0) == NULL);
    volt_error_clear();
    volt_params_destroy(p);
}
