/* apps/volt_demo.c — volt-demo: a small classifier trained end to end with Volt's parts,
 * on any number of MPI ranks, until the trainer (volt-train) takes over this role.
 *
 * Data: three interleaved spiral arms in the plane (a task a linear model cannot solve),
 * generated from counter-based random numbers, so sample i is the same on every rank.
 * Model: 2 -> hidden -> hidden -> 3, tanh then ReLU, cross-entropy, AdamW with cosine
 * schedule and gradient clipping. Data parallelism in its plainest form: every step
 * takes the same global batch; rank r computes the gradient of its slice, one
 * MPI_Allreduce over the flat gradient buffer sums them, and every rank applies the
 * same update. Losses therefore agree, up to summation order, for any rank count.
 *
 *     mpirun -n 2 volt-demo [--demo.steps=400] [--demo.hidden=64] [--config demo.yaml] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "autograd/params.h"
#include "core/config.h"
#include "core/log.h"
#include "core/rng.h"
#include "nn/nn.h"
#include "optim/optim.h"
#include "runtime/runtime.h"

extern char **environ;

enum { CLASSES = 3 };

typedef struct demo_options {
    long steps, global_batch, hidden, samples, log_every;
    double lr, weight_decay, clip;
    long seed;
} demo_options;

typedef struct demo_model {
    volt_params *params;
    volt_linear_layer *fc1, *fc2, *fc3;
} demo_model;

static int declare_options(volt_config *c) {
    VOLT_CHECK(volt_config_declare(c, "demo.steps", VOLT_CONFIG_INT, "400", "optimizer steps"));
    VOLT_CHECK(volt_config_declare(c, "demo.global_batch", VOLT_CONFIG_INT, "128",
                                   "samples per step over all ranks"));
    VOLT_CHECK(volt_config_declare(c, "demo.hidden", VOLT_CONFIG_INT, "64", "hidden width"));
    VOLT_CHECK(volt_config_declare(c, "demo.samples", VOLT_CONFIG_INT, "3000", "data set size"));
    VOLT_CHECK(volt_config_declare(c, "demo.log_every", VOLT_CONFIG_INT, "50",
                                   "steps between loss lines"));
    VOLT_CHECK(volt_config_declare(c, "demo.lr", VOLT_CONFIG_FLOAT, "0.01", "peak learning rate"));
    VOLT_CHECK(volt_config_declare(c, "demo.weight_decay", VOLT_CONFIG_FLOAT, "0.0001",
                                   "AdamW decoupled weight decay"));
    VOLT_CHECK(volt_config_declare(c, "demo.clip", VOLT_CONFIG_FLOAT, "1.0",
                                   "gradient clipping by global norm"));
    VOLT_CHECK(volt_config_declare(c, "demo.seed", VOLT_CONFIG_INT, "1234", "random seed"));
    return VOLT_OK;
}

static int read_options(int *argc, char **argv, demo_options *o, int world) {
    volt_config *c;
    VOLT_CHECK(volt_config_create(&c));
    int status = declare_options(c);
    if (status == VOLT_OK) status = volt_config_parse_args(c, argc, argv);
    if (status == VOLT_OK) status = volt_config_load_env(c, environ);
    if (status == VOLT_OK) status = volt_config_resolve(c);
    if (status == VOLT_OK) {
        o->steps = volt_config_int(c, "demo.steps", 0);
        o->global_batch = volt_config_int(c, "demo.global_batch", 0);
        o->hidden = volt_config_int(c, "demo.hidden", 0);
        o->samples = volt_config_int(c, "demo.samples", 0);
        o->log_every = volt_config_int(c, "demo.log_every", 0);
        o->lr = volt_config_float(c, "demo.lr", 0);
        o->weight_decay = volt_config_float(c, "demo.weight_decay", 0);
        o->clip = volt_config_float(c, "demo.clip", 0);
        o->seed = volt_config_int(c, "demo.seed", 0);
    }
    volt_config_destroy(c);
    VOLT_CHECK(status);
    if (*argc > 1)
        return VOLT_ERROR(VOLT_ERR_CONFIG, "unexpected argument '%s' (options look like --demo.steps=100)",
                          argv[1]);
    if (o->steps <= 0 || o->hidden <= 0 || o->samples <= 0 || o->log_every <= 0)
        return VOLT_ERROR(VOLT_ERR_CONFIG, "demo.steps, demo.hidden, demo.samples and "
                                           "demo.log_every must be positive");
    if (o->global_batch <= 0 || o->global_batch % world != 0 || o->global_batch > o->samples)
        return VOLT_ERROR(VOLT_ERR_CONFIG,
                          "demo.global_batch=%ld must be positive, at most demo.samples=%ld, "
                          "and divisible by the %d ranks",
                          o->global_batch, o->samples, world);
    return VOLT_OK;
}

/* Sample i: arm k = i mod 3, radius t in (0, 1], angle 4t + 2 pi k / 3, plus noise. */
static void spiral_sample(uint64_t seed, long i, float point[2], int32_t *label) {
    float u[4];
    volt_rng_uniform_f32(seed, 99, (uint64_t)i * 4, u, 4, 0.0f, 1.0f);
    int arm = (int)(i % CLASSES);
    float t = 0.05f + 0.95f * u[0];
    float angle = 4.0f * t + 2.0943951f * (float)arm + 0.15f * (u[1] - 0.5f);
    point[0] = t * cosf(angle) + 0.02f * (u[2] - 0.5f);
    point[1] = t * sinf(angle) + 0.02f * (u[3] - 0.5f);
    *label = arm;
}

