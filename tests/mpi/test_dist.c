/* tests/mpi/test_dist.c — the distributed strategies (DDP, ZeRO-1) and the rank layout's
 * process groups, at 1, 2 and 4 ranks.
 *
 * The model is an MLP 12-32-32-5 with tanh, cross-entropy and AdamW (lr 1e-2), trained
 * on a fixed synthetic data set (labels from a random linear teacher). Every step takes
 * a global batch of 32 samples; rank r of P takes rows [r 32/P, (r+1) 32/P). The
 * single-process reference runs the same model (a second parameter store with the same
 * seed) on the whole global batch with no communication, on every rank.
 *
 * Parameter vectors are compared by their relative difference max|a - b| / max|b|;
 * losses by |a - b| / max(|a|, |b|). */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "autograd/graph.h"
#include "autograd/params.h"
#include "comm/comm.h"
#include "core/rng.h"
#include "dist/ddp.h"
#include "dist/layout.h"
#include "dist/zero.h"
#include "nn/nn.h"
#include "optim/optim.h"
#include "volt_test.h"

enum {
    FEATURES = 12,
    HIDDEN = 32,
    CLASSES = 5,
    SAMPLES = 256,
    GLOBAL_BATCH = 32,
    STEPS = 50,
};
static const uint64_t MODEL_SEED = 7, DATA_SEED = 11;
static const double LR = 1e-2;
static const size_t KB = 1024;

/* --- counting all-reduce calls (MPI's profiling interface) ------------------------------ */

/* The test binary's definitions take the place of the MPI library's for every caller in
 * it (libvolt is linked statically); PMPI_ reaches the real ones. */
static int counting_allreduces;
static long allreduce_calls;

int MPI_Iallreduce(const void *send, void *recv, int count, MPI_Datatype type, MPI_Op op,
                   MPI_Comm comm, MPI_Request *request) {
    if (counting_allreduces) allreduce_calls++;
    return PMPI_Iallreduce(send, recv, count, type, op, comm, request);
}

int MPI_Allreduce(const void *send, void *recv, int count, MPI_Datatype type, MPI_Op op,
                  MPI_Comm comm) {
    if (counting_allreduces) allreduce_calls++;
    return PMPI_Allreduce(send, recv, count, type, op, comm);
}

/* --- data and model --------------------------------------------------------------------- */

/* x ~ U(-1, 1); y = argmax(W x) with W ~ N(0, 1): the same on every rank. */
static float data_x[SAMPLES][FEATURES];
static int32_t data_y[SAMPLES];

static void make_data(void) {
    float teacher[CLASSES][FEATURES];
    volt_rng_uniform_f32(DATA_SEED, 0, 0, &data_x[0][0], (size_t)SAMPLES * FEATURES, -1, 1);
    volt_rng_normal_f32(DATA_SEED, 1, 0, &teacher[0][0], (size_t)CLASSES * FEATURES, 0, 1);
    for (int i = 0; i < SAMPLES; i++) {
        int best = 0;
        double best_score = -INFINITY;
        for (int k = 0; k < CLASSES; k++) {
            double score = 0;
            for (int f = 0; f < FEATURES; f++) score += teacher[k][f] * data_x[i][f];
            if (score > best_score) best_score = score, best = k;
        }
        data_y[i] = best;
    }
}

typedef struct mlp {
    volt_params *params;
    volt_linear_layer *fc1, *fc2, *fc3;
    volt_linear_layer *aux; /* with_extras: used only by odd ranks, created last */
    volt_param *idle;       /* with_extras: used by no rank */
} mlp;

static int mlp_create(int with_extras, mlp *m) {
    memset(m, 0, sizeof *m);
    VOLT_CHECK(volt_params_create(VOLT_F32, MODEL_SEED, &m->params));
    VOLT_CHECK_PTR(m->fc1 = volt_linear_new(m->params, "fc1", FEATURES, HIDDEN, 1));
    if (with_extras) {
        const long shape[] = {7};
        VOLT_CHECK(volt_params_add(m->params, "idle", 1, shape, &m->idle));
        volt_param_init_constant(m->params, m->idle, 0.5);
    }
    VOLT_CHECK_PTR(m->fc2 = volt_linear_new(m->params, "fc2", HIDDEN, HIDDEN, 1));
    VOLT_CHECK_PTR(m->fc3 = volt_linear_new(m->params, "fc3", HIDDEN, CLASSES, 1));
    if (with_extras) VOLT_CHECK_PTR(m->aux = volt_linear_new(m->params, "aux", FEATURES, CLASSES, 1));
    return VOLT_OK;
}

