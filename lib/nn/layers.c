/* lib/nn/layers.c — Linear, Embedding, LayerNorm, Dropout, and the GPT-2 block. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/nn.h"

enum { VOLT_NAME_BYTES = 256 };

/* "<prefix>.<suffix>", or pushes an error and returns 0 when it does not fit. */
static int join_name(char *out, const char *prefix, const char *suffix) {
    int n = snprintf(out, VOLT_NAME_BYTES, "%s.%s", prefix, suffix);
    if (n < 0 || n >= VOLT_NAME_BYTES) {
        VOLT_ERROR(VOLT_ERR_ARG, "parameter name '%s.%s' is longer than %d bytes", prefix,
                   suffix, VOLT_NAME_BYTES - 1);
        return 0;
    }
    return 1;
}

/* Adds <prefix>.<suffix> with the given shape; NULL (error pushed) on failure. */
static volt_param *add_param(volt_params *params, const char *prefix, const char *suffix,
                             int ndim, const long *shape) {
    char name[VOLT_NAME_BYTES];
    volt_param *param = NULL;
    if (!join_name(name, prefix, suffix)) return NULL;
    if (volt_params_add(params, name, ndim, shape, &param) != VOLT_OK) {
        VOLT_ERROR(volt_error_status(), "while creating layer '%s'", prefix);
        return NULL;
    }
    return param;
}

#define VOLT_LAYER_REQUIRE(cond, ...)                                                  \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            VOLT_ERROR(VOLT_ERR_ARG, __VA_ARGS__);                                     \
            return NULL;                                                               \
        }                                                                              \
    } while (0)

volt_linear_layer *volt_linear_new(volt_params *params, const char *name, long in_features,
                             long out_features, int with_bias) {
    VOLT_LAYER_REQUIRE(params && name, "linear: params and name are required");
    VOLT_LAYER_REQUIRE(in_features > 0 && out_features > 0,
                       "linear '%s': features must be positive (in %ld, out %ld)", name,
                       in_features, out_features);
    volt_linear_layer *layer = volt_params_alloc(params, sizeof *layer);
    VOLT_LAYER_REQUIRE(layer, "linear '%s': out of memory", name);
    const long weight_shape[] = {out_features, in_features};
    volt_param *weight = add_param(params, name, "weight", 2, weight_shape);
    if (!weight) return NULL;
    /* kaiming_uniform_(a = sqrt(5)): bound = sqrt(6 / ((1 + a^2) fan_in)) = 1/sqrt(fan_in) */
    double bound = 1.0 / sqrt((double)in_features);
    volt_param_init_uniform(params, weight, -bound, bound);
    layer->weight = weight->tensor;
    if (with_bias) {
        volt_param *bias = add_param(params, name, "bias", 1, &out_features);
        if (!bias) return NULL;
        volt_param_init_uniform(params, bias, -bound, bound);
        layer->bias = bias->tensor;
    }
    layer->in_features = in_features;
    layer->out_features = out_features;
    return layer;
}

volt_tensor *volt_linear(const volt_linear_layer *layer, volt_tensor *x) {
    return volt_linear_fn(x, layer->weight, layer->bias);
}

volt_embedding_layer *volt_embedding_new(volt_params *params, const char *name,
                                   long num_embeddings, long dim) {
    VOLT_LAYER_REQUIRE(params && name, "embedding: params and name are required");
    VOLT_LAYER_REQUIRE(num_embeddings > 0 && dim > 0,
                       "embedding '%s': sizes must be positive (%ld x %ld)", name,
                       num_embeddings, dim);
    volt_embedding_layer *layer = volt_params_alloc(params, sizeof *layer);
    VOLT_LAYER_REQUIRE(layer, "embedding '%s': out of memory", name);
    const long shape[] = {num_embeddings, dim};
    volt_param *weight = add_param(params, name, "weight", 2, shape);
    if (!weight) return NULL;
    volt_param_init_normal(params, weight, 0.0, 1.0);
    layer->weight = weight->tensor;
    layer->num_embeddings = num_embeddings;
    layer->dim = dim;
    return layer;
}

volt_tensor *volt_embedding(const volt_embedding_layer *layer, volt_tensor *indices) {
    return volt_embedding_fn(layer->weight, indices);
}

