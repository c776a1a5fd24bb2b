/* tests/mpi/test_tensor_parallel.c — tensor-parallel layers against the unsplit ones, at
 * 1, 2 and 4 ranks (tp = the world size).
 *
 * Each test builds a layer twice from one seed, in f64: whole (a group of one) and split
 * over the world. Both get the same input and back-propagate the same output weights w
 * (L = sum(w * y), w a fixed function of the global position), and the test checks:
 *   - each rank's slice of a split weight holds the whole weight's numbers there
 *     (initialisation from the global positions);
 *   - outputs: equal, or, for an output split by columns, the matching columns;
 *   - gradients: of a split parameter, the matching slice of the whole one's; of a
 *     replicated parameter and of the input, the whole ones (after the group's sums).
 * f64 with a relative tolerance of 1e-12: only summation order differs. */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/graph.h"
#include "dist/tensor_parallel.h"
#include "gradcheck.h"
#include "log/metrics.h"
#include "nn/nn.h"
#include "volt_test.h"

static const double TOLERANCE = 1e-12;

static volt_comm *world(void) {
    static volt_comm *comm;
    if (!comm && volt_comm_create(MPI_COMM_WORLD, &comm) != VOLT_OK) abort();
    return comm;
}

static volt_tp world_tp(void) {
    volt_tp tp = {world(), volt_comm_rank(world()), volt_comm_size(world())};
    return tp; /* size 1 too: then the split layers must equal the plain ones */
}

static int close_enough(double a, double b) {
    return fabs(a - b) <= TOLERANCE * fmax(1.0, fmax(fabs(a), fabs(b)));
}

/* The global index along the split dimension of local index d (volt_param_slice). */
static long global_along(const volt_param_slice *s, long d) {
    long block = s->global_shape[s->dim] / s->blocks, piece = block / s->parts;
    return d / piece * block + (long)s->part * piece + d % piece;
}

/* The flat global position of a split tensor's local flat element i, for a tensor of
 * ndim dimensions whose dimension s->dim is split as s says. */
static size_t global_flat(const volt_param_slice *s, int ndim, const long *local_shape, size_t i) {
    long index[VOLT_MAX_DIMS];
    for (int d = ndim - 1; d >= 0; d--) {
        index[d] = (long)(i % (size_t)local_shape[d]);
        i /= (size_t)local_shape[d];
    }
    index[s->dim] = global_along(s, index[s->dim]);
    size_t flat = 0;
    for (int d = 0; d < ndim; d++) flat = flat * (size_t)s->global_shape[d] + (size_t)index[d];
    return flat;
}

/* Local tensor t is the part `s` of global tensor g. */
static void expect_slice_of(const volt_tensor *t, const volt_tensor *g, const volt_param_slice *s,
                            const char *what) {
    for (size_t i = 0; i < volt_tensor_numel(t); i++) {
        double a = volt_tensor_get_flat(t, i);
        double b = volt_tensor_get_flat(g, global_flat(s, t->ndim, t->shape, i));
        if (!close_enough(a, b)) {
            volt_test_fail(__FILE__, __LINE__, "%s: element %zu is %.17g, the whole one %.17g",
                           what, i, a, b);
            return;
        }
    }
}

static void expect_equal(const volt_tensor *a, const volt_tensor *b, const char *what) {
    VOLT_EXPECT_EQ_INT((long)volt_tensor_numel(a), (long)volt_tensor_numel(b));
    for (size_t i = 0; i < volt_tensor_numel(a); i++)
        if (!close_enough(volt_tensor_get_flat(a, i), volt_tensor_get_flat(b, i))) {
            volt_test_fail(__FILE__, __LINE__, "%s: element %zu is %.17g, expected %.17g", what, i,
                           volt_tensor_get_flat(a, i), volt_tensor_get_flat(b, i));
            return;
        }
}

/* A leaf on graph g holding part `columns` (of the last dimension) of whole [rows, cols]. */
static volt_tensor *columns_of(volt_graph *g, const volt_tensor *whole,
                               const volt_param_slice *columns) {
    const long shape[] = {whole->shape[0], whole->shape[1] / columns->parts};
    volt_tensor *part = volt_test_leaf(g, VOLT_F64, 2, shape, 1, 1, 0, 0);
    for (size_t i = 0; i < volt_tensor_numel(part); i++)
        volt_tensor_set_flat(part, i,
                             volt_tensor_get_flat(whole, global_flat(columns, 2, shape, i)));
    return part;
}

