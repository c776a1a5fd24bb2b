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
        VOLT_ERROR(VOLT_ERR_ARG, "parameter name '%s.%s' is longer than %d bytes", prefix, suffix,
                   VOLT_NAME_BYTES - 1);
        return 0;
    }
    return 1;
}

/* Adds <prefix>.<suffix> with the given shape; NULL (error pushed) on failure. */
static volt_param *add_param(volt_params *params, const char *prefix, const char *suffix, int ndim,
                             const long *shape) {
    char name[VOLT_NAME_BYTES];
    volt_param *param = NULL;
    if (!join_name(name, prefix, suffix)) return NULL;
    if (volt_params_add(params, name, ndim, shape, &param) != VOLT_OK) {
        VOLT_ERROR(volt_error_status(), "while creating layer '%s'", prefix);
        return NULL;
    }
    return param;
}

/* The same for this rank's part of a split parameter (volt_params_add_slice). */
static volt_param *add_slice(volt_params *params, const char *prefix, const char *suffix, int ndim,
                             const long *global_shape, int dim, int blocks, const volt_tp *tp) {
    char name[VOLT_NAME_BYTES];
    volt_param *param = NULL;
    if (!join_name(name, prefix, suffix)) return NULL;
    if (volt_params_add_slice(params, name, ndim, global_shape, dim, blocks, tp->size, tp->rank,
                              &param) != VOLT_OK) {
        VOLT_ERROR(volt_error_status(), "while creating layer '%s' over %d tensor-parallel ranks",
                   prefix, tp->size);
        return NULL;
    }
    return param;
}

#define VOLT_LAYER_REQUIRE(cond, ...)                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            VOLT_ERROR(VOLT_ERR_ARG, __VA_ARGS__);                                                 \
            return NULL;                                                                           \
        }                                                                                          \
    } while (0)

volt_linear_layer *volt_linear_new(volt_params *params, const char *name, long in_features,
                                   long out_features, int with_bias) {
    return volt_linear_parallel_new(params, name, in_features, out_features, with_bias,
                                    VOLT_SPLIT_NONE, 1, NULL);
}

volt_linear_layer *volt_linear_parallel_new(volt_params *params, const char *name, long in_features,
                                            long out_features, int with_bias,
                                            volt_linear_split split, int blocks,
                                            const volt_tp *tp) {
    VOLT_LAYER_REQUIRE(params && name, "linear: params and name are required");
    VOLT_LAYER_REQUIRE(in_features > 0 && out_features > 0,
                       "linear '%s': features must be positive (in %ld, out %ld)", name,
                       in_features, out_features);
    if (!tp || tp->size <= 1) {
        tp = &volt_tp_single;
        split = VOLT_SPLIT_NONE;
    }
    volt_linear_layer *layer = volt_params_alloc(params, sizeof *layer);
    VOLT_LAYER_REQUIRE(layer, "linear '%s': out of memory", name);
    const long weight_shape[] = {out_features, in_features};
    volt_param *weight =
        split == VOLT_SPLIT_NONE
            ? add_param(params, name, "weight", 2, weight_shape)
            : add_slice(params, name, "weight", 2, weight_shape, split == VOLT_SPLIT_OUTPUT ? 0 : 1,
                        split == VOLT_SPLIT_OUTPUT ? blocks : 1, tp);
    if (!weight) return NULL;
    /* kaiming_uniform_(a = sqrt(5)): bound = sqrt(6 / ((1 + a^2) fan_in)) = 1/sqrt(fan_in),
     * with the whole layer's fan_in whatever part of it this rank holds */
    double bound = 1.0 / sqrt((double)in_features);
    volt_param_init_uniform(params, weight, -bound, bound);
    layer->weight = weight->tensor;
    if (with_bias) {
        volt_param *bias = split == VOLT_SPLIT_OUTPUT
                               ? add_slice(params, name, "bias", 1, &out_features, 0, blocks, tp)
                               : add_param(params, name, "bias", 1, &out_features);
        if (!bias) return NULL;
        volt_param_init_uniform(params, bias, -bound, bound);
        layer->bias = bias->tensor;
    }
    layer->in_features = in_features;
    layer->out_features = out_features;
    layer->split = split;
    layer->tp = *tp;
    return layer;
}

