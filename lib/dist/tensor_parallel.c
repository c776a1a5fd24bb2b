/* lib/dist/tensor_parallel.c — the tensor-parallel collectives as ops, and the
 * vocabulary-parallel cross-entropy (contract in the header). Rows' statistics travel in
 * f64 so that the loss does not depend on how many ranks share the vocabulary beyond
 * the order of their sums. */
#include "dist/tensor_parallel.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/graph.h"
#include "ops/ops.h"
#include "optim/optim.h"

const volt_tp volt_tp_single = {NULL, 0, 1};

volt_tp volt_tp_of(volt_comm *comm) {
    if (!comm || volt_comm_size(comm) == 1) return volt_tp_single;
    volt_tp tp = {comm, volt_comm_rank(comm), volt_comm_size(comm)};
    return tp;
}

static int is_single(const volt_tp *tp) { return !tp || tp->size <= 1 || !tp->comm; }

/* A contiguous copy of x on its graph (the ops' outputs are their own tensors). */
static volt_tensor *copy_of(const char *op, volt_tensor *x) {
    if (!x) return NULL;
    if (x->dtype != VOLT_F32 && x->dtype != VOLT_F64) {
        VOLT_ERROR(VOLT_ERR_ARG, "%s: f32 or f64 tensors only, not %s", op,
                   volt_dtype_name(x->dtype));
        return NULL;
    }
    volt_graph *graph = volt_graph_of(&x, 1);
    if (!graph) {
        VOLT_ERROR(VOLT_ERR_ARG, "%s: the input belongs to no graph", op);
        return NULL;
    }
    volt_tensor *in = volt_contiguous(x);
    if (!in) return NULL;
    volt_tensor *y = volt_graph_tensor(graph, x->dtype, x->ndim, x->shape);
    if (!y) {
        VOLT_ERROR(VOLT_ERR_NOMEM, "%s: out of memory for the output", op);
        return NULL;
    }
    memcpy(y->data, in->data, volt_tensor_nbytes(y));
    return y;
}

/* dx += dy for contiguous tensors of one dtype */
static void add_into(volt_tensor *dx, const volt_tensor *dy) {
    size_t n = volt_tensor_numel(dy);
    if (dy->dtype == VOLT_F64) {
        double *d = dx->data;
        const double *s = dy->data;
        for (size_t i = 0; i < n; i++) d[i] += s[i];
    } else {
        float *d = dx->data;
        const float *s = dy->data;
        for (size_t i = 0; i < n; i++) d[i] += s[i];
    }
}

/* The communicator travels in the node's extra field. */
static int copy_backward(volt_graph *graph, volt_node *node) {
    volt_tensor *x = node->inputs[0], *y = node->output;
    if (!x->requires_grad) return VOLT_OK;
    VOLT_CHECK(volt_comm_allreduce(node->extra, y->grad->data, volt_tensor_numel(y), y->dtype,
                                   VOLT_REDUCE_SUM, NULL));
    volt_tensor *dx = volt_grad_of(graph, x);
    VOLT_CHECK_PTR(dx);
    add_into(dx, y->grad);
    return VOLT_OK;
}

volt_tensor *volt_tp_copy(const volt_tp *tp, volt_tensor *x) {
    if (is_single(tp) || !x) return x;
    volt_tensor *y = copy_of("tp_copy", x);
    if (!y) return NULL;
    volt_graph *graph = y->graph;
    if (volt_graph_needs_grad(graph, &x, 1)) {
        volt_node *node = volt_graph_record(graph, "tp_copy", copy_backward, y, &x, 1);
        if (!node) return NULL;
        node->extra = tp->comm;
    }
    return y;
}

static int reduce_backward(volt_graph *graph, volt_node *node) {
    volt_tensor *x = node->inputs[0], *y = node->output;
    if (!x->requires_grad) return VOLT_OK;
    volt_tensor *dx = volt_grad_of(graph, x);
    VOLT_CHECK_PTR(dx);
    add_into(dx, y->grad);
    return VOLT_OK;
}

volt_tensor *volt_tp_reduce(const volt_tp *tp, volt_tensor *x) {
    if (is_single(tp) || !x) return x;
    volt_tensor *y = copy_of("tp_reduce", x);
    if (!y) return NULL;
    if (volt_comm_allreduce(tp->comm, y->data, volt_tensor_numel(y), y->dtype, VOLT_REDUCE_SUM,
                            NULL) != VOLT_OK) {
        VOLT_ERROR(VOLT_ERR_MPI, "tp_reduce: the all-reduce of %zu elements failed",
                   volt_tensor_numel(y));
        return NULL;
    }
    volt_graph *graph = y->graph;
    if (volt_graph_needs_grad(graph, &x, 1)) {
        volt_node *node = volt_graph_record(graph, "tp_reduce", reduce_backward, y, &x, 1);
        if (!node) return NULL;
    }
    return y;
}

/* --- vocabulary-parallel cross-entropy ---------------------------------------------------- */

typedef struct ce_saved {
    double *row_max, *row_sum;             /* global per row */
    long rows, counted, cols, vocab_start; /* counted: rows not ignored */
} ce_saved;