/* Every parameter of split (same names, same order) against whole: values and gradients. */
static void expect_params_match(volt_params *whole, volt_params *split) {
    VOLT_EXPECT_EQ_INT(volt_params_count(whole), volt_params_count(split));
    for (int i = 0; i < volt_params_count(split); i++) {
        const volt_param *p = volt_params_get(split, i), *q = volt_params_get(whole, i);
        char what[300];
        snprintf(what, sizeof what, "%s (%s)", p->name,
                 volt_param_is_split(p) ? "split" : "replicated");
        expect_slice_of(p->tensor, q->tensor, &p->slice, what);
        snprintf(what, sizeof what, "gradient of %s", p->name);
        expect_slice_of(p->tensor->grad, q->tensor->grad, &p->slice, what);
    }
}

/* w for L = sum(w * y): a fixed function of the global flat position. */
static double weight_at(size_t global) { return sin(0.37 * (double)global + 0.1); }

/* Back-propagates sum(w * y) from y, a part `columns` of the global output (NULL: y is
 * the whole output). */
static void backward_weighted(volt_tensor *y, const volt_param_slice *columns) {
    volt_tensor w;
    double *data = malloc(volt_tensor_numel(y) * sizeof *data);
    VOLT_EXPECT_OK(volt_tensor_wrap(&w, data, VOLT_F64, y->ndim, y->shape));
    for (size_t i = 0; i < volt_tensor_numel(y); i++)
        data[i] = weight_at(columns ? global_flat(columns, y->ndim, y->shape, i) : i);
    VOLT_EXPECT_OK(volt_backward_with(y, &w));
    free(data);
}

/* The whole and the split layer each on its own graph (one backward each). */
typedef struct pair {
    volt_params *whole, *split;
    volt_graph *g1, *g2;
} pair;

static pair make_pair(void) {
    pair p;
    VOLT_EXPECT_OK(volt_params_create(VOLT_F64, 31, &p.whole));
    VOLT_EXPECT_OK(volt_params_create(VOLT_F64, 31, &p.split));
    VOLT_EXPECT_OK(volt_graph_create(NULL, &p.g1));
    VOLT_EXPECT_OK(volt_graph_create(NULL, &p.g2));
    return p;
}

static void free_pair(pair *p) {
    volt_graph_destroy(p->g1);
    volt_graph_destroy(p->g2);
    volt_params_destroy(p->whole);
    volt_params_destroy(p->split);
}

/* The columns of an output split like `weight` (dimension 0 of the weight = the last
 * dimension of the output), as a slice of an output of global shape shape. */
static volt_param_slice output_columns(const volt_param *weight, int ndim, const long *shape) {
    volt_param_slice s = weight->slice;
    s.dim = ndim - 1;
    for (int d = 0; d < ndim; d++) s.global_shape[d] = shape[d];
    return s;
}

VOLT_TEST(linear_split_by_output_in_three_blocks) {
    volt_tp tp = world_tp();
    pair p = make_pair();
    const long in = 8, out = 12, x_shape[] = {5, in};
    volt_linear_layer *whole = volt_linear_new(p.whole, "c_attn", in, out, 1);
    volt_linear_layer *split =
        volt_linear_parallel_new(p.split, "c_attn", in, out, 1, VOLT_SPLIT_OUTPUT, 3, &tp);
    VOLT_EXPECT(whole && split);
    volt_tensor *x1 = volt_test_leaf(p.g1, VOLT_F64, 2, x_shape, 1, 5, -1, 1);
    volt_tensor *x2 = volt_test_leaf(p.g2, VOLT_F64, 2, x_shape, 1, 5, -1, 1);
    volt_tensor *y1 = volt_linear(whole, x1), *y2 = volt_linear(split, x2);
    VOLT_EXPECT(y1 && y2);
    const long y_shape[] = {5, out};
    volt_param_slice columns =
        output_columns(volt_params_find(p.split, "c_attn.weight"), 2, y_shape);
    expect_slice_of(y2, y1, &columns, "output");
    backward_weighted(y1, NULL);
    backward_weighted(y2, &columns);
    expect_params_match(p.whole, p.split);
    expect_equal(x2->grad, x1->grad, "gradient of the input (summed over the group)");
    volt_test_leaf_free(x1), volt_test_leaf_free(x2);
    free_pair(&p);
}