static int build_model(const demo_options *o, demo_model *m) {
    VOLT_CHECK(volt_params_create(VOLT_F32, (uint64_t)o->seed, &m->params));
    VOLT_CHECK_PTR(m->fc1 = volt_linear_new(m->params, "fc1", 2, o->hidden, 1));
    VOLT_CHECK_PTR(m->fc2 = volt_linear_new(m->params, "fc2", o->hidden, o->hidden, 1));
    VOLT_CHECK_PTR(m->fc3 = volt_linear_new(m->params, "fc3", o->hidden, CLASSES, 1));
    return VOLT_OK;
}

static volt_tensor *forward(const demo_model *m, volt_tensor *x) {
    return volt_linear(m->fc3, volt_relu(volt_linear(m->fc2, volt_tanh(volt_linear(m->fc1, x)))));
}

/* Fills x, y with global batch positions [first, first + count) of step `step`. */
static void fill_batch(const demo_options *o, long step, long first, long count,
                       volt_tensor *x, volt_tensor *y) {
    float *points = x->data;
    int32_t *labels = y->data;
    for (long j = 0; j < count; j++) {
        /* a fixed pseudo-random walk over the data set: sample index from the stream */
        long position = step * o->global_batch + first + j;
        long i = (long)(volt_rng_bits((uint64_t)o->seed, 7, (uint64_t)position) % (uint64_t)o->samples);
        spiral_sample((uint64_t)o->seed, i, &points[2 * j], &labels[j]);
    }
}

