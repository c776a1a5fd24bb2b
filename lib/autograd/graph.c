/* lib/autograd/graph.c — the tape, the per-step arena, and the reverse walk. */
#include "autograd/graph.h"

#include <stdlib.h>
#include <string.h>

#include "autograd/params.h"

struct volt_graph {
    volt_arena *arena;
    volt_node *nodes;
    int node_count, node_capacity;
    int grad_enabled;
    int training;
    uint64_t seed;
    long step;
    long batch_offset; /* this rank's first row in the global batch (dropout) */
    uint64_t streams_this_step;
    volt_grad_ready_fn grad_ready;
    void *grad_ready_user;
    volt_dtype autocast; /* VOLT_F32: off */
};

int volt_graph_set_autocast(volt_graph *graph, volt_dtype dtype) {
    VOLT_CHECK_ARG(graph);
    if (dtype != VOLT_F32 && dtype != VOLT_BF16 && dtype != VOLT_F16)
        return VOLT_ERROR(VOLT_ERR_ARG, "autocast to %s: only bf16, f16 (or f32: off)",
                          volt_dtype_name(dtype));
    graph->autocast = dtype;
    return VOLT_OK;
}

volt_dtype volt_graph_autocast(const volt_graph *graph) { return graph->autocast; }

int volt_graph_create(const volt_graph_options *options, volt_graph **out) {
    VOLT_CHECK_ARG(out);
    volt_graph_options defaults = {0};
    if (!options) options = &defaults;
    volt_graph *g = calloc(1, sizeof *g);
    VOLT_CHECK_ALLOC(g, sizeof *g);
    g->node_capacity = options->max_nodes > 0 ? options->max_nodes : 1024;
    g->nodes = malloc((size_t)g->node_capacity * sizeof *g->nodes);
    int status = g->nodes ? volt_arena_create(options->arena_bytes ? options->arena_bytes
                                                                   : (size_t)16 << 20,
                                              &g->arena)
                          : VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory for a tape of %d nodes",
                                       g->node_capacity);
    if (status != VOLT_OK) {
        free(g->nodes);
        free(g);
        return status;
    }
    g->grad_enabled = 1;
    g->training = 1;
    g->seed = options->seed;
    *out = g;
    return VOLT_OK;
}

void volt_graph_destroy(volt_graph *graph) {
    if (!graph) return;
    volt_arena_destroy(graph->arena);
    free(graph->nodes);
    free(graph);
}

void volt_graph_reset(volt_graph *graph) {
    /* Gradients of tensors outside the arena (caller memory that requires grad) were
     * allocated from it: forget them, or the next step would accumulate into freed memory.
     * (Parameters keep theirs: views of the flat gradient buffer.) */
    for (int i = 0; i < graph->node_count; i++)
        for (int k = 0; k < graph->nodes[i].input_count; k++) {
            volt_tensor *in = graph->nodes[i].inputs[k];
            if (in && !in->param) in->grad = NULL;
        }
    graph->node_count = 0;
    graph->step++;
    graph->streams_this_step = 0;
    volt_arena_reset(graph->arena);
}

int volt_graph_set_grad_enabled(volt_graph *graph, int enabled) {
    int previous = graph->grad_enabled;
    graph->grad_enabled = enabled != 0;
    return previous;
}
int volt_graph_grad_enabled(const volt_graph *graph) { return graph->grad_enabled; }
void volt_graph_set_training(volt_graph *graph, int training) { graph->training = training != 0; }
int volt_graph_training(const volt_graph *graph) { return graph->training; }

void volt_graph_on_grad_ready(volt_graph *graph, volt_grad_ready_fn fn, void *user) {
    graph->grad_ready = fn;
    graph->grad_ready_user = user;
}

void *volt_graph_alloc(volt_graph *graph, size_t bytes) {
    return volt_arena_alloc(graph->arena, bytes);
}
volt_arena *volt_graph_arena(volt_graph *graph) { return graph->arena; }