/* Mean cross-entropy over rows [first, first + count) of global batch `batch` (samples
 * batch * 32 + row, wrapping around the data set), scaled by `scale`. */
static volt_tensor *mlp_loss(const mlp *m, volt_graph *graph, long batch, long first,
                             long count, int use_aux, double scale) {
    const long x_shape[] = {count, FEATURES}, y_shape[] = {count};
    volt_tensor *x = volt_graph_tensor(graph, VOLT_F32, 2, x_shape);
    volt_tensor *y = volt_graph_tensor(graph, VOLT_I32, 1, y_shape);
    if (!x || !y) return NULL;
    for (long j = 0; j < count; j++) {
        long sample = (batch * GLOBAL_BATCH + first + j) % SAMPLES;
        memcpy((float *)x->data + j * FEATURES, data_x[sample], sizeof data_x[sample]);
        ((int32_t *)y->data)[j] = data_y[sample];
    }
    volt_tensor *hidden = volt_tanh(volt_linear(m->fc2, volt_tanh(volt_linear(m->fc1, x))));
    volt_tensor *logits = volt_linear(m->fc3, hidden);
    if (use_aux) logits = volt_add(logits, volt_linear(m->aux, x));
    volt_tensor *loss = volt_cross_entropy(logits, y);
    return scale == 1.0 ? loss : volt_scale(loss, scale);
}

static double max_abs(const float *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i]));
    return m;
}

/* max|a - b| / max|b| (NaN anywhere gives NaN). */
static double vector_rel_diff(const float *a, const float *b, size_t n) {
    double diff = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(d)) return NAN;
        diff = fmax(diff, d);
    }
    double scale = max_abs(b, n);
    return diff == 0 ? 0 : diff / (scale > 0 ? scale : 1e-30);
}

static double loss_rel_diff(const double *a, const double *b, int n, int *worst_step) {
    double worst = 0;
    *worst_step = 0;
    for (int i = 0; i < n; i++) {
        double d = volt_test_rel_diff(a[i], b[i], 1e-30);
        if (!(d <= worst)) worst = d, *worst_step = i;
    }
    return worst;
}

static int world_rank(void) {
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}

static int world_size(void) {
    int size;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    return size;
}

/* --- training runs ---------------------------------------------------------------------- */

typedef enum run_kind { RUN_SINGLE, RUN_DDP, RUN_ZERO } run_kind;

typedef struct run_options {
    run_kind kind;
    size_t bucket_bytes;  /* DDP */
    double clip;          /* > 0: clip by global norm */
    int micro_batches;    /* DDP: gradient accumulation over this many (0 means 1) */
    int steps;
} run_options;

typedef struct run_result {
    double loss[STEPS];      /* global loss of each step */
    double grad_norm[STEPS]; /* before clipping, when clipping */
    float *params;           /* the final parameters, flat_size elements */
    size_t flat_size;        /* the model's, before any ZeRO padding */
    int bucket_count, started_early_min, started_early_max;
    long allreduces_unsynced; /* DDP accumulation: all-reduce calls in micro-batches with sync off */
    long allreduces_synced;   /* ... and in the last micro-batch, per step (max over steps) */
    long allreduces_synced_min;
    size_t padded_size, shard_offset, shard_length, state_bytes; /* ZeRO */
} run_result;

#define TRY(expr)                                                                      \
    do {                                                                               \
        status = (expr);                                                               \
        if (status != VOLT_OK) goto done;                                              \
    } while (0)
#define TRY_PTR(ptr)                                                                   \
    do {                                                                               \
        if ((ptr) == NULL) {                                                           \
            status = volt_error_status() ? volt_error_status() : VOLT_ERR_INTERNAL;    \
            goto done;                                                                 \
        }                                                                              \
    } while (0)

/* Trains the MLP for o->steps steps: one process on the whole batch (RUN_SINGLE, no
 * communication), or this rank's share under DDP or ZeRO-1 over `world`. */