static double logit_at(const volt_tensor *logits, size_t i) {
    return logits->dtype == VOLT_F64 ? ((const double *)logits->data)[i]
                                     : (double)((const float *)logits->data)[i];
}

static int ce_backward(volt_graph *graph, volt_node *node) {
    volt_tensor *logits = node->inputs[0], *targets = node->inputs[1], *loss = node->output;
    if (!logits->requires_grad) return VOLT_OK;
    const ce_saved *s = node->extra;
    volt_tensor *d = volt_grad_of(graph, logits);
    VOLT_CHECK_PTR(d);
    if (s->counted == 0) return VOLT_OK;
    double scale = volt_tensor_get_flat(loss->grad, 0) / (double)s->counted;
    for (long r = 0; r < s->rows; r++) {
        long global = (long)volt_tensor_get_flat(targets, (size_t)r);
        if (global == VOLT_IGNORE_INDEX) continue; /* no gradient */
        long target = global - s->vocab_start;
        for (long c = 0; c < s->cols; c++) {
            size_t i = (size_t)(r * s->cols + c);
            double g = exp(logit_at(logits, i) - s->row_max[r]) / s->row_sum[r];
            if (c == target) g -= 1.0;
            if (d->dtype == VOLT_F64)
                ((double *)d->data)[i] += scale * g;
            else
                ((float *)d->data)[i] += (float)(scale * g);
        }
    }
    return VOLT_OK;
}

volt_tensor *volt_tp_cross_entropy(const volt_tp *tp, volt_tensor *logits, volt_tensor *targets,
                                   long vocab_start) {
    if (!logits || !targets) return NULL;
    if (is_single(tp) && vocab_start == 0) return volt_cross_entropy(logits, targets);
    if (is_single(tp)) {
        VOLT_ERROR(VOLT_ERR_ARG, "tp_cross_entropy: vocab_start %ld in a group of one rank",
                   vocab_start);
        return NULL;
    }
    volt_tensor *in = volt_contiguous(logits);
    if (!in || (in->dtype != VOLT_F32 && in->dtype != VOLT_F64) || in->ndim < 1) {
        if (in) VOLT_ERROR(VOLT_ERR_ARG, "tp_cross_entropy: logits must be f32 or f64, [..., V/T]");
        return NULL;
    }
    long cols = in->shape[in->ndim - 1];
    long rows = cols > 0 ? (long)(volt_tensor_numel(in) / (size_t)cols) : 0;
    if ((long)volt_tensor_numel(targets) != rows ||
        (targets->dtype != VOLT_I64 && targets->dtype != VOLT_I32)) {
        VOLT_ERROR(VOLT_ERR_SHAPE,
                   "tp_cross_entropy: %ld rows of logits but %zu targets (i32/i64 expected)", rows,
                   volt_tensor_numel(targets));
        return NULL;
    }
    volt_graph *graph = in->graph ? in->graph : volt_graph_of(&logits, 1);
    if (!graph) {
        VOLT_ERROR(VOLT_ERR_ARG, "tp_cross_entropy: the logits belong to no graph");
        return NULL;
    }
    long vocab = cols * tp->size;
    ce_saved *s = volt_graph_alloc(graph, sizeof *s);
    double *stats = volt_graph_alloc(graph, 3 * (size_t)(rows ? rows : 1) * sizeof(double));
    if (!s || !stats) {
        VOLT_ERROR(VOLT_ERR_NOMEM, "tp_cross_entropy: out of memory for %ld rows", rows);
        return NULL;
    }
    double *row_max = stats, *row_sum = stats + rows, *target_logit = stats + 2 * rows;
    for (long r = 0; r < rows; r++) {
        double m = -INFINITY;
        for (long c = 0; c < cols; c++) m = fmax(m, logit_at(in, (size_t)(r * cols + c)));
        row_max[r] = m;
    }
    if (volt_comm_allreduce(tp->comm, row_max, (size_t)rows, VOLT_F64, VOLT_REDUCE_MAX, NULL) !=
        VOLT_OK)
        return NULL;
    for (long r = 0; r < rows; r++) {
        double sum = 0;
        for (long c = 0; c < cols; c++)
            sum += exp(logit_at(in, (size_t)(r * cols + c)) - row_max[r]);
        row_sum[r] = sum;
        long t = (long)volt_tensor_get_flat(targets, (size_t)r);
        if (t == VOLT_IGNORE_INDEX) { /* left out, as volt_cross_entropy does */
            target_logit[r] = 0;
            continue;
        }
        if (t < 0 || t >= vocab) {
            VOLT_ERROR(VOLT_ERR_ARG, "tp_cross_entropy: target %ld of row %ld is not in [0, %ld)",
                       t, r, vocab);
            return NULL;
        }
        long local = t - vocab_start;
        target_logit[r] = local >= 0 && local < cols ? logit_at(in, (size_t)(r * cols + local)) : 0;
    }
    /* sums of exponentials and the target logits in one all-reduce */
    if (volt_comm_allreduce(tp->comm, row_sum, 2 * (size_t)rows, VOLT_F64, VOLT_REDUCE_SUM, NULL) !=
        VOLT_OK)
        return NULL;
    double total = 0;
    long counted = 0;
    for (long r = 0; r < rows; r++) {
        if ((long)volt_tensor_get_flat(targets, (size_t)r) == VOLT_IGNORE_INDEX) continue;
        total += log(row_sum[r]) + row_max[r] - target_logit[r];
        counted++;
    }
    volt_tensor *loss = volt_graph_tensor(graph, in->dtype, 0, NULL);
    if (!loss) {
        VOLT_ERROR(VOLT_ERR_NOMEM, "tp_cross_entropy: out of memory");
        return NULL;
    }
    volt_tensor_set_flat(loss, 0, counted ? total / (double)counted : 0.0);
    s->row_max = row_max;
    s->row_sum = row_sum;
    s->rows = rows;
    s->counted = counted;
    s->cols = cols;
    s->vocab_start = vocab_start;
    volt_tensor *inputs[2] = {in, targets};
    if (volt_graph_needs_grad(graph, inputs, 1)) {
        volt_node *node =
            volt_graph_record(graph, "tp_cross_entropy", ce_backward, loss, inputs, 2);
        if (!node) return NULL;
        node->extra = s;
        node->flops = 4.0 * (double)rows * (double)cols;
    }
    return loss;
}