VOLT_TEST(linear_split_by_input) {
    volt_tp tp = world_tp();
    pair p = make_pair();
    const long in = 8, out = 6, x_shape[] = {5, in};
    volt_linear_layer *whole = volt_linear_new(p.whole, "c_proj", in, out, 1);
    volt_linear_layer *split =
        volt_linear_parallel_new(p.split, "c_proj", in, out, 1, VOLT_SPLIT_INPUT, 1, &tp);
    VOLT_EXPECT(whole && split);
    volt_tensor *x1 = volt_test_leaf(p.g1, VOLT_F64, 2, x_shape, 1, 6, -1, 1);
    /* this rank's columns of the same input */
    volt_param_slice columns = {1, 1, tp.size, tp.rank, {5, in}};
    volt_tensor *x2 = columns_of(p.g2, x1, &columns);
    volt_tensor *y1 = volt_linear(whole, x1), *y2 = volt_linear(split, x2);
    VOLT_EXPECT(y1 && y2);
    expect_equal(y2, y1, "output (summed over the group)");
    backward_weighted(y1, NULL);
    backward_weighted(y2, NULL);
    expect_params_match(p.whole, p.split);
    expect_slice_of(x2->grad, x1->grad, &columns, "gradient of this rank's input columns");
    volt_test_leaf_free(x1), volt_test_leaf_free(x2);
    free_pair(&p);
}

VOLT_TEST(embedding_split_by_rows) {
    volt_tp tp = world_tp();
    pair p = make_pair();
    volt_embedding_layer *whole = volt_embedding_new(p.whole, "wte", 8, 3);
    volt_embedding_layer *split = volt_embedding_parallel_new(p.split, "wte", 8, 3, &tp);
    VOLT_EXPECT(whole && split);
    const long shape[] = {2, 5}, ids[] = {0, 7, 3, 3, 4, 1, 6, 2, 5, 7};
    volt_tensor *i1 = volt_test_index_leaf(p.g1, VOLT_I64, 2, shape, ids);
    volt_tensor *i2 = volt_test_index_leaf(p.g2, VOLT_I64, 2, shape, ids);
    volt_tensor *y1 = volt_embedding(whole, i1), *y2 = volt_embedding(split, i2);
    VOLT_EXPECT(y1 && y2);
    expect_equal(y2, y1, "embeddings (summed over the group)");
    backward_weighted(y1, NULL);
    backward_weighted(y2, NULL);
    expect_params_match(p.whole, p.split);
    volt_test_leaf_free(i1), volt_test_leaf_free(i2);
    free_pair(&p);
}

VOLT_TEST(vocabulary_parallel_cross_entropy_and_accuracy) {
    volt_tp tp = world_tp();
    pair p = make_pair();
    const long vocab = 8, shape[] = {6, vocab};
    volt_tensor *l1 = volt_test_leaf(p.g1, VOLT_F64, 2, shape, 1, 9, -3, 3);
    /* row 2 ties its maximum across two ranks' columns: the first one must win */
    volt_tensor_set_flat(l1, 2 * vocab + 1, 5.0);
    volt_tensor_set_flat(l1, 2 * vocab + 6, 5.0);
    volt_param_slice columns = {1, 1, tp.size, tp.rank, {6, vocab}};
    volt_tensor *l2 = columns_of(p.g2, l1, &columns);
    /* row 3 is ignored (VOLT_IGNORE_INDEX): out of the mean, no gradient, on both paths */
    const long targets_shape[] = {6}, targets[] = {0, 7, 1, VOLT_IGNORE_INDEX, 4, 2};
    volt_tensor *t = volt_test_index_leaf(p.g1, VOLT_I64, 1, targets_shape, targets);
    long first = vocab / tp.size * tp.rank;
    volt_tensor *loss1 = volt_cross_entropy(l1, t);
    volt_tensor *loss2 = volt_tp_cross_entropy(&tp, l2, t, first);
    VOLT_EXPECT(loss1 && loss2);
    expect_equal(loss2, loss1, "loss");
    VOLT_EXPECT_OK(volt_backward(loss1));
    VOLT_EXPECT_OK(volt_backward(loss2));
    expect_slice_of(l2->grad, l1->grad, &columns, "gradient of this rank's logits");
    double a1 = volt_tp_accuracy(&volt_tp_single, l1, t, 0);
    double a2 = volt_tp_accuracy(&tp, l2, t, first);
    VOLT_EXPECT(a1 == a2);
    /* a target outside the vocabulary fails on every rank */
    const long bad[] = {0, 7, 1, 6, 4, 8};
    volt_tensor *tb = volt_test_index_leaf(p.g2, VOLT_I64, 1, targets_shape, bad);
    if (tp.size > 1) {
        VOLT_EXPECT(volt_tp_cross_entropy(&tp, l2, tb, first) == NULL);
        char errors[512];
        volt_test_take_errors(errors, sizeof errors);
        VOLT_EXPECT_STR_CONTAINS(errors, "target 8 of row 5 is not in [0, 8)");
    }
    volt_test_leaf_free(l1), volt_test_leaf_free(l2), volt_test_leaf_free(t);
    volt_test_leaf_free(tb);
    free_pair(&p);
}

