/* lib/nn/nn.h — layers: parameters registered with PyTorch's names, shapes and default
 * initialisation, and a forward call made of ops.
 *
 * A layer is created into a volt_params store under a name prefix ("fc1" registers
 * fc1.weight [out, in] and fc1.bias [out]); the layer struct lives in the store's
 * arena, so destroying the store frees it. Initialisation (from the store's seed,
 * stream = the parameter's index):
 *   Linear     weight, bias ~ U(-1/sqrt(in), 1/sqrt(in))   (kaiming_uniform_ with a=sqrt(5))
 *   Embedding  weight ~ N(0, 1)
 *   LayerNorm  weight = 1, bias = 0
 * Types end in _layer; the forward call is the bare name: volt_linear(layer, x).
 * Forward calls return NULL on failure, like ops. */
#ifndef VOLT_NN_NN_H
#define VOLT_NN_NN_H

#include "autograd/params.h"
#include "dist/tensor_parallel.h"
#include "ops/ops.h"

/* Tensor parallelism (Megatron-LM's split; the ops in dist/tensor_parallel.h): over a
 * group of T ranks a Linear may hold
 *   VOLT_SPLIT_OUTPUT  rows of weight [out, in] and of bias: its input is replicated
 *                      (volt_tp_copy), its output split along the last dimension; with
 *                      blocks > 1 each of that many equal row blocks is split alike
 *                      (c_attn's q, k and v, so that a rank gets whole heads of each)
 *   VOLT_SPLIT_INPUT   columns of weight: its input is split along the last dimension,
 *                      its output replicated (volt_tp_reduce), then the whole bias
 * and an Embedding rows of its table (the vocabulary): ids outside a rank's rows give
 * zeros, summed over the group. Parameters keep the global names; each rank initialises
 * its part of the same global tensor (volt_param_slice), so any T starts from the numbers
 * of T = 1. With T = 1 the layers are the plain ones. */
typedef enum volt_linear_split {
    VOLT_SPLIT_NONE = 0,
    VOLT_SPLIT_OUTPUT,
    VOLT_SPLIT_INPUT,
} volt_linear_split;

typedef struct volt_linear_layer {
    volt_tensor *weight;            /* [out, in], or this rank's part */
    volt_tensor *bias;              /* [out] (this rank's part when split by output), NULL: none */
    long in_features, out_features; /* of the whole layer */
    volt_linear_split split;
    volt_tp tp;
} volt_linear_layer;

typedef struct volt_embedding_layer {
    volt_tensor *weight;      /* [num_embeddings, dim], or this rank's rows */
    long num_embeddings, dim; /* of the whole table */
    long first;               /* the first row this rank holds */
    volt_tp tp;
} volt_embedding_layer;

typedef struct volt_layer_norm_layer {
    volt_tensor *weight, *bias; /* [dim] */
    long dim;
    double eps;
} volt_layer_norm_layer;

typedef struct volt_dropout_layer {
    double p;
} volt_dropout_layer;

/* GPT-2 style pre-norm block: x + attn(ln_1(x)), then x + mlp(ln_2(x)) with
 * mlp = c_proj(gelu(c_fc(.))) of width 4C; attn = c_proj(attention(c_attn(.))). Names
 * follow GPT-2: <prefix>.ln_1, .attn.c_attn, .attn.c_proj, .ln_2, .mlp.c_fc, .mlp.c_proj. */
typedef struct volt_transformer_block {
    volt_layer_norm_layer *ln_1, *ln_2;
    volt_linear_layer *attn_c_attn, *attn_c_proj, *mlp_c_fc, *mlp_c_proj;
    volt_dropout_layer dropout;
    int n_head; /* of the whole block; this rank computes n_head / T of them */
    long dim;
} volt_transformer_block;

/* Constructors: NULL (error pushed) on a bad size or a duplicate name. */
volt_linear_layer *volt_linear_new(volt_params *params, const char *name, long in_features,
                                   long out_features, int with_bias);
volt_embedding_layer *volt_embedding_new(volt_params *params, const char *name, long num_embeddings,
                                         long dim);
volt_layer_norm_layer *volt_layer_norm_new(volt_params *params, const char *name, long dim,
                                           double eps);
volt_transformer_block *volt_transformer_block_new(volt_params *params, const char *name, long dim,
                                                   int n_head, double dropout);
/* The tensor-parallel forms (tp NULL or of one rank: the plain layers). The block splits
 * c_attn (by output, in 3 blocks) and mlp.c_fc by output, attn.c_proj and mlp.c_proj by
 * input: two all-reduces forward and two backward per block; T must divide n_head and
 * 4 dim. The embedding splits the rows; T must divide num_embeddings. */
volt_linear_layer *volt_linear_parallel_new(volt_params *params, const char *name, long in_features,
                                            long out_features, int with_bias,
                                            volt_linear_split split, int blocks, const volt_tp *tp);
volt_embedding_layer *volt_embedding_parallel_new(volt_params *params, const char *name,
                                                  long num_embeddings, long dim, const volt_tp *tp);
volt_transformer_block *volt_transformer_block_parallel_new(volt_params *params, const char *name,
                                                            long dim, int n_head, double dropout,
                                                            const volt_tp *tp);

/* Forward. */
volt_tensor *volt_linear(const volt_linear_layer *layer, volt_tensor *x);
volt_tensor *volt_embedding(const volt_embedding_layer *layer, volt_tensor *indices);
volt_tensor *volt_layer_norm(const volt_layer_norm_layer *layer, volt_tensor *x);
volt_tensor *volt_dropout(const volt_dropout_layer *layer, volt_tensor *x);
volt_tensor *volt_transformer_block_forward(const volt_transformer_block *block, volt_tensor *x);

#endif
