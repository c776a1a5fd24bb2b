/* lib/dist/zero.h — ZeRO stage 1: optimizer state sharded over the dp group.
 *
 * The flat buffers are padded (with zeros) to a multiple of dp * VOLT_PARAM_ALIGN
 * elements, so that any parameter count shards evenly; rank r owns the contiguous shard
 * [r S, (r+1) S). A step: reduce-scatter the gradients (average) so each rank holds its
 * shard's averaged gradient; clip by the global norm (the squared norms of the shards
 * summed over the group); update the shard with the optimizer, whose state covers only
 * the shard; all-gather the parameters. Optimizer memory per rank is total / dp. */
#ifndef VOLT_DIST_ZERO_H
#define VOLT_DIST_ZERO_H

#include "autograd/params.h"
#include "comm/comm.h"
#include "dist/tensor_parallel.h"
#include "optim/optim.h"

typedef struct volt_zero volt_zero;

/* Grows the parameter store's flat buffers to the padded size (parameters must all
 * exist already) and creates the shard's optimizer. */
VOLT_NODISCARD int volt_zero_create(volt_comm *dp, volt_params *params,
                                    const volt_optimizer_options *options, volt_zero **out);
void volt_zero_destroy(volt_zero *zero);

/* One optimizer step at learning rate lr. clip_norm > 0 clips by global norm first;
 * *grad_norm (may be NULL) receives the norm before clipping. */
VOLT_NODISCARD int volt_zero_step(volt_zero *zero, double lr, double clip_norm,
                                  double *grad_norm);

/* Under tensor parallelism (tp of more than one rank): the gradient norm that clipping by
 * norm uses is the whole model's (volt_tp_grad_sq_norm), not this rank's part's. */
void volt_zero_set_tensor_parallel(volt_zero *zero, const volt_tp *tp);

/* Clipping by value (gradient_clip_algorithm "value"): each step clamps the averaged
 * gradients to [-clip_value, clip_value] before the update; 0 turns it off. */
void volt_zero_set_clip_value(volt_zero *zero, double clip_value);
size_t volt_zero_shard_offset(const volt_zero *zero);
size_t volt_zero_shard_length(const volt_zero *zero);
size_t volt_zero_padded_size(const volt_zero *zero);
volt_optimizer *volt_zero_optimizer(volt_zero *zero);

#endif