volt_tensor *volt_graph_header(volt_graph *graph, const volt_tensor *like) {
    volt_tensor *t = volt_arena_alloc(graph->arena, sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->dtype = like->dtype;
    t->device = like->device;
    t->ndim = like->ndim;
    memcpy(t->shape, like->shape, sizeof t->shape);
    memcpy(t->strides, like->strides, sizeof t->strides);
    t->graph = graph;
    t->node = -1;
    return t;
}

volt_tensor *volt_graph_tensor(volt_graph *graph, volt_dtype dtype, int ndim,
                               const long *shape) {
    volt_tensor like;
    if (volt_tensor_wrap(&like, NULL, dtype, ndim, shape) != VOLT_OK) return NULL;
    volt_tensor *t = volt_graph_header(graph, &like);
    if (!t) return NULL;
    t->data = volt_arena_alloc(graph->arena, volt_tensor_nbytes(t));
    return t->data ? t : NULL;
}

volt_tensor *volt_graph_zeros(volt_graph *graph, volt_dtype dtype, int ndim,
                              const long *shape) {
    volt_tensor *t = volt_graph_tensor(graph, dtype, ndim, shape);
    if (t) memset(t->data, 0, volt_tensor_nbytes(t));
    return t;
}

uint64_t volt_graph_seed(const volt_graph *graph) { return graph->seed; }
long volt_graph_step(const volt_graph *graph) { return graph->step; }

void volt_graph_set_step(volt_graph *graph, long step) {
    graph->step = step;
    graph->streams_this_step = 0;
}

void volt_graph_set_batch_offset(volt_graph *graph, long rows) {
    graph->batch_offset = rows > 0 ? rows : 0;
}
long volt_graph_batch_offset(const volt_graph *graph) { return graph->batch_offset; }

/* Streams of a graph live in the upper half of the stream space, apart from the
 * parameter-initialisation streams (one per parameter index): bit 63 set, then the
 * step, then the call within the step. */
uint64_t volt_graph_next_stream(volt_graph *graph) {
    return ((uint64_t)1 << 63) | ((uint64_t)graph->step << 24) | graph->streams_this_step++;
}

int volt_graph_needs_grad(const volt_graph *graph, volt_tensor *const *inputs, int count) {
    if (!graph->grad_enabled) return 0;
    for (int i = 0; i < count; i++)
        if (inputs[i] && inputs[i]->requires_grad) return 1;
    return 0;
}

volt_graph *volt_graph_of(volt_tensor *const *inputs, int count) {
    for (int i = 0; i < count; i++)
        if (inputs[i] && inputs[i]->graph) return inputs[i]->graph;
    return NULL;
}

volt_node *volt_graph_record(volt_graph *graph, const char *name, volt_backward_fn backward,
                             volt_tensor *output, volt_tensor *const *inputs, int count) {
    if (count > VOLT_NODE_MAX_INPUTS) {
        VOLT_ERROR(VOLT_ERR_INTERNAL, "%s: %d inputs, a node holds at most %d", name, count,
                   VOLT_NODE_MAX_INPUTS);
        return NULL;
    }
    if (graph->node_count == graph->node_capacity) {
        int capacity = graph->node_capacity * 2;
        volt_node *nodes = realloc(graph->nodes, (size_t)capacity * sizeof *nodes);
        if (!nodes) {
            VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory growing the tape to %d nodes", capacity);
            return NULL;
        }
        graph->nodes = nodes;
        graph->node_capacity = capacity;
    }
    volt_node *node = &graph->nodes[graph->node_count];
    memset(node, 0, sizeof *node);
    node->name = name;
    node->backward = backward;
    node->output = output;
    node->input_count = count;
    for (int i = 0; i < count; i++) node->inputs[i] = inputs[i];
    output->node = graph->node_count++;
    output->requires_grad = 1;
    return node;
}

int volt_graph_node_count(const volt_graph *graph) { return graph->node_count; }
const volt_node *volt_graph_node(const volt_graph *graph, int index) {
    return &graph->nodes[index];
}

double volt_graph_backward_flops(const volt_graph *graph) {
    double flops = 0;
    for (int i = 0; i < graph->node_count; i++) {
        const volt_node *node = &graph->nodes[i];
        int operands = node->input_count < 2 ? node->input_count : 2;
        for (int k = 0; k < operands; k++)
            if (node->inputs[k] && node->inputs[k]->requires_grad) flops += node->flops;
    }
    return flops;
}

double volt_graph_flops(const volt_graph *graph) {
    double flops = 0;
    for (int i = 0; i < graph->node_count; i++) flops += graph->nodes[i].flops;
    return flops;
}

volt_tensor *volt_grad_of(volt_graph *graph, volt_tensor *t) {
    if (t->grad) return t->grad;
    volt_tensor *g = volt_graph_zeros(graph, t->dtype, t->ndim, t->shape);
    if (!g) return NULL;
    t->grad = g;
    return g;
}

/* Counts, for each parameter, the nodes up to `last` that use it, so that the walk can
 * tell when its gradient is final. */
static void count_param_uses(volt_graph *graph, int last) {
    for (int i = 0; i <= last; i++)
        for (int k = 0; k < graph->nodes[i].input_count; k++) {
            volt_tensor *in = graph->nodes[i].inputs[k];
            if (in && in->param) in->param->pending_uses = 0;
        }
    for (int i = 0; i <= last; i++)
        for (int k = 0; k < graph->nodes[i].input_count; k++) {
            volt_tensor *in = graph->nodes[i].inputs[k];
            if (in && in->param) in->param->pending_uses++;
        }
}

static int walk(volt_graph *graph, int last) {
    count_param_uses(graph, last);
    for (int i = last; i >= 0; i--) {
        volt_node *node = &graph->nodes[i];
        if (node->output->grad) {
            int status = node->backward(graph, node);
            if (status != VOLT_OK)
                return volt_error_push(status, __FILE__, __LINE__, __func__,
                                       "in the backward of %s (tape node %d)", node->name, i);
        }
        for (int k = 0; k < node->input_count; k++) {
            volt_param *param = node->inputs[k] ? node->inputs[k]->param : NULL;
            if (param && --param->pending_uses == 0 && graph->grad_ready)
                graph->grad_ready(param, graph->grad_ready_user);
        }
    }
    return VOLT_OK;
}

int volt_backward_with(volt_tensor *output, const volt_tensor *grad_output) {
    VOLT_CHECK_ARG(output && grad_output);
    if (!output->graph || output->node < 0 || !output->requires_grad)
        return VOLT_ERROR(VOLT_ERR_ARG,
                          "backward: the output was not computed from anything that requires "
                          "grad (no parameter took part, or gradients were disabled)");
    if (!volt_tensor_same_shape(output, grad_output) || output->dtype != grad_output->dtype) {
        char a[96], b[96];
        return VOLT_ERROR(VOLT_ERR_SHAPE, "backward: output is %s but its gradient is %s",
                          volt_tensor_describe(output, a, sizeof a),
                          volt_tensor_describe(grad_output, b, sizeof b));
    }
    volt_graph *graph = output->graph;
    volt_tensor *seed = volt_grad_of(graph, output);
    VOLT_CHECK_PTR(seed);
    size_t n = volt_tensor_numel(output);
    for (size_t i = 0; i < n; i++)
        volt_tensor_set_flat(seed, i, volt_tensor_get_flat(seed, i) +
                                          volt_tensor_get_flat(grad_output, i));
    VOLT_CHECK(walk(graph, output->node));
    return VOLT_OK;
}

int volt_backward(volt_tensor *loss) {
    VOLT_CHECK_ARG(loss);
    if (volt_tensor_numel(loss) != 1) {
        char a[96];
        return VOLT_ERROR(VOLT_ERR_SHAPE, "backward: the loss must be a scalar, not %s",
                          volt_tensor_describe(loss, a, sizeof a));
    }
    double one_f64 = 1.0;
    float one_f32 = 1.0f;
    volt_tensor one;
    VOLT_CHECK(volt_tensor_wrap(&one, loss->dtype == VOLT_F64 ? (void *)&one_f64 : (void *)&one_f32,
                                loss->dtype == VOLT_F64 ? VOLT_F64 : VOLT_F32, loss->ndim,
                                loss->shape));
    if (loss->dtype != VOLT_F32 && loss->dtype != VOLT_F64)
        return VOLT_ERROR(VOLT_ERR_SHAPE, "backward: the loss must be f32 or f64, not %s",
                          volt_dtype_name(loss->dtype));
    VOLT_CHECK(volt_backward_with(loss, &one));
    return VOLT_OK;
}