static int train(volt_comm *world, const run_options *o, run_result *r) {
    int status = VOLT_OK;
    int rank = o->kind == RUN_SINGLE ? 0 : volt_comm_rank(world);
    int ranks = o->kind == RUN_SINGLE ? 1 : volt_comm_size(world);
    int micro_batches = o->micro_batches > 0 ? o->micro_batches : 1;
    long micro_global = GLOBAL_BATCH / micro_batches, local = micro_global / ranks;
    memset(r, 0, sizeof *r);
    r->started_early_min = INT32_MAX;
    r->allreduces_synced_min = INT32_MAX;
    mlp m;
    volt_graph *graph = NULL;
    volt_optimizer *optimizer = NULL;
    volt_ddp *ddp = NULL;
    volt_zero *zero = NULL;
    volt_optimizer_options adamw = volt_optimizer_defaults(VOLT_OPTIM_ADAMW);
    adamw.lr = LR;

    TRY(mlp_create(0, &m));
    r->flat_size = volt_params_flat_size(m.params);
    volt_graph_options graph_options = {.seed = 1};
    TRY(volt_graph_create(&graph_options, &graph));
    if (o->kind == RUN_ZERO) {
        TRY(volt_zero_create(world, m.params, &adamw, &zero));
        r->padded_size = volt_zero_padded_size(zero);
        r->shard_offset = volt_zero_shard_offset(zero);
        r->shard_length = volt_zero_shard_length(zero);
        r->state_bytes = volt_optimizer_state_bytes(volt_zero_optimizer(zero));
    } else {
        TRY(volt_optimizer_create(&adamw, VOLT_F32, 0, r->flat_size, &optimizer));
        r->state_bytes = volt_optimizer_state_bytes(optimizer);
    }
    if (o->kind == RUN_DDP) {
        TRY(volt_ddp_create(world, m.params, o->bucket_bytes, &ddp));
        volt_ddp_attach(ddp, graph);
        r->bucket_count = volt_ddp_bucket_count(ddp);
    }

    for (int step = 0; step < o->steps; step++) {
        volt_params_zero_grad(m.params);
        double local_loss = 0;
        for (int micro = 0; micro < micro_batches; micro++) {
            int last = micro == micro_batches - 1;
            if (ddp) volt_ddp_set_sync(ddp, last);
            allreduce_calls = 0;
            counting_allreduces = ddp != NULL;
            /* micro-batch k of the step is rows [k 32/M, (k+1) 32/M) of its global batch */
            volt_tensor *loss = mlp_loss(&m, graph, step, micro * micro_global + rank * local,
                                         local, 0, 1.0 / micro_batches);
            TRY_PTR(loss);
            TRY(volt_backward(loss));
            if (ddp) TRY(volt_ddp_finish(ddp));
            counting_allreduces = 0;
            if (ddp && !last) r->allreduces_unsynced += allreduce_calls;
            if (ddp && last) {
                if (allreduce_calls > r->allreduces_synced) r->allreduces_synced = allreduce_calls;
                if (allreduce_calls < r->allreduces_synced_min)
                    r->allreduces_synced_min = allreduce_calls;
            }
            local_loss += *(float *)loss->data;
            volt_graph_reset(graph);
        }
        if (ddp) {
            int early = volt_ddp_buckets_started_early(ddp);
            if (early < r->started_early_min) r->started_early_min = early;
            if (early > r->started_early_max) r->started_early_max = early;
        }
        if (zero) {
            TRY(volt_zero_step(zero, LR, o->clip, &r->grad_norm[step]));
        } else {
            if (o->clip > 0)
                TRY(volt_clip_grad_norm(volt_params_grad(m.params), VOLT_F32, r->flat_size,
                                        o->clip, &r->grad_norm[step]));
            TRY(volt_optimizer_step(optimizer, volt_params_data(m.params),
                                    volt_params_grad(m.params), LR));
        }
        /* the global loss: the average of the ranks' local losses */
        if (o->kind != RUN_SINGLE)
            TRY(volt_comm_allreduce(world, &local_loss, 1, VOLT_F64, VOLT_REDUCE_AVG, NULL));
        r->loss[step] = local_loss;
    }
    r->params = malloc(r->flat_size * sizeof(float));
    if (!r->params) {
        status = VOLT_ERROR(VOLT_ERR_NOMEM, "out of memory copying the parameters");
        goto done;
    }
    memcpy(r->params, volt_params_data(m.params), r->flat_size * sizeof(float));
done:
    volt_ddp_destroy(ddp);
    volt_zero_destroy(zero);
    volt_optimizer_destroy(optimizer);
    volt_graph_destroy(graph);
    volt_params_destroy(m.params);
    return status;
}

