/* lib/dist/tensor_parallel.h — Megatron-style tensor parallelism: the collectives between
 * the ranks of a tensor-parallel group as differentiable ops, and the vocabulary-parallel
 * loss.
 *
 * A group of T ranks (volt_tp) computes one replica of the model together: a layer's
 * weight is split across them (lib/nn/parallel.h), activations are either replicated
 * (every rank holds the same tensor) or split along their last dimension. Two ops move
 * between the two, each the other's transpose:
 *   volt_tp_copy    forward: identity (a replicated input enters a split layer);
 *                   backward: the ranks' partial gradients are summed (all-reduce)
 *   volt_tp_reduce  forward: the ranks' partial sums are summed (all-reduce), giving the
 *                   replicated output of a split layer; backward: identity
 * A group of one rank (volt_tp_single, or a NULL volt_tp) communicates nothing: every op
 * returns its input, and the loss is volt_cross_entropy's.
 *
 * The vocabulary-parallel cross-entropy takes logits split along the vocabulary (rank r
 * holds columns [vocab_start, vocab_start + V/T)) and never gathers them: the row
 * maximum, the sum of exponentials and the target's logit are all-reduced, three numbers
 * per row. Its backward is softmax - one-hot on each rank's own columns.
 *
 * Every rank of the group must call the same ops in the same order (they are collective
 * on the group); a failure inside one (the communicator's) is reported like any op's. */
#ifndef VOLT_DIST_TENSOR_PARALLEL_H
#define VOLT_DIST_TENSOR_PARALLEL_H

#include "autograd/params.h"
#include "comm/comm.h"
#include "tensor/tensor.h"

typedef struct volt_tp {
    volt_comm *comm; /* NULL for a group of one */
    int rank, size;
} volt_tp;

/* A group of one rank: no communication. */
extern const volt_tp volt_tp_single;

/* The group of comm (which the caller keeps alive), or volt_tp_single for NULL. */
volt_tp volt_tp_of(volt_comm *comm);

/* Identity forward, all-reduce (sum) of the gradient backward. */
volt_tensor *volt_tp_copy(const volt_tp *tp, volt_tensor *x);
/* All-reduce (sum) forward, identity backward. */
volt_tensor *volt_tp_reduce(const volt_tp *tp, volt_tensor *x);

/* Mean cross-entropy of logits [..., V/T] (this rank's vocabulary columns, starting at
 * global class vocab_start) against global targets (i32/i64, the leading shape); the
 * same scalar on every rank of the group. Targets VOLT_IGNORE_INDEX are left out of the
 * mean and get no gradient, as volt_cross_entropy does; another target outside [0, V) is
 * VOLT_ERR_ARG. */
volt_tensor *volt_tp_cross_entropy(const volt_tp *tp, volt_tensor *logits, volt_tensor *targets,
                                   long vocab_start);
/* The fraction of rows whose global argmax (the first maximum, as torch.argmax) is the
 * target; NAN after pushing an error. Collective on the group, no gradient. */
double volt_tp_accuracy(const volt_tp *tp, const volt_tensor *logits,
                        const volt_tensor *targets, long vocab_start);

/* The squared norm of the whole model's gradient, for clipping under tensor parallelism:
 * grad holds the gradients of the flat positions [offset, offset + length) of params
 * (all of them, or a ZeRO-1 shard); the elements of split parameters are summed over
 * the tp group (each rank holds other parts), those of replicated parameters counted
 * once (every rank holds the same). dp (may be NULL) is the group that shares the flat
 * buffer in disjoint ranges (ZeRO-1's), summed over first. The same number on every
 * rank of both groups. Collective over dp and tp. */
VOLT_NODISCARD int volt_tp_grad_sq_norm(const volt_tp *tp, volt_comm *dp,
                                        const volt_params *params, const void *grad,
                                        size_t offset, size_t length, double *out);

#endif
