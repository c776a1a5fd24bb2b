/* lib/autograd/graph.h — the tape and the per-step arena.
 *
 * A volt_graph is the context of one training (or evaluation) step: every tensor an op
 * makes is allocated from its arena and, when gradients are enabled and an input
 * requires them, the op appends one node to its tape (define-by-run). The tape is an
 * array; volt_backward(loss) walks it in reverse, calling each node's backward, which
 * accumulates into its inputs' gradients. volt_graph_reset() ends the step: it drops the
 * tape and frees the arena in one go (no system allocation in the steady state). Tensors
 * outside the arena that took part (caller memory that requires grad) must live until
 * then: their gradients came from the arena, and the reset sets them back to NULL.
 *
 * Ops find their graph through their inputs (tensor->graph), so user code never passes
 * it; tensors from the data pipeline are made with volt_graph_tensor().
 *
 * Parameters live in a volt_params store (flat buffers, see params.h). Their gradients
 * are views into the flat gradient buffer and accumulate across backward calls until
 * volt_params_zero_grad(). Before the walk, each parameter's uses on the tape are
 * counted; after the node holding its last pending use is differentiated, its gradient
 * is final and the grad-ready callback fires with the parameter (DDP starts a bucket's
 * all-reduce from it). Shared parameters (weight tying) are therefore handled.
 *
 * Errors: an op that fails pushes an error and returns NULL; ops given a NULL input
 * return NULL without pushing more, so a failure surfaces once at the end of the
 * forward pass (check the loss for NULL). */
#ifndef VOLT_AUTOGRAD_GRAPH_H
#define VOLT_AUTOGRAD_GRAPH_H

#include <stdint.h>

#include "core/arena.h"
#include "tensor/tensor.h"

enum { VOLT_NODE_MAX_INPUTS = 4, VOLT_NODE_MAX_SAVED = 4 };

typedef struct volt_node volt_node;

/* A node's backward: reads node->output->grad, accumulates into the inputs' grads (only
 * those with requires_grad). Allocations come from the graph's arena. */
typedef int (*volt_backward_fn)(volt_graph *graph, volt_node *node);

struct volt_node {
    const char *name;           /* op name, for errors and the profiler */
    volt_backward_fn backward;
    volt_tensor *output;
    volt_tensor *inputs[VOLT_NODE_MAX_INPUTS];
    int input_count;
    volt_tensor *saved[VOLT_NODE_MAX_SAVED]; /* tensors kept for backward */
    double scalars[4];          /* op arguments kept for backward (scale, eps, p...) */
    long integers[4];
    void *extra;                /* op-specific data in the arena */
    double flops;               /* forward flop count (see volt_graph_backward_flops) */
};

typedef void (*volt_grad_ready_fn)(volt_param *param, void *user);

typedef struct volt_graph_options {
    size_t arena_bytes;     /* first arena chunk (0: 16 MiB); it grows as needed */
    int max_nodes;          /* initial tape capacity (0: 1024); it grows as needed */
    uint64_t seed;          /* seed of the graph's random streams (dropout) */
} volt_graph_options;

VOLT_NODISCARD int volt_graph_create(const volt_graph_options *options, volt_graph **out);
void volt_graph_destroy(volt_graph *graph);
/* Ends a step: empties the tape, frees every tensor made on the graph (and forgets the
 * gradients given to tensors on the tape that live elsewhere). The step counter advances
 * (it feeds the random streams). */
void volt_graph_reset(volt_graph *graph);

/* Gradient recording on/off (no_grad scope). Returns the previous setting:
 *     int was = volt_graph_set_grad_enabled(g, 0); ...; volt_graph_set_grad_enabled(g, was); */
int volt_graph_set_grad_enabled(volt_graph *graph, int enabled);
int volt_graph_grad_enabled(const volt_graph *graph);
/* Training mode (dropout active) or evaluation mode. Default: training. */
void volt_graph_set_training(volt_graph *graph, int training);
int volt_graph_training(const volt_graph *graph);