/* Runs and fails the test (printing the error) when the run fails. */
static int run(volt_comm *world, const run_options *o, run_result *r) {
    int status = train(world, o, r);
    if (status != VOLT_OK) {
        volt_test_fail(__FILE__, __LINE__, "training run (kind %d) failed: %s", (int)o->kind,
                       volt_status_name(status));
        volt_error_print(stderr);
        volt_error_clear();
        free(r->params);
        r->params = NULL;
    }
    return status == VOLT_OK;
}

/* Expects both runs' losses and final parameters within tol (relative). */
static void expect_same_training(const char *what, const run_result *a, const run_result *b,
                                 int steps, double tol) {
    int worst_step;
    double loss_diff = loss_rel_diff(a->loss, b->loss, steps, &worst_step);
    double param_diff = vector_rel_diff(a->params, b->params, a->flat_size);
    if (!(loss_diff <= tol))
        volt_test_fail(__FILE__, __LINE__,
                       "%s at %d ranks: losses differ by %.3g (relative) at step %d: %.9g vs "
                       "%.9g (tolerance %.3g)",
                       what, world_size(), loss_diff, worst_step, a->loss[worst_step],
                       b->loss[worst_step], tol);
    if (!(param_diff <= tol))
        volt_test_fail(__FILE__, __LINE__,
                       "%s at %d ranks: final parameters differ by %.3g (relative, tolerance %.3g)",
                       what, world_size(), param_diff, tol);
    if (world_rank() == 0)
        printf("  %s at %d ranks: losses within %.2g, parameters within %.2g (loss %.4f -> %.4f)\n",
               what, world_size(), loss_diff, param_diff, a->loss[0], a->loss[steps - 1]);
}

static volt_comm *world_comm(void) {
    volt_comm *world = NULL;
    int status = volt_comm_create(MPI_COMM_WORLD, &world);
    if (status != VOLT_OK) {
        volt_test_fail(__FILE__, __LINE__, "volt_comm_create: %s", volt_status_name(status));
        volt_error_print(stderr);
        volt_error_clear();
    }
    return world;
}

/* --- DDP -------------------------------------------------------------------------------- */

/* DDP at P ranks, each with 32/P samples of the global batch, must follow the
 * single-process run on the whole batch: the same samples and the same averaged
 * gradient, so the same losses and parameters up to f32 summation order. */
VOLT_TEST(ddp_reproduces_the_single_process_run) {
    make_data();
    volt_comm *world = world_comm();
    if (!world) return;
    run_result single, ddp;
    run_options single_options = {.kind = RUN_SINGLE, .steps = STEPS};
    run_options ddp_options = {.kind = RUN_DDP, .bucket_bytes = 1 * KB, .steps = STEPS};
    if (run(world, &single_options, &single) && run(world, &ddp_options, &ddp)) {
        expect_same_training("DDP vs single process", &ddp, &single, STEPS, 1e-5);
        /* and it learned something, so that the comparison means something */
        VOLT_EXPECT(ddp.loss[STEPS - 1] < 0.7 * ddp.loss[0]);
        free(ddp.params);
    }
    free(single.params);
    volt_comm_destroy(world);
}

/* The bucket size changes how the gradient is cut into all-reduces, never the result:
 * 1 KB (several buckets), 25 MB (the default; one bucket) and more than the model. With
 * 1 KB buckets of a model whose parameters are all used, every bucket starts during
 * backward. The walk from fc3.bias back: fc3.bias, fc3.weight and fc2.bias (788 bytes)
 * are one bucket, fc2.weight (4096 bytes) its own, fc1.bias closes before fc1.weight
 * (1536 bytes, its own): 4 buckets. */