VOLT_TEST(gpt2_block_split_as_megatron) {
    volt_tp tp = world_tp();
    pair p = make_pair();
    volt_transformer_block *whole = volt_transformer_block_new(p.whole, "h.0", 8, 4, 0.0);
    volt_transformer_block *split =
        volt_transformer_block_parallel_new(p.split, "h.0", 8, 4, 0.0, &tp);
    VOLT_EXPECT(whole && split);
    const long shape[] = {2, 3, 8};
    volt_tensor *x1 = volt_test_leaf(p.g1, VOLT_F64, 3, shape, 1, 8, -1, 1);
    volt_tensor *x2 = volt_test_leaf(p.g2, VOLT_F64, 3, shape, 1, 8, -1, 1);
    volt_tensor *y1 = volt_transformer_block_forward(whole, x1);
    volt_tensor *y2 = volt_transformer_block_forward(split, x2);
    VOLT_EXPECT(y1 && y2);
    expect_equal(y2, y1, "block output");
    backward_weighted(y1, NULL);
    backward_weighted(y2, NULL);
    expect_params_match(p.whole, p.split);
    expect_equal(x2->grad, x1->grad, "gradient of the block's input");
    volt_test_leaf_free(x1), volt_test_leaf_free(x2);
    free_pair(&p);
}

VOLT_TEST(a_split_that_does_not_divide_is_refused) {
    volt_tp tp = world_tp();
    if (tp.size == 1) return;
    volt_params *params;
    VOLT_EXPECT_OK(volt_params_create(VOLT_F32, 1, &params));
    /* 3 heads over 2 or 4 ranks */
    VOLT_EXPECT(volt_transformer_block_parallel_new(params, "h.0", 12, 3, 0.0, &tp) == NULL);
    char errors[512];
    volt_test_take_errors(errors, sizeof errors);
    VOLT_EXPECT_STR_CONTAINS(errors, "tp must divide n_head");
    /* a vocabulary of 6 rows over 4 ranks */
    if (tp.size == 4) {
        VOLT_EXPECT(volt_embedding_parallel_new(params, "wte", 6, 2, &tp) == NULL);
        volt_test_take_errors(errors, sizeof errors);
        VOLT_EXPECT_STR_CONTAINS(errors, "does not split into 1 block of 4 equal parts");
    }
    volt_params_destroy(params);
}

/* The ranks of a tensor-parallel group log the same metrics; only the first counts, so a
 * sum is the data-parallel one and a mean is unchanged (here every rank is a replica of
 * rank 0's values but rank 0 itself: the sum must be rank 0's alone). */
VOLT_TEST(replicated_ranks_do_not_multiply_summed_metrics) {
    volt_metrics *metrics;
    VOLT_EXPECT_OK(volt_metrics_create(&metrics));
    volt_metrics_set_counted(metrics, volt_comm_rank(world()) == 0);
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "correct", 3.0, 1.0, VOLT_LOG_EPOCH | VOLT_LOG_SUM));
    VOLT_EXPECT_OK(volt_metrics_log(metrics, "loss", 0.5, 4.0, VOLT_LOG_EPOCH));
    VOLT_EXPECT_OK(volt_metrics_reduce_epoch(metrics, world(), "", NULL, 0));
    volt_metric_values v = volt_metrics_take_epoch(metrics, "");
    VOLT_EXPECT_EQ_INT(v.count, 2);
    for (int i = 0; i < v.count; i++) {
        if (strcmp(v.names[i], "correct") == 0) VOLT_EXPECT_NEAR(v.values[i], 3.0, 0.0);
        if (strcmp(v.names[i], "loss") == 0) VOLT_EXPECT_NEAR(v.values[i], 0.5, 0.0);
    }
    volt_metrics_destroy(metrics);
}
