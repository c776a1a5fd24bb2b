/* lib/dist/zero.c — ZeRO stage 1: each rank of the dp group updates one contiguous shard.
 *
 * With P ranks and a flat buffer padded to N = P S elements (S a multiple of
 * VOLT_PARAM_ALIGN, so every shard starts aligned), a step is
 *
 *   g_shard  = (1/P) sum_r g_r[rS, (r+1)S)         reduce-scatter (average)
 *   norm     = sqrt(sum_r |g_shard(r)|^2)           one f64 all-reduce (sum)
 *   g_shard *= c,  c = clip / (norm + 1e-6) if < 1  as torch's clip_grad_norm_
 *   p_shard  = optimizer(p_shard, g_shard)          state for the shard only
 *   p        = allgather(p_shard)                   in place
 *
 * The reduce-scatter writes into a scratch shard (MPI wants distinct send and receive
 * buffers), copied into the gradient buffer's own shard afterwards: after a step the
 * gradient buffer holds the averaged gradient in this rank's shard and the local one
 * elsewhere. */
#include "dist/zero.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct volt_zero {
    volt_comm *comm;
    volt_params *params;
    volt_dtype dtype;
    size_t padded_size;  /* elements in the flat buffers after padding */
    size_t shard_offset; /* this rank's shard: [shard_offset, shard_offset + shard_length) */
    size_t shard_length;
    void *scratch; /* shard_length elements: the reduce-scatter's output */
    volt_optimizer *optimizer;
    double clip_value; /* > 0: gradients clamped to [-clip_value, clip_value] */
    volt_tp tp;        /* the tensor-parallel group (a group of one without) */
};

int volt_zero_create(volt_comm *dp, volt_params *params, const volt_optimizer_options *options,
                     volt_zero **out) {
    VOLT_CHECK_ARG(dp && params && options && out);
    *out = NULL;
    volt_zero *zero = calloc(1, sizeof *zero);
    VOLT_CHECK_ALLOC(zero, sizeof *zero);
    zero->comm = dp;
    zero->params = params;
    zero->tp = volt_tp_single;
    zero->dtype = volt_params_dtype(params);
    size_t ranks = (size_t)volt_comm_size(dp), quantum = ranks * VOLT_PARAM_ALIGN;
    size_t flat_size = volt_params_flat_size(params);
    zero->padded_size = (flat_size + quantum - 1) / quantum * quantum;
    zero->shard_length = zero->padded_size / ranks;
    zero->shard_offset = (size_t)volt_comm_rank(dp) * zero->shard_length;

    int status = volt_params_pad_to(params, zero->padded_size);
    if (status == VOLT_OK && zero->shard_length > 0) {
        size_t bytes = zero->shard_length * volt_dtype_size(zero->dtype);
        zero->scratch = aligned_alloc(64, (bytes + 63) / 64 * 64);
        if (!zero->scratch)
            status = VOLT_ERROR(VOLT_ERR_NOMEM,
                                "out of memory allocating the %zu-byte ZeRO gradient shard", bytes);
    }
    if (status == VOLT_OK)
        status = volt_optimizer_create(options, zero->dtype, zero->shard_offset, zero->shard_length,
                                       &zero->optimizer);
    if (status != VOLT_OK) {
        volt_zero_destroy(zero);
        VOLT_CHECK(status);
    }
    *out = zero;
    return VOLT_OK;
}

void volt_zero_destroy(volt_zero *zero) {
    if (!zero) return;
    volt_optimizer_destroy(zero->optimizer);
    free(zero->scratch);
    free(zero);
}

int volt_zero_step(volt_zero *zero, double lr, double clip_norm, double *grad_norm) {
    VOLT_CHECK_ARG(zero);
    /* the same arguments on every rank, so every rank fails here together */
    if (!(clip_norm >= 0 && isfinite(clip_norm)))
        return VOLT_ERROR(VOLT_ERR_ARG, "ZeRO: clip_norm = %g must be finite and >= 0", clip_norm);
    if (volt_params_flat_size(zero->params) != zero->padded_size)
        return VOLT_ERROR(VOLT_ERR_ARG,
                          "ZeRO: the parameter buffer has %zu elements, %zu when the shards "
                          "were cut (parameters added after volt_zero_create?)",
                          volt_params_flat_size(zero->params), zero->padded_size);
    size_t element = volt_dtype_size(zero->dtype);
    char *grad = volt_params_grad(zero->params), *data = volt_params_data(zero->params);
    char *grad_shard = grad + zero->shard_offset * element;
    size_t shard_bytes = zero->shard_length * element;

    VOLT_CHECK(volt_comm_reduce_scatter(zero->comm, grad, zero->scratch, zero->shard_length,
                                        zero->dtype, VOLT_REDUCE_AVG, NULL));
    if (shard_bytes) memcpy(grad_shard, zero->scratch, shard_bytes);
    /* clamping is elementwise: each rank clamps its shard of the averaged gradient */
    if (zero->clip_value > 0)
        volt_clip_grad_value(grad_shard, zero->dtype, zero->shard_length, zero->clip_value);

    if (clip_norm > 0 || grad_norm) {
        double sq_norm = 0;
        if (zero->tp.size > 1) {
            VOLT_CHECK(volt_tp_grad_sq_norm(&zero->tp, zero->comm, zero->params, grad_shard,
                                            zero->shard_offset, zero->shard_length, &sq_norm));
        } else {
            sq_norm = volt_grad_sq_norm(grad_shard, zero->dtype, zero->shard_length);
            VOLT_CHECK(
                volt_comm_allreduce(zero->comm, &sq_norm, 1, VOLT_F64, VOLT_REDUCE_SUM, NULL));
        }
        double norm = sqrt(sq_norm);
        if (grad_norm) *grad_norm = norm;
        /* the norm is the same on every rank after the all-reduce: all fail together */
        if (clip_norm > 0 && !isfinite(norm))
            return VOLT_ERROR(VOLT_ERR_NUMERIC,
                              "ZeRO: gradient norm is %g over %zu elements: step skipped, "
                              "parameters left as they are",
                              norm, zero->padded_size);
        double clip_coef = clip_norm / (norm + 1e-6);
        if (clip_norm > 0 && clip_coef < 1)
            volt_grad_scale(grad_shard, zero->dtype, zero->shard_length, clip_coef);
    }

    VOLT_CHECK(volt_optimizer_step(zero->optimizer, data, grad, lr));
    VOLT_CHECK(volt_comm_allgather(zero->comm, data + zero->shard_offset * element, data,
                                   zero->shard_length, zero->dtype, NULL));
    return VOLT_OK;
}

void volt_zero_set_tensor_parallel(volt_zero *zero, const volt_tp *tp) {
    if (zero) zero->tp = tp && tp->size > 1 ? *tp : volt_tp_single;
}

void volt_zero_set_clip_value(volt_zero *zero, double clip_value) {
    if (zero) zero->clip_value = clip_value > 0 ? clip_value : 0;
}

size_t volt_zero_shard_offset(const volt_zero *zero) { return zero->shard_offset; }
size_t volt_zero_shard_length(const volt_zero *zero) { return zero->shard_length; }
size_t volt_zero_padded_size(const volt_zero *zero) { return zero->padded_size; }
volt_optimizer *volt_zero_optimizer(volt_zero *zero) { return zero->optimizer; }