VOLT_TEST(ddp_bucket_size_does_not_change_results) {
    make_data();
    volt_comm *world = world_comm();
    if (!world) return;
    const size_t sizes[] = {1 * KB, VOLT_DDP_DEFAULT_BUCKET_BYTES, (size_t)1 << 40};
    run_result results[3];
    memset(results, 0, sizeof results);
    int ok = 1;
    for (int i = 0; i < 3; i++) {
        run_options options = {.kind = RUN_DDP, .bucket_bytes = sizes[i], .steps = STEPS};
        ok = ok && run(world, &options, &results[i]);
    }
    if (ok) {
        VOLT_EXPECT_EQ_INT(results[0].bucket_count, 4);
        VOLT_EXPECT_EQ_INT(results[1].bucket_count, 1);
        VOLT_EXPECT_EQ_INT(results[2].bucket_count, 1);
        VOLT_EXPECT(results[0].started_early_min > 0);
        /* every bucket but the last (all-reduced, blocking, in finish) starts early */
        VOLT_EXPECT_EQ_INT(results[0].started_early_min, results[0].bucket_count - 1);
        VOLT_EXPECT_EQ_INT(results[0].started_early_max, results[0].bucket_count - 1);
        VOLT_EXPECT_EQ_INT(results[1].started_early_max, 0);
        expect_same_training("DDP 1 KB vs 25 MB buckets", &results[0], &results[1], STEPS, 1e-7);
        expect_same_training("DDP 1 KB vs 1 TB buckets", &results[0], &results[2], STEPS, 1e-7);
    }
    for (int i = 0; i < 3; i++) free(results[i].params);
    volt_comm_destroy(world);
}

/* A parameter that some ranks do not use in a step (aux: only odd ranks) still ends the
 * step with the group's average gradient, (1/P) sum_r grad_r with grad_r = 0 where it
 * was unused; one that no rank uses (idle) with zero. The reference accumulates every
 * rank's scaled loss in one process. aux is created last, so it is bucket 0: on the
 * ranks that do not use it no bucket can start during backward, and finish starts them
 * all — in the same order as the ranks that started them early. */
VOLT_TEST(ddp_averages_parameters_a_rank_did_not_use) {
    make_data();
    volt_comm *world = world_comm();
    if (!world) return;
    int rank = volt_comm_rank(world), ranks = volt_comm_size(world);
    long local = GLOBAL_BATCH / ranks;
    mlp m, ref;
    volt_graph *graph = NULL, *ref_graph = NULL;
    volt_ddp *ddp = NULL;
    volt_graph_options graph_options = {.seed = 1};
    VOLT_EXPECT_OK(mlp_create(1, &m));
    VOLT_EXPECT_OK(mlp_create(1, &ref));
    VOLT_EXPECT_OK(volt_graph_create(&graph_options, &graph));
    VOLT_EXPECT_OK(volt_graph_create(&graph_options, &ref_graph));
    VOLT_EXPECT_OK(volt_ddp_create(world, m.params, 1 * KB, &ddp));
    if (!ddp || !graph || !ref_graph) goto done;
    volt_ddp_attach(ddp, graph);
    size_t flat = volt_params_flat_size(m.params);
    for (int step = 0; step < 2; step++) {
        volt_params_zero_grad(m.params);
        volt_tensor *loss = mlp_loss(&m, graph, step, rank * local, local, rank % 2 == 1, 1.0);
        VOLT_EXPECT(loss != NULL);
        if (!loss) break;
        VOLT_EXPECT_OK(volt_backward(loss));
        VOLT_EXPECT_OK(volt_ddp_finish(ddp));
        volt_graph_reset(graph);
        if (rank % 2 == 0) VOLT_EXPECT_EQ_INT(volt_ddp_buckets_started_early(ddp), 0);

        volt_params_zero_grad(ref.params);
        for (int r = 0; r < ranks; r++) {
            volt_tensor *ref_loss =
                mlp_loss(&ref, ref_graph, step, r * local, local, r % 2 == 1, 1.0 / ranks);
            VOLT_EXPECT(ref_loss != NULL);
            if (ref_loss) VOLT_EXPECT_OK(volt_backward(ref_loss));
            volt_graph_reset(ref_graph);
        }
        const float *grad = volt_params_grad(m.params), *ref_grad = volt_params_grad(ref.params);
        double diff = vector_rel_diff(grad, ref_grad, flat);
        if (!(diff <= 1e-6))
            volt_test_fail(__FILE__, __LINE__, "step %d: gradients differ from the reference "
                           "by %.3g (relative)", step, diff);
        volt_param *aux_weight = volt_params_find(m.params, "aux.weight");
        const float *aux_grad = grad + aux_weight->offset;
        const float *aux_ref = ref_grad + aux_weight->offset;
        double aux_diff = vector_rel_diff(aux_grad, aux_ref, aux_weight->numel);
        if (!(aux_diff <= 1e-6))
            volt_test_fail(__FILE__, __LINE__, "step %d: aux.weight's gradient differs from "
                           "the average by %.3g", step, aux_diff);
        /* used somewhere exactly when there is an odd rank */
        if (ranks > 1) VOLT_EXPECT(max_abs(aux_grad, aux_weight->numel) > 1e-4);
        else VOLT_EXPECT(max_abs(aux_grad, aux_weight->numel) == 0);
        VOLT_EXPECT(max_abs(grad + m.idle->offset, m.idle->numel) == 0);
        if (rank == 0 && step == 0)
            printf("  unused parameters at %d ranks: gradients within %.2g of the reference, "
                   "|aux grad| max %.3g\n", ranks, diff, max_abs(aux_grad, aux_weight->numel));
    }
done:
    volt_ddp_destroy(ddp);
    volt_graph_destroy(graph);
    volt_graph_destroy(ref_graph);
    volt_params_destroy(m.params);
    volt_params_destroy(ref.params);
    volt_comm_destroy(world);
}