static int train(const demo_options *o, demo_model *m, int rank, int world) {
    volt_graph *graph;
    volt_graph_options graph_options = {.seed = (uint64_t)o->seed};
    VOLT_CHECK(volt_graph_create(&graph_options, &graph));
    volt_optimizer_options adamw = volt_optimizer_defaults(VOLT_OPTIM_ADAMW);
    adamw.lr = o->lr;
    adamw.weight_decay = o->weight_decay;
    volt_optimizer *optimizer;
    size_t flat = volt_params_flat_size(m->params);
    VOLT_CHECK(volt_optimizer_create(&adamw, VOLT_F32, 0, flat, &optimizer));
    volt_lr_schedule schedule = {.kind = VOLT_LR_COSINE, .base_lr = o->lr,
                                 .warmup_steps = o->steps / 20, .total_steps = o->steps,
                                 .min_lr = o->lr * 0.05};
    VOLT_CHECK(volt_lr_schedule_check(&schedule));

    long local_batch = o->global_batch / world;
    const long x_shape[] = {local_batch, 2}, y_shape[] = {local_batch};
    for (long step = 0; step < o->steps; step++) {
        volt_tensor *x = volt_graph_tensor(graph, VOLT_F32, 2, x_shape);
        volt_tensor *y = volt_graph_tensor(graph, VOLT_I32, 1, y_shape);
        VOLT_CHECK_PTR(x && y ? x : NULL);
        fill_batch(o, step, rank * local_batch, local_batch, x, y);
        volt_tensor *loss = volt_cross_entropy(forward(m, x), y);
        VOLT_CHECK_PTR(loss);
        volt_params_zero_grad(m->params);
        VOLT_CHECK(volt_backward(loss));
        /* mean over the global batch = sum over ranks of (local mean) / world */
        VOLT_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, volt_params_grad(m->params), (int)flat,
                                     MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
        volt_grad_scale(volt_params_grad(m->params), VOLT_F32, flat, 1.0 / world);
        double grad_norm = 0;
        VOLT_CHECK(volt_clip_grad_norm(volt_params_grad(m->params), VOLT_F32, flat, o->clip,
                                       &grad_norm));
        double lr = volt_lr_at(&schedule, step);
        VOLT_CHECK(volt_optimizer_step(optimizer, volt_params_data(m->params),
                                       volt_params_grad(m->params), lr));
        double global_loss = *(float *)loss->data / world;
        VOLT_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &global_loss, 1, MPI_DOUBLE, MPI_SUM,
                                     MPI_COMM_WORLD));
        if (!isfinite(global_loss))
            return VOLT_ERROR(VOLT_ERR_NUMERIC, "loss is %g at step %ld", global_loss, step);
        if (step % o->log_every == 0 || step == o->steps - 1)
            VOLT_INFO("step %5ld  loss %.6f  grad_norm %.4f  lr %.5f", step, global_loss,
                      grad_norm, lr);
        volt_graph_reset(graph);
    }

    /* accuracy over the whole data set, each rank scoring a contiguous part */
    volt_graph_set_grad_enabled(graph, 0);
    long first = o->samples * rank / world, last = o->samples * (rank + 1) / world;
    const long eval_x[] = {last - first, 2}, eval_y[] = {last - first};
    volt_tensor *x = volt_graph_tensor(graph, VOLT_F32, 2, eval_x);
    volt_tensor *y = volt_graph_tensor(graph, VOLT_I32, 1, eval_y);
    VOLT_CHECK_PTR(x && y ? x : NULL);
    for (long i = first; i < last; i++)
        spiral_sample((uint64_t)o->seed, i, &((float *)x->data)[2 * (i - first)],
                      &((int32_t *)y->data)[i - first]);
    volt_tensor *logits = forward(m, x);
    VOLT_CHECK_PTR(logits);
    long correct = 0;
    for (long i = 0; i < last - first; i++) {
        const float *row = (const float *)logits->data + i * CLASSES;
        int best = 0;
        for (int k = 1; k < CLASSES; k++)
            if (row[k] > row[best]) best = k;
        correct += best == ((int32_t *)y->data)[i];
    }
    VOLT_CHECK_MPI(MPI_Allreduce(MPI_IN_PLACE, &correct, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD));
    VOLT_INFO("accuracy %.4f on %ld samples (%d rank%s, global batch %ld, %zu parameters)",
              (double)correct / (double)o->samples, o->samples, world, world == 1 ? "" : "s",
              o->global_batch, volt_params_numel(m->params));
    volt_optimizer_destroy(optimizer);
    volt_graph_destroy(graph);
    return VOLT_OK;
}

int main(int argc, char **argv) {
    if (volt_init(&argc, &argv) != VOLT_OK) volt_abort_with_errors(1);
    int rank = 0, world = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    demo_options options = {0};
    /* options are parsed identically on every rank, so a bad one fails everywhere */
    int status = read_options(&argc, argv, &options, world);
    if (status != VOLT_OK) {
        if (rank == 0) volt_error_print(stderr);
        if (volt_finalize() != VOLT_OK) volt_abort_with_errors(2);
        return 2;
    }
    VOLT_INFO("volt-demo: spiral classification, %d rank%s, %ld steps", world,
              world == 1 ? "" : "s", options.steps);
    demo_model model = {0};
    status = build_model(&options, &model);
    if (status == VOLT_OK) status = train(&options, &model, rank, world);
    if (status != VOLT_OK) volt_abort_with_errors(status);
    volt_params_destroy(model.params);
    if (volt_finalize() != VOLT_OK) volt_abort_with_errors(1);
    return 0;
}