volt_tensor *volt_linear(const volt_linear_layer *layer, volt_tensor *x) {
    switch (layer->split) {
    case VOLT_SPLIT_OUTPUT:
        return volt_linear_fn(volt_tp_copy(&layer->tp, x), layer->weight, layer->bias);
    case VOLT_SPLIT_INPUT: {
        /* the partial products are summed first, then the whole bias added once */
        volt_tensor *y = volt_tp_reduce(&layer->tp, volt_linear_fn(x, layer->weight, NULL));
        return layer->bias ? volt_bias_add(y, layer->bias) : y;
    }
    case VOLT_SPLIT_NONE:
        break;
    }
    return volt_linear_fn(x, layer->weight, layer->bias);
}

volt_embedding_layer *volt_embedding_new(volt_params *params, const char *name, long num_embeddings,
                                         long dim) {
    return volt_embedding_parallel_new(params, name, num_embeddings, dim, NULL);
}

volt_embedding_layer *volt_embedding_parallel_new(volt_params *params, const char *name,
                                                  long num_embeddings, long dim,
                                                  const volt_tp *tp) {
    VOLT_LAYER_REQUIRE(params && name, "embedding: params and name are required");
    VOLT_LAYER_REQUIRE(num_embeddings > 0 && dim > 0,
                       "embedding '%s': sizes must be positive (%ld x %ld)", name, num_embeddings,
                       dim);
    if (!tp || tp->size <= 1) tp = &volt_tp_single;
    volt_embedding_layer *layer = volt_params_alloc(params, sizeof *layer);
    VOLT_LAYER_REQUIRE(layer, "embedding '%s': out of memory", name);
    const long shape[] = {num_embeddings, dim};
    volt_param *weight = tp->size == 1 ? add_param(params, name, "weight", 2, shape)
                                       : add_slice(params, name, "weight", 2, shape, 0, 1, tp);
    if (!weight) return NULL;
    volt_param_init_normal(params, weight, 0.0, 1.0);
    layer->weight = weight->tensor;
    layer->num_embeddings = num_embeddings;
    layer->dim = dim;
    layer->first = num_embeddings / tp->size * tp->rank;
    layer->tp = *tp;
    return layer;
}