/* Gradient accumulation: two micro-batches of 16 global samples per step, sync off for
 * the first. Only the second communicates (one all-reduce per bucket, none before),
 * and the result is the single-process run on the whole batch of 32. */
VOLT_TEST(ddp_accumulation_communicates_once_and_matches_one_big_batch) {
    make_data();
    volt_comm *world = world_comm();
    if (!world) return;
    enum { ACCUMULATE_STEPS = 20 };
    run_result single, ddp;
    run_options single_options = {.kind = RUN_SINGLE, .steps = ACCUMULATE_STEPS};
    run_options ddp_options = {.kind = RUN_DDP, .bucket_bytes = 1 * KB, .micro_batches = 2,
                               .steps = ACCUMULATE_STEPS};
    if (run(world, &single_options, &single) && run(world, &ddp_options, &ddp)) {
        expect_same_training("DDP accumulating 2 micro-batches vs one batch", &ddp, &single,
                             ACCUMULATE_STEPS, 1e-5);
        VOLT_EXPECT_EQ_INT(ddp.allreduces_unsynced, 0);
        VOLT_EXPECT_EQ_INT(ddp.allreduces_synced, ddp.bucket_count);
        VOLT_EXPECT_EQ_INT(ddp.allreduces_synced_min, ddp.bucket_count);
        free(ddp.params);
    }
    free(single.params);
    volt_comm_destroy(world);
}

/* Two synchronised backward passes without volt_ddp_finish between them would start a
 * bucket before its gradients are complete: finish reports it, on every rank. */
VOLT_TEST(ddp_rejects_two_synchronised_backwards_without_finish) {
    make_data();
    volt_comm *world = world_comm();
    if (!world) return;
    mlp m;
    volt_graph *graph = NULL;
    volt_ddp *ddp = NULL;
    volt_graph_options graph_options = {.seed = 1};
    VOLT_EXPECT_OK(mlp_create(0, &m));
    VOLT_EXPECT_OK(volt_graph_create(&graph_options, &graph));
    VOLT_EXPECT_OK(volt_ddp_create(world, m.params, 1 * KB, &ddp));
    if (ddp && graph) {
        volt_ddp_attach(ddp, graph);
        for (int pass = 0; pass < 2; pass++) {
            volt_tensor *loss = mlp_loss(&m, graph, pass, 0, 8, 0, 1.0);
            VOLT_EXPECT(loss != NULL);
            if (loss) VOLT_EXPECT_OK(volt_backward(loss));
            volt_graph_reset(graph);
        }
        int status = volt_ddp_finish(ddp);
        VOLT_EXPECT_EQ_INT(status, VOLT_ERR_ARG);
        VOLT_EXPECT_STR_CONTAINS(volt_error_message(), "final twice");
        volt_error_clear();
        /* and the next step works again */
        volt_tensor *loss = mlp_loss(&m, graph, 0, 0, 8, 0, 1.0);
        VOLT_EXPECT(loss != NULL);
        if (loss) VOLT_EXPECT_OK(volt_backward(loss));
        VOLT_EXPECT_OK(volt_ddp_finish(ddp));
        volt_graph_reset(graph);
    }
    volt_ddp_destroy(ddp);
    volt_graph_destroy(graph);
    volt_params_destroy(m.params);
    volt_comm_destroy(world);
}