/* Autocast for the 16-bit mixed precisions on the CPU: VOLT_BF16 or VOLT_F16 makes
 * linear layers and attention compute on operands rounded to that type, with f32
 * accumulation and a rounded result (lib/ops/matmul.c, attention.c); VOLT_F32 (the
 * default) turns it off. VOLT_ERR_ARG for another dtype (then nothing changes). */
VOLT_NODISCARD int volt_graph_set_autocast(volt_graph *graph, volt_dtype dtype);
volt_dtype volt_graph_autocast(const volt_graph *graph);

/* The grad-ready callback (NULL to remove). */
void volt_graph_on_grad_ready(volt_graph *graph, volt_grad_ready_fn fn, void *user);

/* A fresh contiguous tensor from the graph's arena (not zeroed); NULL on failure. */
volt_tensor *volt_graph_tensor(volt_graph *graph, volt_dtype dtype, int ndim,
                               const long *shape);
volt_tensor *volt_graph_zeros(volt_graph *graph, volt_dtype dtype, int ndim,
                              const long *shape);
/* A tensor header (shape, dtype, graph filled in) whose data the caller sets: views. */
volt_tensor *volt_graph_header(volt_graph *graph, const volt_tensor *like);
/* Raw scratch memory from the arena, 64-byte aligned. */
void *volt_graph_alloc(volt_graph *graph, size_t bytes);
volt_arena *volt_graph_arena(volt_graph *graph);

/* A random stream id unique to this call within the step and to the step: dropout uses
 * (seed, volt_graph_next_stream(g), element index). */
uint64_t volt_graph_seed(const volt_graph *graph);
uint64_t volt_graph_next_stream(volt_graph *graph);
long volt_graph_step(const volt_graph *graph);
/* Sets the step counter: the trainer numbers its training batches this way, so that a
 * run resumed from a checkpoint draws the same random streams. */
void volt_graph_set_step(volt_graph *graph, long step);
/* Where this rank's rows start in the global batch (0 by default; the trainer sets it per
 * training batch): dropout numbers the elements of a tensor whose first dimension is the
 * batch by their global row, so that its masks are the same for any data-parallel
 * layout. */
void volt_graph_set_batch_offset(volt_graph *graph, long rows);
long volt_graph_batch_offset(const volt_graph *graph);

/* For ops: whether the output of an op with these inputs must be recorded (grad
 * enabled and some input requires grad), and appending the node. The node's output
 * gets requires_grad = 1 and node = its index. NULL on allocation failure. */
int volt_graph_needs_grad(const volt_graph *graph, volt_tensor *const *inputs, int count);
volt_node *volt_graph_record(volt_graph *graph, const char *name, volt_backward_fn backward,
                             volt_tensor *output, volt_tensor *const *inputs, int count);
/* The graph of the first input that has one (parameters have none). */
volt_graph *volt_graph_of(volt_tensor *const *inputs, int count);

int volt_graph_node_count(const volt_graph *graph);
const volt_node *volt_graph_node(const volt_graph *graph, int index);
/* Sum of the forward flops of the nodes on the tape. */
double volt_graph_flops(const volt_graph *graph);
/* An estimate of backward's flops: a node's forward count once for each of its operands
 * (its first two inputs; a third is an addend such as a bias) that needs a gradient. For
 * matmul and linear that is exact up to the bias (dA and dB each cost 2 m n k; the first
 * layer, whose input needs none, only computes dW). */
double volt_graph_backward_flops(const volt_graph *graph);

/* Back-propagates from a scalar loss (seed gradient 1): every tensor that requires
 * grad and took part gets its gradient; parameters accumulate into the flat buffer. */
VOLT_NODISCARD int volt_backward(volt_tensor *loss);
/* Same with an explicit output gradient of loss's shape. */
VOLT_NODISCARD int volt_backward_with(volt_tensor *output, const volt_tensor *grad_output);

/* For backward functions: the gradient buffer of t (allocated from the arena and
 * zeroed on first use, or the parameter's view of the flat gradient). NULL on failure. */
volt_tensor *volt_grad_of(volt_graph *graph, volt_tensor *t);

#endif