double volt_tp_accuracy(const volt_tp *tp, const volt_tensor *logits, const volt_tensor *targets,
                        long vocab_start) {
    int single = is_single(tp);
    if (!logits || !targets || logits->ndim < 1) {
        VOLT_ERROR(VOLT_ERR_ARG, "tp_accuracy: logits [..., V/T] and targets are required");
        return NAN;
    }
    long cols = logits->shape[logits->ndim - 1];
    long rows = cols > 0 ? (long)(volt_tensor_numel(logits) / (size_t)cols) : 0;
    if (rows == 0 || (long)volt_tensor_numel(targets) != rows) {
        VOLT_ERROR(VOLT_ERR_SHAPE, "tp_accuracy: %ld rows of logits, %zu targets", rows,
                   volt_tensor_numel(targets));
        return NAN;
    }
    const double not_found = (double)(cols * (single ? 1 : tp->size)); /* past the vocabulary */
    double *best = malloc(2 * (size_t)rows * sizeof(double));
    if (!best) {
        VOLT_ERROR(VOLT_ERR_NOMEM, "tp_accuracy: out of memory for %ld rows", rows);
        return NAN;
    }
    double *index = best + rows;
    for (long r = 0; r < rows; r++) {
        best[r] = -INFINITY;
        for (long c = 0; c < cols; c++)
            best[r] = fmax(best[r], volt_tensor_get_flat(logits, (size_t)(r * cols + c)));
    }
    double accuracy = NAN;
    if (single || volt_comm_allreduce(tp->comm, best, (size_t)rows, VOLT_F64, VOLT_REDUCE_MAX,
                                      NULL) == VOLT_OK) {
        /* the first column holding the global maximum, over the whole vocabulary */
        for (long r = 0; r < rows; r++) {
            index[r] = not_found; /* a row of NaN has no maximum */
            for (long c = 0; c < cols; c++)
                if (volt_tensor_get_flat(logits, (size_t)(r * cols + c)) == best[r]) {
                    index[r] = (double)(vocab_start + c);
                    break;
                }
        }
        if (single || volt_comm_allreduce(tp->comm, index, (size_t)rows, VOLT_F64, VOLT_REDUCE_MIN,
                                          NULL) == VOLT_OK) {
            long correct = 0;
            for (long r = 0; r < rows; r++)
                correct += (long)index[r] == (long)volt_tensor_get_flat(targets, (size_t)r);
            accuracy = (double)correct / (double)rows;
        }
    }
    free(best);
    return accuracy;
}

/* --- the gradient norm of a split model ---------------------------------------------------- */

int volt_tp_grad_sq_norm(const volt_tp *tp, volt_comm *dp, const volt_params *params,
                         const void *grad, size_t offset, size_t length, double *out) {
    VOLT_CHECK_ARG(params && out && (grad || length == 0));
    volt_dtype dtype = volt_params_dtype(params);
    size_t element = volt_dtype_size(dtype);
    double sums[2] = {0, 0}; /* split, replicated */
    for (int i = 0; i < volt_params_count(params); i++) {
        const volt_param *p = volt_params_get(params, i);
        size_t first = p->offset > offset ? p->offset : offset;
        size_t end =
            p->offset + p->numel < offset + length ? p->offset + p->numel : offset + length;
        if (first >= end) continue;
        sums[volt_param_is_split(p) ? 0 : 1] +=
            volt_grad_sq_norm((const char *)grad + (first - offset) * element, dtype, end - first);
    }
    if (dp) VOLT_CHECK(volt_comm_allreduce(dp, sums, 2, VOLT_F64, VOLT_REDUCE_SUM, NULL));
    if (!is_single(tp))
        VOLT_CHECK(volt_comm_allreduce(tp->comm, sums, 1, VOLT_F64, VOLT_REDUCE_SUM, NULL));
    *out = sums[0] + sums[1];
    return VOLT_OK;
}
