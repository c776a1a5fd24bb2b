/* lib/autograd/params.h — parameters and their gradients in one flat buffer each.
 *
 * A volt_params store holds every parameter of a model as a view into one contiguous
 * buffer, in creation order, each starting at a multiple of VOLT_PARAM_ALIGN elements
 * (the padding between them is zero and stays zero). The gradient buffer mirrors it
 * element for element, so a range [offset, offset + len) of one is the same
 * parameters' range of the other: DDP reduces contiguous buckets, ZeRO-1 gives a rank
 * a contiguous shard, the optimizer runs one fused loop.
 *
 * Parameters are added while the model is built (the buffer grows; every parameter's
 * tensor is re-pointed, so hold volt_tensor pointers, never data pointers, until
 * building is done). Names follow PyTorch ("fc1.weight", shape [out, in]). The store
 * also owns an arena for layer structs that live as long as the model. */
#ifndef VOLT_AUTOGRAD_PARAMS_H
#define VOLT_AUTOGRAD_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/tensor.h"

enum { VOLT_PARAM_ALIGN = 16 }; /* elements: 64 bytes of f32 */

typedef struct volt_params volt_params;

/* Which part of a larger (global) tensor a parameter holds, as tensor parallelism splits
 * them: dimension dim of the global shape is cut into `blocks` equal blocks (1, or 3 for
 * q, k and v side by side), each block into `parts` equal parts, and the parameter holds
 * part `part` of every block, in block order. parts == 1: the parameter is the whole
 * tensor (global_shape is its own shape). */
typedef struct volt_param_slice {
    int dim, blocks, parts, part;
    long global_shape[VOLT_MAX_DIMS];
} volt_param_slice;

struct volt_param {
    int index; /* creation order */
    const char *name;
    size_t offset; /* element offset into the flat buffers */
    size_t numel;
    volt_tensor *tensor; /* requires_grad = 1, grad = view into the gradient buffer */
    int pending_uses;    /* backward bookkeeping (lib/autograd only) */
    volt_param_slice slice;
};

/* seed drives initialisation: parameter k's random numbers are stream k of this seed,
 * so a model initialises the same whatever else happened before. dtype: VOLT_F32 for
 * training, VOLT_F64 for gradient checks. */
VOLT_NODISCARD int volt_params_create(volt_dtype dtype, uint64_t seed, volt_params **out);
void volt_params_destroy(volt_params *params);

/* Adds a zero-initialised parameter; name must be unique. */
VOLT_NODISCARD int volt_params_add(volt_params *params, const char *name, int ndim,
                                   const long *shape, volt_param **out);
/* Adds a parameter that holds a slice of the global tensor global_shape (see
 * volt_param_slice); its own shape is global_shape with dimension dim divided by parts.
 * VOLT_ERR_ARG when blocks x parts does not divide that dimension. */
VOLT_NODISCARD int volt_params_add_slice(volt_params *params, const char *name, int ndim,
                                         const long *global_shape, int dim, int blocks, int parts,
                                         int part, volt_param **out);
/* Whether the parameter is a part of a larger tensor (slice.parts > 1). */
int volt_param_is_split(const volt_param *param);

int volt_params_count(const volt_params *params);
volt_param *volt_params_get(const volt_params *params, int index);
/* NULL when no parameter has that name. */
volt_param *volt_params_find(const volt_params *params, const char *name);

volt_dtype volt_params_dtype(const volt_params *params);
uint64_t volt_params_seed(const volt_params *params);
/* Elements in each flat buffer, padding included; parameters' own elements. */
size_t volt_params_flat_size(const volt_params *params);
size_t volt_params_numel(const volt_params *params);
/* Extends the flat buffers with zero padding to flat_size elements (no smaller than the
 * current size): ZeRO pads them so that they shard evenly. Parameters added later go
 * after the padding. */
VOLT_NODISCARD int volt_params_pad_to(volt_params *params, size_t flat_size);

/* The flat buffers (of volt_params_dtype). */
void *volt_params_data(volt_params *params);
void *volt_params_grad(volt_params *params);
void volt_params_zero_grad(volt_params *params);

/* Memory that lives as long as the store (layer structs), zeroed. NULL on failure. */
void *volt_params_alloc(volt_params *params, size_t bytes);

/* Initialisers on one parameter, drawing from stream param->index of the store's seed:
 * the element at flat position i of the global tensor takes random element i, so a
 * slice holds the very numbers of the same part of the whole tensor. */
void volt_param_init_uniform(volt_params *params, volt_param *param, double low, double high);
void volt_param_init_normal(volt_params *params, volt_param *param, double mean, double std);
void volt_param_init_constant(volt_params *params, volt_param *param, double value);

#endif