/* --- ZeRO-1 ----------------------------------------------------------------------------- */

/* ZeRO-1 computes what DDP computes (the same averaged gradient, the same global norm,
 * the same AdamW update, only each rank updates its shard), so it must follow DDP to
 * f32 rounding; its optimizer state is the shard's: padded / P elements x 2 moments. */
static void zero_matches_ddp(double clip) {
    make_data();
    volt_comm *world = world_comm();
    if (!world) return;
    int rank = volt_comm_rank(world), ranks = volt_comm_size(world);
    run_result ddp, zero;
    run_options ddp_options = {.kind = RUN_DDP, .bucket_bytes = VOLT_DDP_DEFAULT_BUCKET_BYTES,
                               .clip = clip, .steps = STEPS};
    run_options zero_options = {.kind = RUN_ZERO, .clip = clip, .steps = STEPS};
    if (run(world, &ddp_options, &ddp) && run(world, &zero_options, &zero)) {
        expect_same_training(clip > 0 ? "ZeRO-1 vs DDP, clipping" : "ZeRO-1 vs DDP", &zero, &ddp,
                             STEPS, 1e-6);
        size_t quantum = (size_t)ranks * VOLT_PARAM_ALIGN;
        VOLT_EXPECT(zero.padded_size % quantum == 0);
        VOLT_EXPECT(zero.padded_size >= zero.flat_size && zero.padded_size - zero.flat_size < quantum);
        VOLT_EXPECT_EQ_INT(zero.shard_length, zero.padded_size / ranks);
        VOLT_EXPECT_EQ_INT(zero.shard_offset, (size_t)rank * zero.shard_length);
        VOLT_EXPECT_EQ_INT(zero.state_bytes, zero.padded_size / ranks * 2 * 4);
        if (clip > 0) {
            int clipped = 0, worst_step = 0;
            for (int s = 0; s < STEPS; s++) clipped += ddp.grad_norm[s] > clip;
            double norm_diff = loss_rel_diff(zero.grad_norm, ddp.grad_norm, STEPS, &worst_step);
            if (!(norm_diff <= 1e-6))
                volt_test_fail(__FILE__, __LINE__, "gradient norms differ by %.3g at step %d: "
                               "%.9g vs %.9g", norm_diff, worst_step, zero.grad_norm[worst_step],
                               ddp.grad_norm[worst_step]);
            /* the clipping must have happened for the comparison to cover it */
            VOLT_EXPECT(clipped > 0 && clipped < STEPS);
            if (rank == 0)
                printf("  clipped %d of %d steps at %g; norms within %.2g\n", clipped, STEPS,
                       clip, norm_diff);
        }
        if (rank == 0)
            printf("  ZeRO-1 at %d ranks: %zu elements padded to %zu, optimizer state %zu bytes "
                   "per rank (DDP: %zu)\n",
                   ranks, zero.flat_size, zero.padded_size, zero.state_bytes, ddp.state_bytes);
        free(ddp.params);
        free(zero.params);
    }
    volt_comm_destroy(world);
}

VOLT_TEST(zero1_reproduces_ddp) { zero_matches_ddp(0.0); }
VOLT_TEST(zero1_reproduces_ddp_with_clipping) { zero_matches_ddp(0.5); }

/* A non-finite gradient on one rank makes the global norm non-finite on every rank:
 * all ranks report VOLT_ERR_NUMERIC and keep their parameters. */