volt_layer_norm_layer *volt_layer_norm_new(volt_params *params, const char *name, long dim,
                                           double eps) {
    VOLT_LAYER_REQUIRE(params && name, "layer_norm: params and name are required");
    VOLT_LAYER_REQUIRE(dim > 0 && eps > 0, "layer_norm '%s': dim %ld and eps %g must be positive",
                       name, dim, eps);
    volt_layer_norm_layer *layer = volt_params_alloc(params, sizeof *layer);
    VOLT_LAYER_REQUIRE(layer, "layer_norm '%s': out of memory", name);
    volt_param *weight = add_param(params, name, "weight", 1, &dim);
    if (!weight) return NULL;
    volt_param *bias = add_param(params, name, "bias", 1, &dim);
    if (!bias) return NULL;
    volt_param_init_constant(params, weight, 1.0);
    volt_param_init_constant(params, bias, 0.0);
    layer->weight = weight->tensor;
    layer->bias = bias->tensor;
    layer->dim = dim;
    layer->eps = eps;
    return layer;
}

volt_tensor *volt_layer_norm(const volt_layer_norm_layer *layer, volt_tensor *x) {
    return volt_layer_norm_fn(x, layer->weight, layer->bias, layer->eps);
}

volt_tensor *volt_dropout(const volt_dropout_layer *layer, volt_tensor *x) {
    return volt_dropout_fn(x, layer->p);
}

volt_transformer_block *volt_transformer_block_new(volt_params *params, const char *name,
                                                   long dim, int n_head, double dropout) {
    VOLT_LAYER_REQUIRE(params && name, "transformer block: params and name are required");
    VOLT_LAYER_REQUIRE(dim > 0 && n_head > 0 && dim % n_head == 0,
                       "transformer block '%s': dim %ld must be a positive multiple of "
                       "n_head %d",
                       name, dim, n_head);
    VOLT_LAYER_REQUIRE(dropout >= 0 && dropout < 1,
                       "transformer block '%s': dropout %g is not in [0, 1)", name, dropout);
    volt_transformer_block *block = volt_params_alloc(params, sizeof *block);
    VOLT_LAYER_REQUIRE(block, "transformer block '%s': out of memory", name);
    char child[VOLT_NAME_BYTES];
    /* creation order as GPT-2's state_dict: ln_1, attn.c_attn, attn.c_proj, ln_2, mlp */
    if (!join_name(child, name, "ln_1") || !(block->ln_1 = volt_layer_norm_new(params, child, dim, 1e-5)))
        return NULL;
    if (!join_name(child, name, "attn.c_attn") ||
        !(block->attn_c_attn = volt_linear_new(params, child, dim, 3 * dim, 1)))
        return NULL;
    if (!join_name(child, name, "attn.c_proj") ||
        !(block->attn_c_proj = volt_linear_new(params, child, dim, dim, 1)))
        return NULL;
    if (!join_name(child, name, "ln_2") || !(block->ln_2 = volt_layer_norm_new(params, child, dim, 1e-5)))
        return NULL;
    if (!join_name(child, name, "mlp.c_fc") ||
        !(block->mlp_c_fc = volt_linear_new(params, child, dim, 4 * dim, 1)))
        return NULL;
    if (!join_name(child, name, "mlp.c_proj") ||
        !(block->mlp_c_proj = volt_linear_new(params, child, 4 * dim, dim, 1)))
        return NULL;
    block->dropout.p = dropout;
    block->n_head = n_head;
    block->dim = dim;
    return block;
}

volt_tensor *volt_transformer_block_forward(const volt_transformer_block *block,
                                            volt_tensor *x) {
    volt_tensor *attn = volt_causal_self_attention(
        volt_linear(block->attn_c_attn, volt_layer_norm(block->ln_1, x)), block->n_head);
    x = volt_add(x, volt_dropout(&block->dropout, volt_linear(block->attn_c_proj, attn)));
    volt_tensor *hidden = volt_gelu(volt_linear(block->mlp_c_fc, volt_layer_norm(block->ln_2, x)));
    return volt_add(x, volt_dropout(&block->dropout, volt_linear(block->mlp_c_proj, hidden)));
}