volt_tensor *volt_embedding(const volt_embedding_layer *layer, volt_tensor *indices) {
    if (layer->tp.size <= 1) return volt_embedding_fn(layer->weight, indices);
    /* this rank's rows: ids outside them look up row 0 and are then zeroed by a mask */
    if (!indices) return NULL;
    volt_graph *graph = volt_graph_of(&indices, 1);
    if (!graph || (indices->dtype != VOLT_I64 && indices->dtype != VOLT_I32)) {
        VOLT_ERROR(VOLT_ERR_ARG, "embedding: indices must be i32/i64 tensors of a graph");
        return NULL;
    }
    long rows = layer->weight->shape[0];
    size_t n = volt_tensor_numel(indices);
    volt_tensor *local = volt_graph_tensor(graph, VOLT_I64, indices->ndim, indices->shape);
    long mask_shape[VOLT_MAX_DIMS + 1];
    for (int d = 0; d < indices->ndim; d++) mask_shape[d] = indices->shape[d];
    mask_shape[indices->ndim] = layer->dim;
    if (indices->ndim + 1 > VOLT_MAX_DIMS) {
        VOLT_ERROR(VOLT_ERR_SHAPE,
                   "embedding: indices of %d dimensions leave no room for the "
                   "embedding's",
                   indices->ndim);
        return NULL;
    }
    volt_tensor *mask =
        volt_graph_tensor(graph, layer->weight->dtype, indices->ndim + 1, mask_shape);
    if (!local || !mask) {
        VOLT_ERROR(VOLT_ERR_NOMEM, "embedding: out of memory for %zu indices", n);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        long id = (long)volt_tensor_get_flat(indices, i) - layer->first;
        int mine = id >= 0 && id < rows;
        ((int64_t *)local->data)[i] = mine ? id : 0;
        for (long c = 0; c < layer->dim; c++)
            volt_tensor_set_flat(mask, i * (size_t)layer->dim + (size_t)c, mine);
    }
    return volt_tp_reduce(&layer->tp, volt_mul(volt_embedding_fn(layer->weight, local), mask));
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

volt_transformer_block *volt_transformer_block_new(volt_params *params, const char *name, long dim,
                                                   int n_head, double dropout) {
    return volt_transformer_block_parallel_new(params, name, dim, n_head, dropout, NULL);
}

volt_transformer_block *volt_transformer_block_parallel_new(volt_params *params, const char *name,
                                                            long dim, int n_head, double dropout,
                                                            const volt_tp *tp) {
    VOLT_LAYER_REQUIRE(params && name, "transformer block: params and name are required");
    VOLT_LAYER_REQUIRE(dim > 0 && n_head > 0 && dim % n_head == 0,
                       "transformer block '%s': dim %ld must be a positive multiple of "
                       "n_head %d",
                       name, dim, n_head);
    VOLT_LAYER_REQUIRE(dropout >= 0 && dropout < 1,
                       "transformer block '%s': dropout %g is not in [0, 1)", name, dropout);
    int t = tp ? tp->size : 1;
    VOLT_LAYER_REQUIRE(n_head % t == 0,
                       "transformer block '%s': %d heads do not split over %d tensor-parallel "
                       "ranks (tp must divide n_head)",
                       name, n_head, t);
    volt_transformer_block *block = volt_params_alloc(params, sizeof *block);
    VOLT_LAYER_REQUIRE(block, "transformer block '%s': out of memory", name);
    char child[VOLT_NAME_BYTES];
    /* creation order as GPT-2's state_dict: ln_1, attn.c_attn, attn.c_proj, ln_2, mlp */
    if (!join_name(child, name, "ln_1") ||
        !(block->ln_1 = volt_layer_norm_new(params, child, dim, 1e-5)))
        return NULL;
    if (!join_name(child, name, "attn.c_attn") ||
        !(block->attn_c_attn =
              volt_linear_parallel_new(params, child, dim, 3 * dim, 1, VOLT_SPLIT_OUTPUT, 3, tp)))
        return NULL;
    if (!join_name(child, name, "attn.c_proj") ||
        !(block->attn_c_proj =
              volt_linear_parallel_new(params, child, dim, dim, 1, VOLT_SPLIT_INPUT, 1, tp)))
        return NULL;
    if (!join_name(child, name, "ln_2") ||
        !(block->ln_2 = volt_layer_norm_new(params, child, dim, 1e-5)))
        return NULL;
    if (!join_name(child, name, "mlp.c_fc") ||
        !(block->mlp_c_fc =
              volt_linear_parallel_new(params, child, dim, 4 * dim, 1, VOLT_SPLIT_OUTPUT, 1, tp)))
        return NULL;
    if (!join_name(child, name, "mlp.c_proj") ||
        !(block->mlp_c_proj =
              volt_linear_parallel_new(params, child, 4 * dim, dim, 1, VOLT_SPLIT_INPUT, 1, tp)))
        return NULL;
    block->dropout.p = dropout;
    block->n_head = n_head;
    block->dim = dim;
    return block;
}

volt_tensor *volt_transformer_block_forward(const volt_transformer_block *block, volt_tensor *x) {
    /* a rank's part of c_attn's output holds whole heads of q, k and v */
    int local_heads = block->n_head / (block->attn_c_attn->split ? block->attn_c_attn->tp.size : 1);
    volt_tensor *attn = volt_causal_self_attention(
        volt_linear(block->attn_c_attn, volt_layer_norm(block->ln_1, x)), local_heads);
    x = volt_add(x, volt_dropout(&block->dropout, volt_linear(block->attn_c_proj, attn)));
    volt_tensor *hidden = volt_gelu(volt_linear(block->mlp_c_fc, volt_layer_norm(block->ln_2, x)));
    return volt_add(x, volt_dropout(&block->dropout, volt_linear(block->mlp_c_proj, hidden)));
}