VOLT_TEST(zero1_non_finite_norm_fails_on_every_rank) {
    make_data();
    volt_comm *world = world_comm();
    if (!world) return;
    int rank = volt_comm_rank(world), ranks = volt_comm_size(world);
    mlp m;
    volt_graph *graph = NULL;
    volt_zero *zero = NULL;
    float *before = NULL;
    volt_graph_options graph_options = {.seed = 1};
    volt_optimizer_options adamw = volt_optimizer_defaults(VOLT_OPTIM_ADAMW);
    VOLT_EXPECT_OK(mlp_create(0, &m));
    VOLT_EXPECT_OK(volt_graph_create(&graph_options, &graph));
    VOLT_EXPECT_OK(volt_zero_create(world, m.params, &adamw, &zero));
    if (zero && graph) {
        size_t flat = volt_params_flat_size(m.params);
        before = malloc(flat * sizeof *before);
        memcpy(before, volt_params_data(m.params), flat * sizeof *before);
        volt_params_zero_grad(m.params);
        volt_tensor *loss = mlp_loss(&m, graph, 0, 0, 8, 0, 1.0);
        VOLT_EXPECT(loss != NULL);
        if (loss) VOLT_EXPECT_OK(volt_backward(loss));
        volt_graph_reset(graph);
        if (rank == ranks - 1) ((float *)volt_params_grad(m.params))[0] = NAN;
        double norm = 0;
        VOLT_EXPECT_FAIL(volt_zero_step(zero, LR, 1.0, &norm), VOLT_ERR_NUMERIC);
        VOLT_EXPECT(isnan(norm));
        VOLT_EXPECT(memcmp(before, volt_params_data(m.params), flat * sizeof *before) == 0);
        VOLT_EXPECT_EQ_INT(volt_optimizer_steps(volt_zero_optimizer(zero)), 0);
    }
    free(before);
    volt_zero_destroy(zero);
    volt_graph_destroy(graph);
    volt_params_destroy(m.params);
    volt_comm_destroy(world);
}

/* --- process groups --------------------------------------------------------------------- */

/* Sum of the world ranks in this rank's group: tells which ranks it holds. */
static long group_rank_sum(volt_comm *group) {
    long long sum = world_rank();
    int status = volt_comm_allreduce(group, &sum, 1, VOLT_I64, VOLT_REDUCE_SUM, NULL);
    if (status != VOLT_OK) {
        volt_test_fail(__FILE__, __LINE__, "allreduce over a group: %s", volt_status_name(status));
        volt_error_clear();
    }
    return (long)sum;
}

/* dp=P: one data-parallel group of everybody, tensor-parallel groups of one. At 4 ranks
 * also dp=2,tp=2 (built directly; the parser refuses tp > 1 for now): rank r has tp
 * index r % 2 and dp index r / 2, so its tp group is {2k, 2k+1} and its dp group
 * {r % 2, r % 2 + 2}. A layout that does not cover the world fails on every rank. */
VOLT_TEST(groups_follow_the_layout) {
    volt_comm *world = world_comm();
    if (!world) return;
    int rank = world_rank(), ranks = world_size();
    volt_layout layout;
    VOLT_EXPECT_OK(volt_layout_parse("", ranks, &layout));
    volt_groups groups;
    VOLT_EXPECT_OK(volt_groups_create(world, &layout, &groups));
    if (groups.dp && groups.tp) {
        VOLT_EXPECT(groups.world == world);
        VOLT_EXPECT_EQ_INT(volt_comm_size(groups.dp), ranks);
        VOLT_EXPECT_EQ_INT(volt_comm_size(groups.tp), 1);
        VOLT_EXPECT_EQ_INT(groups.dp_rank, rank);
        VOLT_EXPECT_EQ_INT(groups.tp_rank, 0);
        VOLT_EXPECT_EQ_INT(volt_comm_rank(groups.dp), rank);
        VOLT_EXPECT_EQ_INT(group_rank_sum(groups.dp), (long)ranks * (ranks - 1) / 2);
        VOLT_EXPECT_EQ_INT(group_rank_sum(groups.tp), rank);
        volt_groups_destroy(&groups);
    }
    if (ranks == 4) {
        volt_layout two_by_two = {.dp = 2, .tp = 2};
        VOLT_EXPECT_OK(volt_groups_create(world, &two_by_two, &groups));
        if (groups.dp && groups.tp) {
            VOLT_EXPECT_EQ_INT(groups.tp_rank, rank % 2);
            VOLT_EXPECT_EQ_INT(groups.dp_rank, rank / 2);
            VOLT_EXPECT_EQ_INT(volt_comm_rank(groups.tp), rank % 2);
            VOLT_EXPECT_EQ_INT(volt_comm_rank(groups.dp), rank / 2);
            VOLT_EXPECT_EQ_INT(group_rank_sum(groups.tp), 4 * (rank / 2) + 1);
            VOLT_EXPECT_EQ_INT(group_rank_sum(groups.dp), 2 * (rank % 2) + 2);
            volt_groups_destroy(&groups);
        }
    }
    volt_layout too_many = {.dp = ranks + 1, .tp = 1};
    VOLT_EXPECT_FAIL(volt_groups_create(world, &too_many, &groups), VOLT_ERR_ARG);
    volt_comm_destroy(world);
}
